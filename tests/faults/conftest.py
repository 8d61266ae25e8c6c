"""The fault tests share the integration tests' broker and PostgreSQL fixtures; a test that stops one of them
starts its own."""

from tests.integration.conftest import bootstrap, database_server, new_database

__all__ = ["bootstrap", "database_server", "new_database"]
