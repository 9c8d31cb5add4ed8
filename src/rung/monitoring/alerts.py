"""Alerts: the breaches of one monitoring window, logged and optionally POSTed to a webhook.

The rules come from ``[monitor.alerts]`` in ``rung.toml``, with a model's own
``[monitor.models.NAME.alerts]`` over them key by key
(:meth:`rung.monitoring.monitor.Monitor.config_of`); each is off when absent, except
data drift (one drifted feature) and prediction drift, which are on by default::

    [monitor.alerts]
    drifted_features = 1     # alert when at least this many features drift (0: never)
    prediction_drift = true  # alert when the outputs' distribution drifts
    min_accuracy = 0.55      # classifier: live accuracy below this, on >= min_labelled labels
    max_log_loss = 0.7       # classifier: live log loss above this (probabilities logged)
    max_mae = 30             # regressor: live MAE above this (in the label's units)
    max_rmse = 40            # regressor: live RMSE above this
    min_r2 = 0.3             # regressor: live R² below this
    min_labelled = 30
    max_error_rate = 0.05    # server errors (5xx) / requests; client errors (4xx) never alert
    max_p99_ms = 500         # 99th percentile latency of answered requests

A webhook gets each alert as one JSON document. Delivery never loses the alert: it is stored
first, and the delivery's outcome ("delivered" or the error) is stored with it.

The webhook is an ``http://`` or ``https://`` URL with a host, checked when ``[monitor]`` is
read (:func:`check_webhook`, from :mod:`rung.core.webhooks`: the configuration's rule too); any other scheme (``file:``, ``ftp:``, ``data:``…) is refused.
A delivery is a single POST: redirects are never followed (a 3xx is a failed delivery naming
the status and its ``Location``), and only a 2xx answer is recorded as "delivered".
"""

from __future__ import annotations

import math
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from rung.core.errors import InvalidInput
from rung.core.hashing import canonical_json
from rung.core.webhooks import WEBHOOK_SCHEMES, check_webhook
from rung.monitoring.performance import CLASSIFICATION, METRICS

__all__ = ["WEBHOOK_SCHEMES", "breaches", "check_webhook", "deliver", "misfits", "rules_of"]

RULES = {
    "drifted_features": (int, 1),
    "prediction_drift": (bool, True),
    "min_accuracy": (float, None),
    "max_log_loss": (float, None),
    "max_mae": (float, None),
    "max_rmse": (float, None),
    "min_r2": (float, None),
    "min_labelled": (int, 30),
    "max_error_rate": (float, None),
    "max_p99_ms": (float, None),
}


def rules_of(config: dict[str, Any]) -> dict[str, Any]:
    """The alert rules of ``[monitor.alerts]``, defaults filled in; unknown keys refused."""
    given = dict(config.get("alerts", {}))
    unknown = sorted(set(given) - set(RULES))
    if unknown:
        raise InvalidInput(
            f"unknown key(s) {unknown} in [monitor.alerts] of rung.toml",
            f"use {sorted(RULES)}",
        )
    rules: dict[str, Any] = {}
    for key, (kind, default) in RULES.items():
        value = given.get(key, default)
        if value is not None and (
            isinstance(value, bool) != (kind is bool) or not isinstance(value, int | float)
        ):
            raise InvalidInput(
                f"[monitor.alerts] {key} = {value!r} is not a {kind.__name__}",
                f"write e.g. {key} = {default if default is not None else 0.5}",
            )
        rules[key] = value
    return rules


_RULE = {
    "accuracy": "min_accuracy",
    "log_loss": "max_log_loss",
    "mae": "max_mae",
    "rmse": "max_rmse",
    "r2": "min_r2",
}


def misfits(
    rules: dict[str, Any], task: str, model: str, name: str = "", own: set[str] | None = None
) -> list[str]:
    """One warning line per performance rule set for a metric the model's task does not
    have (``min_accuracy`` for a regressor, ``max_mae`` for a classifier): the rule is left
    out rather than stopping the check. ``own``: the rules set in the model's own table
    ``[monitor.models.NAME.alerts]`` (``name``); a rule of ``[monitor.alerts]`` that does not
    fit is said to belong in another model's table."""
    out = []
    own = own or set()
    for metric, (fits, _, _) in METRICS.items():
        key = _RULE[metric]
        if rules.get(key) is not None and fits != task:
            kind = "classifier" if task == CLASSIFICATION else "regressor"
            use = ", ".join(_RULE[m] for m, (t, _, _) in METRICS.items() if t == task)
            where = f"[monitor.models.{name}.alerts]" if key in own else "[monitor.alerts]"
            fix = (
                "; set it per model, in [monitor.models.NAME.alerts] of the models it fits"
                if key not in own
                else ""
            )
            out.append(
                f"{where} {key} does not apply to {model}, a {kind}: it has no"
                f" live {METRICS[metric][2]} (its rules: {use}){fix}"
            )
    return out


