"""The fault tests share the integration tests' PostgreSQL fixtures; their brokers are their own."""

from tests.integration.conftest import database_server, new_database

__all__ = ["database_server", "new_database"]
