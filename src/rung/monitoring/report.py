"""The monitoring report: one HTML page of a model's drift and live performance over time,
with the continuous-training decisions marked on the same time line.

The point of the page is to read cause and effect at a glance: features drift, accuracy
drops, a job fires, a challenger is promoted or rejected, and the served version changes.
So both charts share one x axis with the decisions drawn across them as vertical lines.

Self-contained like the evaluation report (:mod:`rung.evaluation.report`): no scripts, no
CDN, every text escaped; the charts are matplotlib PNGs inlined as base64 (a PNG's size does
not grow with the number of points as an SVG's does), drawn on a bare ``Figure`` with the
Agg canvas so that no pyplot state or GUI backend is touched.

Stored windows are JSON: non-finite statistics come back as strings (``"inf"``), and a
window may have no labels, no prediction drift or no features at all — every reader here
goes through :func:`_float` and tolerates a missing piece.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

# how each automation outcome is drawn and counted: (colour, line style, summary word)
OUTCOMES: dict[str, tuple[str, Any, str]] = {  # Any: matplotlib types styles as literals
    "promote": ("#2ca02c", "-", "promoted"),
    "approved": ("#2ca02c", "--", "approved"),
    "await": ("#9467bd", "--", "awaiting approval"),
    "reject": ("#ff7f0e", "-", "rejected"),
    "failed": ("#d62728", "-", "failed"),
    "cooldown": ("#7f7f7f", ":", "skipped (cooldown)"),
    "running": ("#17becf", ":", "in progress"),
}
TOP_FEATURES = 4  # features drawn in the severity panel: more lines stop being readable
CAP = 5.0  # severities above this (and infinite ones) are drawn at the cap, as triangles
MAX_TICKS = 12


def monitoring_html(
    name: str,
    windows: Sequence[dict[str, Any]],
    jobs: Sequence[dict[str, Any]],
    alerts: Sequence[dict[str, Any]] | None = None,
) -> str:
    """The page for model ``name``: ``windows`` from ``Monitor.windows`` and ``jobs`` from
    ``Automation.history`` (both oldest first); ``alerts`` from ``Monitor.alerts``, when
    given, adds whether the webhook took each alert (the stored windows do not know).

    Raises MissingExtra (``pip install 'rung[reports]'``) without matplotlib."""
    from rung.core.errors import require

    require("matplotlib", "HTML reports draw their charts")
    undelivered = {
        a.get("window_id") for a in alerts or [] if a.get("delivery") not in (None, "delivered")
    }
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>rung monitoring of {_e(name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Monitoring of <code>{_e(name)}</code></h1>",
        f"<p class='summary'>{summary(name, windows, jobs)}</p>",
    ]
    if windows:
        axis = _Axis(windows)
        shown = [j for j in jobs if axis.covers(_float(j.get("updated_at")))]
        note = (
            f" {len(jobs) - len(shown)} decision(s) outside these windows' time span are in"
            " the table only."
            if len(shown) < len(jobs)
            else ""
        )
        parts += [
            "<h2>Drift over time</h2>",
            _drift_chart(windows, shown, axis),
            "<p class='caption'>Top: features drifted per window, of all monitored. Bottom:"
            f" the {TOP_FEATURES} most drifting features, each by the statistic that decided"
            " its verdict, divided by its threshold so that 1 is the drift line (effect sizes"
            " as value ÷ threshold — by default gated by their test's p-value; a p-value"
            f" configured as the statistic as log p ÷ log α). Values above {CAP:g}, infinite"
            f" ones included, are drawn at"
            f" {CAP:g} as triangles. Shaded spans: the version that served; vertical lines:"
            f" automation decisions.{note}</p>",
            "<h2>Live performance over time</h2>",
            _performance_chart(windows, shown, axis),
            "<p class='caption'>Top: accuracy (a classifier) or MAE (a regressor) on the rows"
            " whose labels came back (gaps:"
            " windows with none yet); red triangles mark windows whose predictions drifted."
            " Bottom: rows labelled and rows still waiting for their label.</p>",
        ]
    parts += [
        "<h2>Windows</h2>",
        _windows_table(windows, undelivered),
        "<h2>Automation decisions</h2>",
        _jobs_table(jobs),
        "</body></html>",
    ]
    return "\n".join(parts)


def summary(name: str, windows: Sequence[dict[str, Any]], jobs: Sequence[dict[str, Any]]) -> str:
    """One paragraph (HTML, escaped) of what the charts show, for a reader in a hurry."""
    if not windows:
        text = (
            f"No monitoring windows of {name} are stored yet (`rung monitor {name}@ALIAS`"
            " computes one)."
        )
    else:
        first, last = _float(windows[0].get("at")), _float(windows[-1].get("at"))
        span = f"{_when(first)} to {_when(last)} ({_duration((last or 0) - (first or 0))})"
        kinds = [{a.get("kind") for a in w.get("alerts") or []} for w in windows]
        data_alerts = sum("data_drift" in k for k in kinds)
        prediction_alerts = sum("prediction_drift" in k for k in kinds)
        labelled = sum(_perf(w).get("labelled") or 0 for w in windows)
        rows = sum(_perf(w).get("rows") or 0 for w in windows)
        overlap = any(
            (b.get("first_id") or 0) <= (a.get("last_id") or 0)
            for a, b in itertools.pairwise(windows)
        )
        served = ", ".join(dict.fromkeys(str(w.get("model", "?")) for w in windows))
        text = (
            f"{len(windows)} monitoring window(s) of {name}, from {span}, served by {served}."
            f" {data_alerts} of them raised a data-drift alert, {prediction_alerts} a"
            f" prediction-drift alert. Labels came back for {labelled} of the"
            f" {rows} predicted rows"
            + (" (the windows overlap, so some rows count more than once)" if overlap else "")
            + "."
        )
    if not jobs:
        return _e(text + " No automation jobs.")
    counts: dict[str, int] = {}
    for job in jobs:
        outcome = _outcome(job)
        counts[outcome] = counts.get(outcome, 0) + 1
    said = ", ".join(f"{n} {OUTCOMES[o][2]}" for o, n in counts.items())
    return _e(f"{text} {len(jobs)} automation job(s): {said}.")


# -- the x axis ----------------------------------------------------------------------------


class _Axis:
    """Where windows and decisions sit on the charts' shared x axis.

    Real time when the windows are spread evenly enough to read; otherwise (a demo replay
    checking several windows within seconds, a manual check between hourly ones) the window
    index, labelled with the time, so that no window is squeezed into a sliver."""

    def __init__(self, windows: Sequence[dict[str, Any]]) -> None:
        import numpy as np

        self.ats = np.array([_float(w.get("at")) or 0.0 for w in windows])
        self.ids = [w.get("id", i + 1) for i, w in enumerate(windows)]
        gaps = np.diff(self.ats)
        self.gap = float(gaps.mean()) if gaps.size and gaps.mean() > 0 else 60.0
        self.timed = bool(gaps.size) and float(gaps.min()) >= 0.25 * self.gap
        self.xs = (
            np.array([self.x(t) for t in self.ats]) if self.timed else np.arange(len(self.ats))
        )
        self.width = 0.7 * (float(gaps.min()) / 86400 if self.timed else 1.0)

    def x(self, t: float) -> float:
        """A time's position: a matplotlib date number, or a (fractional) window index."""
        import numpy as np

        if self.timed:
            from matplotlib.dates import date2num

            return float(date2num(datetime.fromtimestamp(t, UTC)))
        n = len(self.ats)
        at = np.concatenate(([self.ats[0] - self.gap], self.ats, [self.ats[-1] + self.gap]))
        return float(np.interp(t, at, np.arange(-1, n + 1)))

    def covers(self, t: float | None) -> bool:
        """Whether a decision at ``t`` falls on the charts: up to one mean gap either side."""
        return t is not None and self.ats[0] - self.gap <= t <= self.ats[-1] + self.gap

    def edges(self) -> list[float]:
        """The span of each window on the axis: between the midpoints to its neighbours."""
        xs = list(self.xs)
        first, last = ((xs[1] - xs[0]) / 2, (xs[-1] - xs[-2]) / 2) if len(xs) > 1 else (0.5, 0.5)
        mids = [(a + b) / 2 for a, b in itertools.pairwise(xs)]
        return [xs[0] - first, *mids, xs[-1] + last]

    def style(self, ax: Any) -> None:
        """Ticks and label of the bottom panel."""
        if self.timed:
            from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

            locator = AutoDateLocator(tz=UTC)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=UTC))
            ax.set_xlabel("window time (UTC)")
            return
        step = max(1, math.ceil(len(self.ats) / MAX_TICKS))
        span = float(self.ats[-1] - self.ats[0])
        fmt = "%H:%M:%S" if span < 86400 else "%m-%d %H:%M"
        ticks = list(range(0, len(self.ats), step))
        labels = [f"#{self.ids[i]}\n{time.strftime(fmt, time.gmtime(self.ats[i]))}" for i in ticks]
        ax.set_xticks(ticks, labels, fontsize=7)
        ax.set_xlabel("window (id and time, UTC)")


