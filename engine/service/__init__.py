"""What the API does, without HTTP: each module takes the views, a way to write records and the caller's
principal, and answers with plain data or a ServiceError. The routers in engine/api only translate."""
