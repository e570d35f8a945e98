"""HTTP routes (filled in by the uploads issue)."""

ROUTES: list = []
