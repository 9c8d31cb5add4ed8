"""The command line: a thin adapter over :class:`rung.workspace.Workspace`."""
