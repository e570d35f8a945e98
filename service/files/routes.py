"""HTTP routes (filled in by the files issue)."""

ROUTES: list = []
