"""``rung monitor``: drift, live performance and health of served models."""

import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from rung.cli import render
from rung.cli.app import JsonOpt, RungGroup, _num, _ws, app
from rung.core.limits import MAX_ID


class _DefaultCheck(RungGroup):
    """``rung monitor NAME@ALIAS`` runs ``check``; ``rung monitor show NAME`` the series."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            from rung.core.suggest import closest

            if "@" not in args[0] and closest(args[0], self.commands):  # `monitor shwo trend`
                self.resolve_command(ctx, args)  # raises "No such command … Did you mean"
            args = ["check", *args]
        return super().parse_args(ctx, args)


monitor_app = typer.Typer(
    cls=_DefaultCheck,
    help="Monitoring: `rung monitor NAME@ALIAS` checks a window; `show`, `alerts`, `report`"
    " read back.",
    short_help="Drift, live performance and health of served models.",
    no_args_is_help=True,
)
app.add_typer(monitor_app, name="monitor")


@monitor_app.command("check", short_help="Check the latest window of a served model.")
def monitor_check(
    ref: Annotated[str, typer.Argument(metavar="NAME@ALIAS", help="Model alias or version.")],
    window: Annotated[
        str | None,
        typer.Option("--window", help="Latest N predicted rows (1000) or a period (1d)."),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option("--reference", help="A dataset version instead of the training data."),
    ] = None,
    save: Annotated[
        bool, typer.Option("--save/--no-save", help="Store the window and its alerts.")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Drift of inputs and predictions, live performance and health of the latest window;
    stored, and its alerts logged and sent to the webhook. Exit 0 on drift, 1 on errors."""
    from rung.config import read_key

    if reference and reference.strip():  # read as [monitor] reference is (window: window_spec)
        read_key("monitor.reference", reference, "--reference")
    with _ws() as ws:
        report = ws.monitor.check(ref, window, reference=reference, save=save)
    assert report is not None
    if as_json:
        render.print_json(report)
    else:
        _print_window(report)
    failed = [a for a in report["alerts"] if a.get("delivery") not in (None, "delivered")]
    for alert in failed:
        render.line(
            f"error: alert {alert['id']} is logged but not delivered: {alert['delivery']}"
            " (check webhook in [monitor] of rung.toml)",
            sys.stderr,
        )
    if failed:
        raise typer.Exit(1)


def _drift_row(name: str, f: dict[str, Any]) -> list[Any]:
    """One row of the drift table: a feature, or the predictions."""
    v, st = f["verdict"], f["stats"]
    pvalue = v.get("pvalue", st.get("ks_pvalue", st.get("chi2_pvalue")))  # the gating test's
    rates = f.get("nulls_rate") or {}
    return [
        name,
        f["kind"] + (f" ({f['timezone']})" if f.get("timezone") else ""),
        f["rows"],
        f"{_pct(rates.get('reference'))} → {_pct(rates.get('current'))}" if rates else "-",
        v["statistic"],
        _num(v["value"]),
        _num(v["threshold"]),
        _verdict(v["drift"]),
        _num(pvalue),
    ]


def _print_window(report: dict[str, Any]) -> None:
    rows = [_drift_row(name, f) for name, f in report["features"].items()]
    if report.get("prediction"):
        rows.append(_drift_row("(predictions)", report["prediction"]))
    render.table(
        f"{report['model']}, window {report['window']} ({report['rows']} rows) against the"
        f" {report['reference']}",
        [
            "feature",
            "kind",
            "rows",
            "nulls",
            "statistic",
            "value",
            "threshold",
            "verdict",
            "p-value",
        ],
        rows,
    )
    for note in report.get("notes", []):
        render.line(f"note: {note}")
    drifted = report["drifted"]
    render.line(
        f"{len(drifted)} of {len(report['features'])} features drifted"
        + (f": {', '.join(drifted)}" if drifted else "")
        + " (drift: effect size >= threshold and p-value < alpha, 0.0025 by default, at every"
        " window size)"
    )
    render.line(_performance_line(report["performance"]))
    h = report["health"]
    lat = h["latency_ms"]
    render.line(
        f"health: {h['requests']} requests, {h['errors']} server errors (5xx,"
        f" {_pct(h['error_rate'])}), {h.get('client_errors', 0)} client errors (4xx,"
        f" {_pct(h.get('client_error_rate'))}), latency p50 {_num(lat['p50'])} ms,"
        f" p95 {_num(lat['p95'])} ms, p99 {_num(lat['p99'])} ms"
    )
    skipped = report.get("skipped") or {}
    if skipped.get("records"):
        render.line(
            f"warning: {skipped['records']} malformed log record(s) left out (ids"
            f" {', '.join(map(str, skipped['ids']))}): {skipped['first']}"
        )
    for warning in report.get("warnings", []):
        render.line(f"warning: {warning}")
    for alert in report["alerts"]:
        render.line(f"ALERT {alert['kind']}: {alert['message']}")
    if "same_as" in report:
        render.line(
            f"the same rows as window {report['same_as']}: not stored again, its alerts were"
            " raised then"
        )
    if "id" in report:
        render.line(
            f"stored as window {report['id']} (rung monitor show {report['model'].partition('@')[0]})"
        )


