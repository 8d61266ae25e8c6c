"""Who may do what: principals, Azkaban's permission model, credentials, and the access log's records.

Nothing here knows FastAPI: the API's dependency (engine/api/security.py) asks these modules."""
