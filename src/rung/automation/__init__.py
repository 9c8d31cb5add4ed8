"""Continuous training: triggers, the tick that runs, judges and promotes, and its guards."""