# -- charts --------------------------------------------------------------------------------


def _drift_chart(
    windows: Sequence[dict[str, Any]], jobs: Sequence[dict[str, Any]], axis: _Axis
) -> str:
    fig, (top, bottom) = _figure()
    total = [len(w.get("features") or {}) for w in windows]
    drifted = [len(w.get("drifted") or []) for w in windows]
    top.bar(axis.xs, total, axis.width, fill=False, edgecolor="#999999", label="features monitored")
    top.bar(axis.xs, drifted, axis.width, color="#d62728", label="features drifted")
    top.set_ylim(0, max(1, *total) * 1.05)
    top.set_ylabel("features")
    top.yaxis.get_major_locator().set_params(integer=True)
    top.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))

    series = _severities(windows)
    ranked = sorted(series, key=lambda f: (-max(map(_rank, series[f]), default=-1.0), f))
    for feature in ranked[:TOP_FEATURES]:
        ys = [CAP if v is not None and v > CAP else v for v in series[feature]]
        stats = sorted({_verdict(w, feature).get("statistic") or "?" for w in windows} - {"?"})
        (line,) = bottom.plot(
            axis.xs,
            [_y(v) for v in ys],
            marker="o",
            markersize=3,
            label=f"{feature} ({', '.join(stats)})",
        )
        capped = [x for x, v in zip(axis.xs, series[feature], strict=True) if v and v > CAP]
        bottom.scatter(capped, [CAP] * len(capped), marker="^", s=40, color=line.get_color())
    bottom.axhline(1.0, color="black", linestyle="--", linewidth=0.8, label="drift threshold")
    bottom.set_ylim(0, CAP * 1.08)
    bottom.set_ylabel("statistic ÷ threshold")
    bottom.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _mark(fig, (top, bottom), windows, jobs, axis)
    return _png(fig, "drift over time")