def _live(perf: dict[str, Any]) -> str:
    """The live metrics of the window's task, e.g. ``accuracy 0.6, log loss 0.52`` or
    ``MAE 44.82, RMSE 52.1, R² 0.41``."""
    from rung.monitoring.performance import METRICS, metrics_of

    task = perf.get("task", "classification")
    shown = [f"{METRICS[m][2]} {perf[m]:.4g}" for m in metrics_of(task) if perf.get(m) is not None]
    return ", ".join(shown) or "-"


def _performance_line(perf: dict[str, Any]) -> str:
    others = perf.get("other_versions") or 0
    besides = f"; {others} rows answered by other versions are not counted" if others else ""
    if not perf["labelled"]:
        return (
            f"live performance: no labels back yet for the {perf['rows']} rows this version"
            f" answered (POST /feedback){besides}"
        )
    corrected = f", {perf['corrected']} corrected" if perf.get("corrected") else ""
    line = (
        f"live performance: {_live(perf)} on {perf['labelled']}"
        f" labelled rows of {perf['rows']}{corrected} ({perf['missing']} labels not back"
        f" yet){besides}"
    )
    classes = perf.get("per_class") or {}
    if 0 < len(classes) <= 10:
        line += "\n  per class: " + "; ".join(
            f"{name} precision {_num(c['precision'])} recall {_num(c['recall'])}"
            f" ({c['support']} labelled)"
            for name, c in classes.items()
        )
    for note in perf.get("not_finite") or []:  # a metric that is not a number: why, one line
        line += f"\n  {note}"
    if perf.get("not_numbers"):
        line += (
            f"\n  {perf['not_numbers']} labelled row(s) left out: prediction or label not a number"
        )
    return line


def _verdict(drift: bool | None) -> str:
    return "DRIFT" if drift else "-" if drift is None else "ok"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


