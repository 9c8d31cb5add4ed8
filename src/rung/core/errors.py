"""One small hierarchy of errors, each with a fix for the user.

Every error rung raises on purpose is a :class:`RungError`. Adapters translate it at their
boundary: the CLI prints ``error: <message>`` on one line and exits non-zero; the server (later)
maps ``status`` to an HTTP response with one canonical JSON body. The message names the bad
value; ``hint`` says what to do about it.
"""

from __future__ import annotations


class RungError(Exception):
    """Base of every error that rung reports to a user."""

    status = 400
    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}: {self.hint}" if self.hint else self.message

    def __reduce__(self) -> tuple[type[RungError], tuple[str, str | None]]:
        # keep the hint when the error crosses a process boundary (evaluation workers)
        return (type(self), (self.message, self.hint))


class WorkspaceNotFound(RungError):
    status = 404


class NotFound(RungError):
    """An unknown dataset, version, run, artifact or pipeline."""

    status = 404


class InvalidInput(RungError):
    """A malformed parameter, reference or value given by the user."""

    status = 422


class UnsupportedType(RungError):
    """A step returned a value that rung does not know how to store."""


class IntegrityError(RungError):
    """An artifact is missing or its bytes no longer match its hash."""

    status = 500


class StoreUnavailable(RungError):
    """The metadata store cannot be reached or opened."""

    status = 503


class StepFailed(RungError):
    """A pipeline step raised; the run records the error and its traceback."""


class SourceChanged(RungError):
    """A file changed while rung was reading it (``data add`` of a file still being written)."""

    status = 409


class Untrusted(RungError):
    """A stored object could run code when loaded, and its loading was not opted in to."""

    status = 403