def _performance_chart(
    windows: Sequence[dict[str, Any]], jobs: Sequence[dict[str, Any]], axis: _Axis
) -> str:
    fig, (top, bottom) = _figure()
    accuracy = [_float(_perf(w).get("accuracy")) for w in windows]
    top.plot(
        axis.xs,
        [_y(a) for a in accuracy],
        marker="o",
        color="#1f77b4",
        label="accuracy (labelled rows)",
    )
    top.set_ylim(0, 1.12)
    top.set_ylabel("accuracy")
    handles, labels = top.get_legend_handles_labels()
    mae = [_float(_perf(w).get("mae")) for w in windows]
    right = 1.01  # where the legends start: past the MAE axis when there is one
    if any(m is not None for m in mae):  # numeric predictions: the error in their units
        right = 1.09
        twin = top.twinx()
        (line,) = twin.plot(axis.xs, [_y(m) for m in mae], marker="s", color="#8c564b")
        twin.set_ylabel("MAE", color="#8c564b")
        handles, labels = [*handles, line], [*labels, "MAE"]
    moved = [
        x
        for x, w in zip(axis.xs, windows, strict=True)
        if ((w.get("prediction") or {}).get("verdict") or {}).get("drift")
    ]
    if moved:
        dots = top.scatter(moved, [1.06] * len(moved), marker="v", s=50, color="#d62728", zorder=3)
        handles, labels = [*handles, dots], [*labels, "predictions drifted"]
    top.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(right, 1.0))

    labelled = [_perf(w).get("labelled") or 0 for w in windows]
    missing = [_perf(w).get("missing") or 0 for w in windows]
    bottom.bar(axis.xs, labelled, axis.width, color="#1f77b4", label="labelled")
    bottom.bar(axis.xs, missing, axis.width, bottom=labelled, color="#c6dbef", label="no label yet")
    bottom.set_ylabel("rows")
    bottom.legend(fontsize=7, loc="upper left", bbox_to_anchor=(right, 1.0))
    _mark(fig, (top, bottom), windows, jobs, axis)
    return _png(fig, "live performance over time")


