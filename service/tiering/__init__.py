"""Cold storage: moving idle files to the cold tier, reading them back, archive restores."""
