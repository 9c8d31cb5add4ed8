"""One small hierarchy of errors, each with a fix for the user.

Every error rung raises on purpose is a :class:`RungError`. Adapters translate it at their
boundary: the CLI prints ``error: <message>`` on one line and exits non-zero; the server (later)
maps ``status`` to an HTTP response with one canonical JSON body. The message names the bad
value; ``hint`` says what to do about it.
"""

from __future__ import annotations


def one_line(text: str) -> str:
    """``text`` on one line: each line break, with the spaces around it, becomes one space.
    Every :class:`RungError` message and hint passes here, so an error that embeds another
    library's multi-line text (pandas' "You might want to try: …" advice) is still the one
    line the CLI prints and the API returns."""
    if "\n" not in text and "\r" not in text:
        return text
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


class RungError(Exception):
    """Base of every error that rung reports to a user."""

    status = 400
    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        message = one_line(message)
        super().__init__(message)
        self.message = message
        self.hint = None if hint is None else one_line(hint)

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


class ModelFailed(RungError):
    """The model itself raised on input that passed its signature check (a value it cannot
    take, a bug in a custom step). 500 in the service: the input was valid by the model's own
    contract, the fault is the model's; the body names the model's error."""

    status = 500


def model_raised(exc: BaseException, where: str) -> ModelFailed:
    """The one message for a model that raised: ``the model raised <Type>: <message> <where>``
    (``where`` names the rows, e.g. ``"on dataset d, rows 0 to 299"``), on one line."""
    detail = " ".join(str(exc).split())
    return ModelFailed(
        f"the model raised {type(exc).__name__}: {detail} {where}",
        "check those rows for values the model cannot take",
    )


class StoreUnavailable(RungError):
    """The metadata store cannot be reached or opened."""

    status = 503
    retry_after = 30


class LeaseLost(RungError):
    """Another process holds the lease now (its fencing token is newer than this one's), or
    this process could not renew it: the work it guarded stops and records nothing more."""

    status = 409


class StepFailed(RungError):
    """A pipeline step raised; the run records the error and its traceback."""


class SourceChanged(RungError):
    """A file changed while rung was reading it (``data add`` of a file still being written)."""

    status = 409


class Untrusted(RungError):
    """A stored object could run code when loaded, and its loading was not opted in to."""

    status = 403


class DiskFull(RungError):
    """No space left (ENOSPC, EDQUOT, "database or disk is full"): the service answers 503
    with ``Retry-After``, since freeing space fixes it without a change to the request."""

    status = 503
    retry_after = 60


class MissingExtra(RungError):
    """An optional dependency is not installed; the hint names the extra that brings it."""


# The top-level module of each optional dependency, and the extra of pyproject.toml holding it.
EXTRAS = {
    "matplotlib": "reports",
    "fastapi": "serve",
    "uvicorn": "serve",
    "httpx": "serve",
    "orjson": "serve",
    "prometheus_client": "serve",
    "starlette": "serve",
    "sklearn": "sklearn",
    "skops": "sklearn",
    "psycopg": "postgres",
    "psycopg_binary": "postgres",
}


def missing_extra(exc: BaseException, purpose: str | None = None) -> MissingExtra | None:
    """The one-line error for an ImportError of an optional dependency (None: not one).

    ``purpose`` says what needed it ("HTML reports draw their charts"); without it the message
    names the module alone."""
    name = getattr(exc, "name", None)
    top = name.split(".")[0] if isinstance(name, str) else None
    if not isinstance(exc, ImportError) or top not in EXTRAS:
        return None
    extra = EXTRAS[top]
    what = f"{purpose} with {top}" if purpose else f"this needs {top}"
    return MissingExtra(f"{what}, which is not installed", f"pip install 'rung[{extra}]'")


def require(module: str, purpose: str | None = None) -> None:
    """Import ``module`` (an optional dependency) or raise :class:`MissingExtra` naming its
    extra."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as exc:
        error = missing_extra(exc, purpose)
        if error is None:
            raise
        raise error from exc