def _figure() -> tuple[Any, tuple[Any, Any]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 5.6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[1, 1.2])
    for ax in (top, bottom):
        ax.grid(axis="y", alpha=0.3)
    return fig, (top, bottom)


def _mark(
    fig: Any,
    axes: Sequence[Any],
    windows: Sequence[dict[str, Any]],
    jobs: Sequence[dict[str, Any]],
    axis: _Axis,
) -> None:
    """What both charts share: the served version's spans, the decisions, the x ticks.

    A span changes where the promotion that changed it was decided, when one was, so the
    line and the shading meet; otherwise halfway between the two windows."""
    from matplotlib.lines import Line2D

    edges = axis.edges()
    promotions = [
        _float(j.get("updated_at")) or 0.0 for j in jobs if _outcome(j) in ("promote", "approved")
    ]
    starts = [0] + [i for i in range(1, len(windows)) if _served(windows[i - 1], windows[i])]
    bounds = [edges[0]]
    for i in starts[1:]:
        switch = [t for t in promotions if axis.ats[i - 1] < t <= axis.ats[i]]
        bounds.append(axis.x(switch[-1]) if switch else edges[i])
    bounds.append(edges[-1])
    for k, i in enumerate(starts):
        for ax in axes:
            ax.axvspan(bounds[k], bounds[k + 1], color=_SHADES[k % 2], zorder=0, linewidth=0)
        axes[0].text(  # the version alone: a whole NAME@VERSION overlaps its neighbours
            bounds[k],
            1.01,
            f" v{str(windows[i].get('model', '?')).rpartition('@')[2]}",
            transform=axes[0].get_xaxis_transform(),
            fontsize=7,
            color="#555555",
            va="bottom",
        )
    seen: dict[str, Any] = {}
    for n, job in enumerate(jobs):
        outcome = _outcome(job)
        colour, style, word = OUTCOMES[outcome]
        x = axis.x(_float(job.get("updated_at")) or 0.0)
        for ax in axes:
            ax.axvline(x, color=colour, linestyle=style, linewidth=1.6, zorder=4)
        axes[0].text(  # above the versions' row, on two staggered rows: close jobs stay legible
            x,
            1.09 + 0.08 * (n % 2),
            f"job {job.get('id')}",
            transform=axes[0].get_xaxis_transform(),
            fontsize=7,
            color=colour,
            va="bottom",
            ha="center",
        )
        seen.setdefault(word, Line2D([], [], color=colour, linestyle=style, linewidth=1.6))
    if seen:
        fig.legend(
            list(seen.values()),
            [f"decision: {w}" for w in seen],
            loc="outside lower center",
            ncols=len(seen),
            fontsize=7,
            frameon=False,
        )
    axes[0].set_xlim(edges[0], edges[-1])
    axis.style(axes[-1])


_SHADES = ("#e8f0fa", "#f3f3f3")  # alternate spans of served versions


