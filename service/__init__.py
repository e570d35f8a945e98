"""mybox service: the HTTP API and the domain it serves."""