def breaches(report: dict[str, Any], rules: dict[str, Any]) -> list[dict[str, Any]]:
    """The alerts one window raises: ``{kind, message, details}`` each."""
    model, out = report["model"], []
    drifted = report["drifted"]
    if rules["drifted_features"] and len(drifted) >= rules["drifted_features"]:
        shown = {n: report["features"][n]["verdict"] for n in drifted}
        values = ", ".join(f"{n} ({v['statistic']} {v['value']:.3g})" for n, v in shown.items())
        out.append(
            {
                "kind": "data_drift",
                "message": f"{model}: {len(drifted)} of {len(report['features'])} features"
                f" drifted: {values}",
                "details": shown,
            }
        )
    prediction = report.get("prediction")
    if rules["prediction_drift"] and prediction and prediction["verdict"]["drift"]:
        v = prediction["verdict"]
        out.append(
            {
                "kind": "prediction_drift",
                "message": f"{model}: the predictions drifted ({v['statistic']} {v['value']:.3g}"
                f" {'<' if v['statistic'].endswith('pvalue') else '>='} {v['threshold']})",
                "details": v,
            }
        )
    perf = report["performance"]
    for metric, (fits, worse, said) in METRICS.items():
        bound = rules[_RULE[metric]]
        value = perf.get(metric) if perf.get("task", fits) == fits else None
        if bound is None or value is None or perf["labelled"] < rules["min_labelled"]:
            continue
        if not math.isfinite(value):  # NaN compares false with every bound: said, not skipped
            why = next((n for n in perf.get("not_finite", []) if n.startswith(said)), "")
            out.append(
                {
                    "kind": "performance",
                    "message": f"{model}: live {said} is not finite ({value}), so"
                    f" {_RULE[metric]} = {bound:g} cannot hold, on {perf['labelled']} labelled"
                    f" rows" + (f" — {why}" if why else ""),
                    "details": perf,
                }
            )
        elif (value < bound) if worse == "below" else (value > bound):
            text = f"{value:.3f}" if metric in ("accuracy", "r2") else f"{value:.4g}"
            out.append(
                {
                    "kind": "performance",
                    "message": f"{model}: live {said} {text} {'<' if worse == 'below' else '>'}"
                    f" {bound:g} on {perf['labelled']} labelled rows",
                    "details": perf,
                }
            )
    health = report["health"]
    bound = rules["max_error_rate"]
    if bound is not None and health["error_rate"] is not None and health["error_rate"] > bound:
        out.append(
            {
                "kind": "errors",
                "message": f"{model}: {health['errors']} of {health['requests']} requests failed on"
                f" the server (5xx, {health['error_rate']:.1%} > {bound:.1%})",
                "details": health,
            }
        )
    bound = rules["max_p99_ms"]
    p99 = health["latency_ms"]["p99"]
    if bound is not None and p99 is not None and p99 > bound:
        out.append(
            {
                "kind": "latency",
                "message": f"{model}: p99 latency {p99:.0f} ms > {bound:.0f} ms",
                "details": health,
            }
        )
    return out


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse every redirect: the 3xx reaches the caller as an HTTPError."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _opener() -> urllib.request.OpenerDirector:
    """http(s) only (no file:, ftp: or data: handlers), proxies from the environment, and
    no redirects followed."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        _NoRedirect(),
    ):
        opener.add_handler(handler)
    return opener


def deliver(url: str, alert: dict[str, Any], timeout: float) -> str | None:
    """POST one alert as JSON; None when the webhook answered 2xx, else a one-line error.

    Never follows a redirect and never opens anything but http(s) (see the module's rules),
    and never raises: the alert is stored before it is sent, so every failure is returned
    and recorded as its delivery. What the peer sent (a reason phrase, bytes that are not
    HTTP) is shown with control characters escaped (:func:`rung.core.text.printable`)."""
    from rung.core.text import printable

    error = _deliver(url, alert, timeout)
    return None if error is None else printable(error)


def _deliver(url: str, alert: dict[str, Any], timeout: float) -> str | None:
    try:
        check_webhook(url)
    except InvalidInput:
        return f"the webhook {url!r} is not an http(s) URL; nothing was sent"
    body = canonical_json(alert).encode()  # strict JSON: an infinite statistic as a string
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with _opener().open(request, timeout=timeout) as answer:
            answer.read()
            status = int(answer.status)
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            where = exc.headers.get("Location") if exc.headers else None
            return (
                f"the webhook {url} answered {exc.code} {exc.reason} redirecting to"
                f" {where or '(no Location)'}; redirects are not followed"
            )
        return f"the webhook {url} answered {exc.code} {exc.reason}"
    except TimeoutError:
        return f"the webhook {url} timed out after {timeout:g} s"
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return f"the webhook {url} timed out after {timeout:g} s"
        if isinstance(reason, ConnectionRefusedError):
            return f"the webhook {url} refused the connection"
        return f"the webhook {url} could not be reached ({reason})"
    except (ValueError, OSError) as exc:
        return f"the webhook {url} could not be reached ({exc})"
    except Exception as exc:
        # e.g. http.client.BadStatusLine from a peer that does not speak HTTP, or an
        # OverflowError from a timeout the platform's timer cannot hold
        return f"the webhook {url} could not be reached ({type(exc).__name__}: {exc})"
    if not 200 <= status < 300:
        return f"the webhook {url} answered {status}, not 2xx"
    return None