def _served(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether the served version changed between two windows."""
    return before.get("model") != after.get("model")


def _png(fig: Any, alt: str) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img alt='{_e(alt)}' src='data:image/png;base64,{data}'>"


def _severities(windows: Sequence[dict[str, Any]]) -> dict[str, list[float | None]]:
    """Per feature, per window: how far past its threshold the deciding statistic is."""
    names = list(dict.fromkeys(f for w in windows for f in w.get("features") or {}))
    return {f: [_severity(_verdict(w, f)) for w in windows] for f in names}


def _severity(verdict: dict[str, Any]) -> float | None:
    """The verdict's statistic on one scale for every statistic, 1 at the threshold.

    Effect sizes grow with drift (value ÷ threshold); p-values shrink with it, so their
    logarithms are compared (log p ÷ log α: 0 at p = 1, 1 at p = α, 2 at p = α²)."""
    value, threshold = _float(verdict.get("value")), _float(verdict.get("threshold"))
    if value is None or threshold is None:
        return None
    if str(verdict.get("statistic", "")).endswith("_pvalue"):
        if not 0 < threshold < 1:
            return None
        return math.inf if value <= 0 else max(0.0, math.log(value) / math.log(threshold))
    if threshold <= 0:
        return math.inf if value > 0 else 0.0
    return value / threshold


def _y(v: float | None) -> float:
    """A value to plot: NaN (a gap in the line) for a missing or infinite one."""
    return v if v is not None and math.isfinite(v) else math.nan


def _rank(v: float | None) -> float:
    """Severity for ranking features: missing ones last."""
    return -1.0 if v is None else v


# -- tables --------------------------------------------------------------------------------


def _windows_table(windows: Sequence[dict[str, Any]], undelivered: set[Any]) -> str:
    """One row per window; a drifted one tinted, a webhook that refused its alerts said."""
    if not windows:
        return "<p>No windows.</p>"
    head = (
        "<tr><th>window</th><th>time (UTC)</th><th>served</th><th>rows</th><th>drifted</th>"
        "<th>predictions</th><th>accuracy</th><th>labelled</th><th>p99 ms</th>"
        "<th>5xx</th><th>4xx</th><th>alerts</th><th>notes</th></tr>"
    )
    body = ""
    for w in windows:
        perf, health = _perf(w), w.get("health") or {}
        drifted = list(w.get("drifted") or [])
        n = f"{len(drifted)}/{len(w.get('features') or {})}"
        names = f" <span class='names'>{_e(', '.join(drifted))}</span>" if drifted else ""
        kinds = [str(a.get("kind")) for a in w.get("alerts") or []]
        if w.get("id") in undelivered:
            kinds.append("(webhook failed)")
        tint = " class='drift'" if drifted else ""
        body += (
            f"<tr{tint}>"
            f"<td>{_e(w.get('id', '-'))}</td><td>{_e(_when(_float(w.get('at'))))}</td>"
            f"<td>{_e(w.get('model', '-'))}</td><td>{_e(w.get('rows', '-'))}</td>"
            f"<td class='left'>{n}{names}</td><td>{_e(_prediction(w.get('prediction')))}</td>"
            f"<td>{_num(perf.get('accuracy'))}</td>"
            f"<td>{_e(perf.get('labelled', 0))}/{_e(perf.get('rows', 0))}</td>"
            f"<td>{_num((health.get('latency_ms') or {}).get('p99'))}</td>"
            f"<td>{_pct(health.get('error_rate'))}</td>"
            f"<td>{_pct(health.get('client_error_rate'))}</td>"
            f"<td class='left'>{_e(', '.join(kinds) or '-')}</td>"
            f"<td class='left'>{_notes(w)}</td></tr>"
        )
    return f"<table class='windows'>{head}{body}</table>"


def _notes(window: dict[str, Any]) -> str:
    """What a window could not judge (a feature with no statistic) and the malformed log
    records it left out, one escaped line each."""
    lines = [str(n) for n in window.get("notes") or []]
    skipped = window.get("skipped") or {}
    if skipped.get("records"):
        lines.append(
            f"{skipped['records']} malformed log record(s) left out: {skipped.get('first')}"
        )
    return "<br>".join(_e(line) for line in lines) or "-"


def _jobs_table(jobs: Sequence[dict[str, Any]]) -> str:
    """One row per automation job: what fired it, what it trained, what was decided, why."""
    if not jobs:
        return "<p>No automation jobs for this model.</p>"
    head = (
        "<tr><th>job</th><th>time (UTC)</th><th>trigger</th><th>why it fired</th><th>run</th>"
        "<th>champion → challenger</th><th>evaluation</th><th>decision</th><th>why</th></tr>"
    )
    body = ""
    for j in jobs:
        outcome = _outcome(j)
        colour = OUTCOMES[outcome][0]
        versions = f"{_version(j.get('champion'))} → {_version(j.get('challenger'))}"
        body += (
            f"<tr class='job'><td>{_e(j.get('id'))}</td>"
            f"<td>{_e(_when(_float(j.get('updated_at'))))}</td><td>{_e(j.get('trigger'))}</td>"
            f"<td class='left'>{_e(j.get('reason') or '-')}</td>"
            f"<td>{_e(j.get('run_id') or '-')}</td><td>{_e(versions)}</td>"
            f"<td>{_e(j.get('evaluation_id') or '-')}</td>"
            f"<td class='decision' style='color:{colour}'>{_e(OUTCOMES[outcome][2])}</td>"
            f"<td class='left'>{_why(j)}</td></tr>"
        )
    return f"<table class='jobs'>{head}{body}</table>"


def _why(job: dict[str, Any]) -> str:
    """The decision's reasons, escaped: rejection reasons, the error, or what passed."""
    if job.get("state") == "failed":
        return _e(job.get("error") or "failed")
    evidence = job.get("evidence") or {}
    reasons = evidence.get("reasons") or []
    if reasons:
        return "<ul>" + "".join(f"<li>{_e(r)}</li>" for r in reasons) + "</ul>"
    if job.get("decision") == "cooldown":
        return "within the cooldown after the previous job"
    if not evidence:
        return "-"
    better = evidence.get("better") or []
    return _e("passed" + (f"; better: {'; '.join(better)}" if better else ""))


# -- small readers -------------------------------------------------------------------------


def _outcome(job: dict[str, Any]) -> str:
    if job.get("state") == "failed":
        return "failed"
    decision = job.get("decision")
    return decision if decision in OUTCOMES else "running"


def _verdict(window: dict[str, Any], feature: str) -> dict[str, Any]:
    return ((window.get("features") or {}).get(feature) or {}).get("verdict") or {}


def _perf(window: dict[str, Any]) -> dict[str, Any]:
    return window.get("performance") or {}


def _float(value: Any) -> float | None:
    """A number from stored JSON: ``"inf"`` and friends parsed, NaN and junk as None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _num(value: Any) -> str:
    x = _float(value)
    return "-" if x is None else "∞" if x == math.inf else "-∞" if x == -math.inf else f"{x:.4g}"


def _pct(value: Any) -> str:
    x = _float(value)
    return "-" if x is None or not math.isfinite(x) else f"{x:.1%}"


def _prediction(prediction: dict[str, Any] | None) -> str:
    if not prediction:
        return "-"
    v = prediction.get("verdict") or {}
    word = "DRIFT" if v.get("drift") else "-" if v.get("drift") is None else "ok"
    return f"{word} ({v.get('statistic', '?')} {_num(v.get('value'))})"


def _version(v: Any) -> str:
    return "-" if v is None else f"v{v}"


def _when(t: float | None) -> str:
    if t is None or not math.isfinite(t):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _e(text: Any) -> str:
    return html.escape(str(text))


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#222}
img{max-width:100%}.caption{color:#555;font-size:.85rem;max-width:60rem}
.summary{font-size:1.05rem;max-width:60rem}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;vertical-align:top}
th{background:#f4f4f4}td.left{text-align:left}tr.drift{background:#fdecea}
.names{color:#a00}td.decision{font-weight:bold}td ul{margin:0;padding-left:1.2rem;text-align:left}
"""
