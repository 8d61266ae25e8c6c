"""Projections: the projector that writes query views into PostgreSQL, their migrations, and the queries."""
