"""The API's routers, one per resource; each route names its access rule (engine/api/security.py)."""
