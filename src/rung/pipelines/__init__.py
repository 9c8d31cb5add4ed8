"""Pipelines: steps as plain functions, a content-hash cache, runs, metrics and lineage."""
