"""The web UI: pages served by the API's own server, drawn by a little JavaScript over the REST API."""
