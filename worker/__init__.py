"""mybox background worker (arq)."""
