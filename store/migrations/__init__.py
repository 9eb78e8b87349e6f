"""Alembic environment and revisions; run them through store.migrate, no alembic.ini needed."""
