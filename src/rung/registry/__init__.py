"""The model registry: named model versions, movable aliases and their audit trail."""
