"""``rung.Client``: what an application uses to call the service, without importing the model."""

from __future__ import annotations

from typing import Any

from rung.core.columns import check_unique_names
from rung.core.errors import InvalidInput, RungError


def encode(body: Any) -> bytes:
    """``body`` as JSON, with the values an application holds in pandas and numpy as the
    service reads them: ``NaN``, ``None``, ``pd.NA`` and ``NaT`` as ``null``; numpy scalars as
    numbers (or booleans); arrays as lists; datetimes (``Timestamp``, ``datetime64``) as ISO
    8601 text. Raises :class:`~rung.core.errors.InvalidInput` naming a value of another
    type."""
    import orjson

    try:  # not orjson's own numpy support: it writes a NaT as 1970-01-01
        return orjson.dumps(body, default=_plain, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError as exc:
        if isinstance(exc.__cause__, RungError):
            raise exc.__cause__ from None
        raise


def _plain(value: Any) -> Any:
    import datetime as dt

    import numpy as np

    if isinstance(value, np.generic):
        if isinstance(value, np.datetime64):
            return None if np.isnat(value) else str(np.datetime_as_string(value))
        item = value.item()
        return None if isinstance(item, float) and item != item else item
    if isinstance(value, dt.datetime | dt.date):  # pandas' Timestamp among them
        return None if value != value else value.isoformat()
    if isinstance(value, np.ndarray) and value.dtype.kind == "M":  # datetime64
        return [None if np.isnat(v) else str(np.datetime_as_string(v)) for v in value]
    if hasattr(value, "tolist"):  # an array, a Series (each value through orjson again)
        return value.astype(object).tolist() if hasattr(value, "astype") else value.tolist()
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:
        pass
    from rung.core.errors import InvalidInput

    raise InvalidInput(
        f"cannot send a {type(value).__name__} value as JSON: {str(value)[:60]!r}",
        "send numbers, text, booleans, datetimes or None",
    )


class ServiceError(RungError):
    """The service answered with an error; ``status`` and ``body`` say which."""

    def __init__(
        self, message: str, hint: str | None = None, status: int = 500, body: Any = None
    ) -> None:
        super().__init__(message, hint)
        self.status = status
        self.body = body


class Client:
    """A small httpx client for a ``rung serve`` service.

    ``token`` (default: the environment's ``RUNG_TOKEN``) is sent as
    ``Authorization: Bearer <token>`` on every call; a service with tokens answers 401
    without one and 403 for a token lacking the route's scope (:class:`ServiceError`)."""

    def __init__(
        self, url: str, timeout: float = 10.0, token: str | None = None, model: str | None = None
    ) -> None:
        import os
        from urllib.parse import urlsplit

        import httpx

        self.url = url.rstrip("/")
        path = urlsplit(self.url).path
        if path.endswith("/predict") or "/predict/" in path or path.startswith("/v2"):
            raise InvalidInput(
                f"{url!r} is a route of the service, not the service",
                "give the service's address, e.g. Client('http://127.0.0.1:8000'), and the"
                " model of a service serving several with model='NAME'",
            )
        self.model = model  # the served model to ask (/predict/NAME); None: the only one
        token = token if token is not None else os.environ.get("RUNG_TOKEN") or None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=headers)

    def predict(self, rows: Any, model: str | None = None) -> dict[str, Any]:
        """One record (dict), several (list of dicts) or a DataFrame; returns the answer.

        ``model`` (default: the client's ``model``) names the served model when the service
        serves several (``POST /predict/{model}``); without it, ``POST /predict``, which a
        service of several models answers 409."""
        from urllib.parse import quote

        if hasattr(rows, "to_dict"):
            check_unique_names(getattr(rows, "columns", ()), "the DataFrame to predict")
            body: Any = {"records": rows.to_dict("records")}
        elif isinstance(rows, list):
            body = {"records": rows}
        else:
            body = rows
        name = model if model is not None else self.model
        if name is not None:
            return self._post(f"/predict/{quote(name, safe='')}", body)
        return self._post("/predict", body)

    def feedback(
        self,
        request_id: str | None = None,
        label: Any = None,
        labels: list[Any] | None = None,
        row: int | None = None,
        correlation_id: str | None = None,
    ) -> dict[str, Any]:
        """The label of a one-row request, of row ``row`` of any request, or ``labels``: one
        per row of the request (or of its rows from ``row`` on); for batch predictions, the
        ``request_id`` and ``request_row`` of `rung predict`'s output. ``correlation_id`` in
        place of ``request_id``: the request named by your own id of it (its ``X-Request-ID``
        header, or a v2 request's ``id``). Returns ``{"accepted": n, "replaced": m}`` (``m``
        labels replaced an earlier, different one); a label that is not a class of the model
        (or a number, for a regressor) raises :class:`ServiceError` (422) naming it; a
        correlation id of several requests, :class:`ServiceError` (409)."""
        ids: dict[str, Any] = {"request_id": request_id, "correlation_id": correlation_id}
        key = {k: v for k, v in ids.items() if v is not None} or {"request_id": None}
        body = {
            **key,
            **({"labels": labels} if labels is not None else {"label": label}),
            **({"row": row} if row is not None else {}),
        }
        return self._post("/feedback", body)

    def feedback_many(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Labels for many requests in one call: ``[{"request_id", "label" or "labels"}]``
        (and ``"row"``; ``"correlation_id"`` in place of ``"request_id"``), stored all or
        none."""
        return self._post("/feedback", {"feedback": items})

    def ready(self) -> bool:
        try:
            return self._http.get("/v2/health/ready").status_code == 200
        except Exception:
            return False

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, path: str, body: Any) -> dict[str, Any]:
        import httpx

        try:
            r = self._http.post(
                path, content=encode(body), headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise ServiceError(
                f"cannot reach the service at {self.url} ({exc})", "is `rung serve` running?"
            ) from exc
        if r.status_code >= 400:
            try:
                err = r.json()["error"]
                raise ServiceError(err["message"], err.get("hint"), r.status_code, r.json())
            except (ValueError, KeyError, TypeError):
                raise ServiceError(
                    f"the service answered {r.status_code}: {r.text[:200]}", None, r.status_code
                ) from None
        result: dict[str, Any] = r.json()
        return result
