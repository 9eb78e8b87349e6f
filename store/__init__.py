"""Persistence: SQLAlchemy schema, the event log, repositories and Alembic migrations."""
