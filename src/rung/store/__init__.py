"""The two stores at the bottom: metadata (SQLAlchemy) and artifacts (content-addressed, fsspec)."""
