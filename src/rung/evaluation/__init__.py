"""Validation: evaluate models and applications on many datasets at once, against criteria."""