@monitor_app.command("show", short_help="The stored windows as a time series.")
def monitor_show(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Registered model name.")],
    last: Annotated[int, typer.Option("--last", min=1, max=MAX_ID, help="How many windows.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The stored windows as a time series; live performance recomputed with the labels
    that came back since."""
    with _ws() as ws:
        windows = ws.monitor.windows(name, last)
    if as_json:
        render.print_json(windows)
        return
    render.table(
        f"monitoring of {name}: {len(windows)} windows",
        [
            "window",
            "when",
            "served",
            "rows",
            "drifted",
            "predictions",
            "live metrics",
            "labelled",
            "p99 ms",
            "errors",
            "alerts",
        ],
        [
            [
                w["id"],
                render.when(w["at"]),
                w["model"],
                w["rows"],
                f"{len(w['drifted'])}/{len(w['features'])}",
                _prediction_cell(w.get("prediction")),
                _live(w["performance"]),
                f"{w['performance']['labelled']}/{w['performance']['rows']}",
                _num(w["health"]["latency_ms"]["p99"]),
                _pct(w["health"]["error_rate"]),
                ", ".join(a["kind"] for a in w["alerts"]) or "-",
            ]
            for w in windows
        ],
        empty=f"no monitoring windows of {name} yet — check one with"
        f" `rung monitor {name}@ALIAS` once it has served requests",
    )


def _prediction_cell(prediction: dict[str, Any] | None) -> str:
    if not prediction:
        return "-"
    v = prediction["verdict"]
    return f"{_verdict(v['drift'])} {_num(v['value'])}"


@monitor_app.command("alerts", short_help="The alerts raised and their delivery.")
def monitor_alerts(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Registered model name.")],
    last: Annotated[int, typer.Option("--last", min=1, max=MAX_ID, help="How many alerts.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The alerts raised, newest first, and whether the webhook took them."""
    with _ws() as ws:
        alerts = ws.monitor.alerts(name, last)
    if as_json:
        render.print_json(alerts)
        return
    render.table(
        f"alerts of {name}",
        ["alert", "when", "window", "kind", "message", "webhook"],
        [
            [
                a["id"],
                render.when(a["at"]),
                a["window_id"],
                a["kind"],
                a["message"],
                a["delivery"] or "-",
            ]
            for a in alerts
        ],
        empty=f"no alerts for {name} — `rung monitor {name}@ALIAS` raises them when a"
        " window drifts or degrades",
    )


@monitor_app.command("report", short_help="Write the HTML monitoring report.")
def monitor_report(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Registered model name.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "monitoring.html"
    ),
    last: Annotated[
        int,
        typer.Option("--last", min=1, max=MAX_ID, help="How many windows (and automation jobs)."),
    ] = 50,
) -> None:
    """An HTML page: drift and live performance over time, the automation's decisions
    marked on both, and the tables of windows and decisions. Prints the file's path."""
    from rung.core.errors import require

    require("matplotlib", "HTML reports draw their charts")  # before any work
    from rung.monitoring.report import monitoring_html

    with _ws() as ws:
        windows = ws.monitor.windows(name, last)  # NotFound for an unknown model
        jobs = ws.automation.history(last, model=name)
        alerts = ws.monitor.alerts(name, 10 * last)
    output.write_text(monitoring_html(name, windows, jobs, alerts), encoding="utf-8")
    render.line(f"wrote {output}")


@monitor_app.command("compare", short_help="Judge a challenger against the champion live.")
def monitor_compare(
    champion: Annotated[str, typer.Argument(metavar="NAME@ALIAS", help="The champion.")],
    challenger: Annotated[
        str, typer.Argument(metavar="NAME@ALIAS", help="The challenger (shadow or canary).")
    ],
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only requests of the last period (1d, 6h) or since a date"
            " [default: since both refs reached their current versions].",
        ),
    ] = None,
    mode: Annotated[
        str, typer.Option("--mode", help="auto, paired (shadow) or two-sample (canary).")
    ] = "auto",
    min_labelled: Annotated[
        int,
        typer.Option("--min-labelled", min=1, max=MAX_ID, help="Labelled rows needed to test."),
    ] = 30,
    as_json: JsonOpt = False,
) -> None:
    """The challenger against the champion on the requests they served whose labels came
    back: paired on the same requests (shadow), or two-sample (canary), judged by the
    automation's policy (decisive metric, margins, Holm's error control). Says which is
    better, or that there is not enough evidence, on which period, and how many labelled
    answers of the champion it leaves out (and why)."""
    from rung.automation.live import compare_current
    from rung.core.criteria import parse_criteria
    from rung.core.policy import Policy

    start = _since(since) if since is not None else None
    with _ws() as ws:
        loops = ws.automations
        loop = loops.get(champion.partition("@")[0])
        policy = loop.rules if loop is not None else Policy()
        criteria = loop.criteria if loop is not None else list(ws.config.settings.eval.criteria)
        result = compare_current(
            ws.store,
            ws.models,
            policy,
            parse_criteria(criteria),
            champion,
            challenger,
            since=start,
            mode=mode,
            min_labelled=min_labelled,
        )
    if as_json:
        render.print_json(result)
        return
    counts = result["labelled"]
    if result["mode"] == "paired":
        evidence = f"{counts['pairs']} labelled rows predicted by both (shadow)"
    else:
        evidence = (
            f"{counts['champion']} labelled answers of the champion and"
            f" {counts['challenger']} of the canary"
        )
    render.line(
        f"{result['challenger']} (challenger) vs {result['champion']} (champion), {result['mode']}"
        f" on live traffic: {evidence}"
    )
    render.line(
        "policy: decisive "
        + ", ".join(f"{m} (margin {v})" for m, v in result["decisive"].items())
        + "; guardrails "
        + (", ".join(f"{m} (margin {v})" for m, v in result["guardrails"].items()) or "none")
        + f"; Holm at alpha {result['alpha']:g}"
    )
    render.line(_period(result))
    excluded = result["excluded"]
    if excluded["rows"]:
        render.line(
            f"left out: {excluded['rows']} labelled answers of the champion"
            f" ({excluded['share']:.1%}): "
            + "; ".join(f"{why}: {n}" for why, n in excluded["reasons"].items())
        )
    for warning in result["warnings"]:
        render.line(f"warning: {warning}")
    for test in (result["decision"] or {}).get("tests", []):
        render.line(f"  {test['kind']} ({test['role']}): {test['line']}")
    for note in result["notes"]:
        render.line(f"note: {note}")
    render.line(f"verdict: {result['summary']}")


def _period(result: dict[str, Any]) -> str:
    """The period a comparison judged, in words: since when, and why that time."""
    period = result["period"]
    if period["since"] is None:
        line = "period: all the logged traffic of these versions"
    else:
        when = _utc(period["since"])
        why = (
            f"when {' and '.join(result['refs'])} reached {result['champion']} and"
            f" {result['challenger']}"
            if period["by"] == "aliases"
            else "--since"
        )
        line = f"period: since {when} ({why})"
    canary = result.get("canary_period")
    if canary:
        line += (
            f"; the champion's answers from the canary's period only, {_utc(canary[0])} to"
            f" {_utc(canary[1])}"
        )
    return line


def _utc(seconds: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _since(text: str) -> float:
    """``1d``, ``6h`` (that long ago) or an ISO date or time (UTC unless it says)."""
    import time
    from datetime import UTC, datetime

    from rung.core.durations import duration_seconds
    from rung.core.errors import InvalidInput

    try:
        return time.time() - duration_seconds(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"--since {text!r} is neither a period nor a date",
            "give a period (1d, 6h) or an ISO date (2026-11-30 or 2026-11-30T12:00)",
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
