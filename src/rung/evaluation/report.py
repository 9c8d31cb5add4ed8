"""Renderings of an evaluation: the columns to show, Markdown for CI comments, HTML.

The terminal table lives in the CLI; JSON is ``Evaluation.to_dict()``.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from typing import Any

from rung.core.aggregate import is_number
from rung.evaluation.evaluator import Evaluation

DEFAULT_COLUMNS = (  # after examples and labelled
    "accuracy",
    "f1_macro",
    "roc_auc",
    "log_loss",
    "top_error",
    "mae",
    "rmse",
    "r2",
    "mape",
)
MAX_COLUMNS = 10


def columns(ev: Evaluation, wanted: Sequence[str] | None = None) -> list[str]:
    """``examples`` and ``labelled``, the criteria's metrics, then the usual headline metrics
    present."""
    if wanted:
        unknown = [c for c in wanted if c not in ev.columns]
        if unknown:
            from rung.core.errors import InvalidInput

            raise InvalidInput(
                f"evaluation {ev.id} has no column {unknown[0]!r}",
                f"its columns are: {', '.join(ev.columns)}",
            )
        counts = [c for c in ("examples", "labelled") if c in ev.columns]
        return [*counts, *[c for c in wanted if c not in counts]]
    if len(ev.columns) <= MAX_COLUMNS:
        return list(ev.columns)  # few metrics (chosen with --metric): show them all
    chosen: list[str] = [c for c in ("examples", "labelled") if c in ev.columns]
    for check in ev.verdict.get("checks", []):
        metric = _metric_of(check["criterion"])
        if metric in ev.columns and metric not in chosen:
            chosen.append(metric)
    for c in DEFAULT_COLUMNS:
        if c in ev.columns and c not in chosen and len(chosen) < MAX_COLUMNS:
            chosen.append(c)
    return chosen


def _metric_of(criterion: str) -> str:
    from rung.core.criteria import parse_criterion

    return parse_criterion(criterion).metric


def cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and abs(value) >= 10 else f"{value:.4g}"
    return str(value)


def verdict_line(ev: Evaluation) -> str:
    status = ev.verdict.get("status")
    if status is None:
        return "verdict: none — no acceptance criteria configured"
    return f"verdict: {status.upper()}"


def to_markdown(ev: Evaluation, wanted: Sequence[str] | None = None) -> str:
    cols = columns(ev, wanted)
    lines = [
        f"### Evaluation {ev.id}: model `{ev.model}` ({ev.model_hash[:12]})"
        + (f" vs baseline `{ev.baseline}`" if ev.baseline else ""),
        "",
        "| dataset | " + " | ".join(cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for name, row in ev.table():
        label = f"**{name}**" if name in ("Total", "Mean", "Std") else name
        lines.append(f"| {label} | " + " | ".join(cell(row.get(c)) for c in cols) + " |")
    lines += ["", f"**{verdict_line(ev)}**"]
    for reason in ev.verdict.get("reasons", []):
        lines.append(f"- ✗ {reason}")
    for note in ev.verdict.get("notes", []):
        lines.append(f"- note: {note}")
    deltas = delta_rows(ev, cols)
    if deltas:
        lines += [
            "",
            "| dataset | metric | delta | 95% CI | reading | one-sided p |",
            "|---|---|---:|---|---|---|",
        ]
        for d in deltas:
            lines.append(
                f"| {d['dataset']} | {d['metric']} | {d['delta']:+.4f} |"
                f" [{d['low']:+.4f}, {d['high']:+.4f}] | {d['reading']} | {p_text(d)} |"
            )
    worst = ev.worst_slices()
    if worst:
        lines += ["", f"Worst slices by {worst[0]['metric']}:", ""]
        for w in worst:
            lines.append(
                f"- {w['dataset']} {w['slice']}: {cell(w['value'])} ({w['examples']} examples)"
            )
    return "\n".join(lines) + "\n"


def delta_rows(ev: Evaluation, cols: Sequence[str]) -> list[dict[str, Any]]:
    """The deltas to show: of every metric shown, every metric whose interval excludes zero
    (whichever way) and every metric tested at a margin (the promotion policy's), so that a
    metric a decision cites is never left out."""
    rows = []
    for dataset, detail in ev.details.items():
        for metric, d in (detail.get("deltas") or {}).items():
            if metric in cols or d.get("reading") in ("better", "worse") or "margin" in d:
                rows.append({"dataset": dataset, "metric": metric, **d})
    return rows


def p_text(d: dict[str, Any]) -> str:
    """A delta's one-sided p-values: ``better 0.001 · worse 0.93 (margin 0.02)``; ``-``
    for an evaluation made before they were recorded."""
    if "p_better" not in d:
        return "-"
    margin = f" (margin {d['margin']:.4g})" if d.get("margin") else ""
    return f"better {d['p_better']:.3g} · worse {d['p_worse']:.3g}{margin}"


# -- HTML ------------------------------------------------------------------------------------


def to_html(ev: Evaluation, wanted: Sequence[str] | None = None) -> str:
    """A self-contained page: no scripts, no CDN; charts are inline SVG from matplotlib."""
    cols = columns(ev, wanted)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>rung evaluation {ev.id}</title><style>{_CSS}</style></head><body>",
        f"<h1>Evaluation {ev.id}</h1>",
        f"<p>model <code>{_e(ev.model)}</code> ({ev.model_hash[:12]})"
        + (f", baseline <code>{_e(ev.baseline)}</code>" if ev.baseline else "")
        + f", label <code>{_e(ev.label)}</code></p>",
        _verdict_html(ev),
        "<h2>Table</h2>",
        _table_html(ev, cols),
    ]
    titles = dict(charts(ev, cols))
    if "metrics" in titles:
        parts += [f"<h2>{titles['metrics']}</h2>", chart_svg(ev, "metrics", cols)]
    confusion = {d: det["confusion"] for d, det in ev.details.items() if det.get("confusion")}
    if confusion:
        parts.append("<h2>Confusion matrices</h2><div class='grid'>")
        for d, cm in confusion.items():
            parts.append(_confusion_html(d, cm))
        parts.append("</div>")
    for key in ("calibration", "slices"):
        if key in titles:
            parts += [f"<h2>{_e(titles[key])}</h2>", chart_svg(ev, key, cols)]
    deltas = delta_rows(ev, cols)
    if deltas:
        parts += ["<h2>Against the baseline</h2>", _deltas_html(deltas)]
    parts.append("</body></html>")
    return "\n".join(parts)


def charts(ev: Evaluation, cols: Sequence[str]) -> list[tuple[str, str]]:
    """The charts evaluation ``ev`` has, as ``(key, title)`` in the report's order, without
    drawing them: ``metrics`` (bars of the numeric columns ``cols`` per dataset),
    ``calibration`` (reliability curves, when the datasets recorded them) and ``slices``
    (the 15 worst slices by the first criterion's metric)."""
    found = []
    if _numeric(ev, cols):
        found.append(("metrics", "Metrics per dataset"))
    if any(det.get("calibration") for det in ev.details.values()):
        found.append(("calibration", "Calibration"))
    worst = ev.worst_slices(limit=15)
    if worst:
        found.append(("slices", f"Slices (worst first, by {worst[0]['metric']})"))
    return found


def chart_svg(ev: Evaluation, key: str, cols: Sequence[str]) -> str:
    """Chart ``key`` (one of :func:`charts`' keys) of ``ev`` as an SVG document drawn by
    matplotlib, text as ``<text>`` elements whose content matplotlib escapes (a slice value
    or a class label never becomes markup). Raises :class:`KeyError` for a chart ``ev``
    does not have. Not thread-safe (pyplot): callers serialise."""
    if key == "metrics" and _numeric(ev, cols):
        return _bars_svg(ev, _numeric(ev, cols))
    calib = {d: det["calibration"] for d, det in ev.details.items() if det.get("calibration")}
    if key == "calibration" and calib:
        return _calibration_svg(calib)
    worst = ev.worst_slices(limit=15)
    if key == "slices" and worst:
        return _slices_svg(worst)
    raise KeyError(key)


def _numeric(ev: Evaluation, cols: Sequence[str]) -> list[str]:
    """The metrics of ``cols`` with a number on every dataset; not the row counts, whose
    hundreds would flatten the bars of metrics between 0 and 1."""
    return [
        c
        for c in cols
        if c not in ("examples", "labelled") and all(is_number(ev.rows[d].get(c)) for d in ev.rows)
    ]


def _e(text: Any) -> str:
    return html.escape(str(text))


def _verdict_html(ev: Evaluation) -> str:
    status = ev.verdict.get("status")
    css = {"passed": "pass", "failed": "fail"}.get(status or "", "none")
    items = "".join(f"<li>✗ {_e(r)}</li>" for r in ev.verdict.get("reasons", []))
    items += "".join(f"<li>note: {_e(n)}</li>" for n in ev.verdict.get("notes", []))
    crit = "".join(f"<li><code>{_e(c)}</code></li>" for c in ev.verdict.get("criteria", []))
    return (
        f"<p class='verdict {css}'>{_e(verdict_line(ev))}</p>"
        + (f"<p>criteria:</p><ul>{crit}</ul>" if crit else "")
        + (f"<ul>{items}</ul>" if items else "")
    )


def _table_html(ev: Evaluation, cols: Sequence[str]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = ""
    for name, row in ev.table():
        cls = " class='agg'" if name in ("Total", "Mean", "Std") else ""
        body += (
            f"<tr{cls}><td>{_e(name)}</td>"
            + "".join(f"<td>{_e(cell(row.get(c)))}</td>" for c in cols)
            + "</tr>"
        )
    return f"<table><tr><th>dataset</th>{head}</tr>{body}</table>"


def _confusion_html(dataset: str, cm: dict[str, Any]) -> str:
    labels, matrix = cm["labels"], cm["matrix"]
    top = max((max(r) for r in matrix), default=1) or 1
    head = "".join(f"<th>{_e(lbl)}</th>" for lbl in labels)
    rows = ""
    for lbl, r in zip(labels, matrix, strict=True):
        cells = "".join(
            f"<td style='background: rgba(31,119,180,{0.1 + 0.8 * v / top:.2f})'>{v}</td>"
            for v in r
        )
        rows += f"<tr><th>{_e(lbl)}</th>{cells}</tr>"
    return (
        f"<div><h3>{_e(dataset)}</h3><table class='cm'><tr><th>true \\ predicted</th>{head}</tr>"
        f"{rows}</table></div>"
    )


def _deltas_html(deltas: Sequence[dict[str, Any]]) -> str:
    body = "".join(
        f"<tr><td>{_e(d['dataset'])}</td><td>{_e(d['metric'])}</td><td>{d['delta']:+.4f}</td>"
        f"<td>[{d['low']:+.4f}, {d['high']:+.4f}]</td><td>{_e(d['reading'])}</td>"
        f"<td>{_e(p_text(d))}</td></tr>"
        for d in deltas
    )
    return (
        "<table><tr><th>dataset</th><th>metric</th><th>delta</th><th>95% CI</th>"
        f"<th>reading</th><th>one-sided p</th></tr>{body}</table>"
    )


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _plt() -> Any:
    from rung.core.errors import require

    require("matplotlib", "HTML reports draw their charts")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"
    plt.rcParams["svg.hashsalt"] = "rung"
    return plt


def _bars_svg(ev: Evaluation, metrics: Sequence[str]) -> str:
    import numpy as np

    plt = _plt()
    names = list(ev.rows)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(metrics) * len(names) / 2), 3.2))
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(metrics))
    for i, d in enumerate(names):
        ax.bar(x + i * width, [float(ev.rows[d][m]) for m in metrics], width, label=d)
    ax.set_xticks(x + width * (len(names) - 1) / 2, metrics, rotation=20)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig)


def _calibration_svg(calib: dict[str, Any]) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    for d, c in calib.items():
        pts = c["points"]
        ax.plot([p["predicted"] for p in pts], [p["observed"] for p in pts], marker="o", label=d)
    positive = next(iter(calib.values()))["positive"]
    ax.set_xlabel(f"predicted P({positive})")
    ax.set_ylabel(f"observed rate of {positive}")
    ax.legend(fontsize=8)
    return _svg(fig)


def _slices_svg(worst: Sequence[dict[str, Any]]) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(worst) + 1))
    labels = [f"{w['dataset']} {w['slice']} (n={w['examples']})" for w in worst]
    ax.barh(labels[::-1], [w["value"] for w in worst][::-1], color="#d62728")
    ax.set_xlabel(worst[0]["metric"])
    return _svg(fig)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}tr.agg{font-weight:bold;background:#f4f4f4}
.verdict{font-size:1.3rem;font-weight:bold;padding:.4rem .8rem;display:inline-block}
.pass{background:#d4edda}.fail{background:#f8d7da}.none{background:#eee}
.grid{display:flex;flex-wrap:wrap;gap:1.5rem}.cm td{text-align:center;min-width:3rem}
"""
