"""Serving: payloads checked against a model version's signature (the service comes next)."""
