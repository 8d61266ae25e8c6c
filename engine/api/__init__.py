"""The HTTP API (and, later, the web UI on the same server)."""
