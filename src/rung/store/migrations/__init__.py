"""Alembic migrations of the metadata store, applied when a workspace opens."""
