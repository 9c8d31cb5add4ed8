"""Versioned datasets: content-addressed versions with schema, statistics and diffs."""
