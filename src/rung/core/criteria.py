"""Acceptance criteria from the project's scope, and the verdict they give.

Two kinds, as TFX's Evaluator has them:

* value bounds — ``precision_down >= 0.75 on every dataset``, ``mean f1_macro >= 0.6``;
* change thresholds against a baseline, with a direction —
  ``f1_macro drop <= 0.01 vs baseline on every dataset`` (no dataset's F1 may fall by more
  than 0.01), ``mae rise <= 5% vs baseline on the mean``.

Scopes: ``on every dataset`` (the default), ``on the mean``, ``on dataset NAME``,
``on every slice COLUMN`` and ``on slice COLUMN=VALUE``.

The rules: a criterion whose metric is missing fails; no criteria means no verdict (never an
automatic pass); without a baseline, change thresholds are skipped and the verdict says that
the model was judged on absolute bounds alone.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rung.core.aggregate import is_number
from rung.core.errors import InvalidInput
from rung.core.hashing import canonical_json, hash_json
from rung.core.suggest import closest

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
_METRIC = r"(?P<metric>[A-Za-z_][A-Za-z0-9_.\-]*)"
_OP = r"(?P<op>>=|<=|==|>|<)"
# ASCII digits only ([0-9], never \d, which matches every Unicode digit: "١.٥" read as 1.5)
_NUM = r"(?P<bound>[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)(?P<pct>%)?"
_SCOPE = (
    r"(?:\s+on\s+(?P<scope>every\s+dataset|(?:the\s+)?mean|dataset\s+(?P<dataset>\S+)"
    r"|every\s+slice\s+(?P<slice_all>\S+)|slice\s+(?P<slice>\S+=\S+)))?"
)
_BOUND = re.compile(rf"^(?P<mean>mean\s+)?{_METRIC}\s*{_OP}\s*{_NUM}{_SCOPE}\s*$", re.I | re.A)
_CHANGE = re.compile(
    rf"^{_METRIC}\s+(?P<direction>drop|rise)\s*{_OP}\s*{_NUM}\s+vs\s+(?:the\s+)?"
    rf"(?P<against>baseline|champion){_SCOPE}\s*$",
    re.I | re.A,
)
EXAMPLES = (
    "'precision_down >= 0.75 on every dataset', 'mean f1_macro >= 0.6' or"
    " 'f1_macro drop <= 0.01 vs baseline on every dataset'"
)


@dataclass(frozen=True)
class Criterion:
    """One parsed criterion."""

    text: str
    metric: str
    op: str
    bound: float
    scope: str = "dataset"  # dataset | mean | slice
    target: str | None = None  # a dataset name, a slice column, or COLUMN=VALUE
    change: str | None = None  # None for a value bound; "drop" or "rise" for a change threshold
    relative: bool = False  # a change bound given in percent of the baseline

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_criterion(text: str) -> Criterion:
    """Parse one criterion, or raise naming the text and showing valid forms."""
    clean = " ".join(str(text).split())
    m = _CHANGE.match(clean)
    change: str | None = None
    if m:
        change = m.group("direction").lower()
    else:
        m = _BOUND.match(clean)
    if m is None:
        if any(c.isnumeric() and not c.isascii() for c in clean):
            raise InvalidInput(
                f"malformed criterion {text!r}: numbers are written with ASCII digits 0-9",
                f"write for example {EXAMPLES}",
            )
        raise InvalidInput(f"malformed criterion {text!r}", f"write for example {EXAMPLES}")
    scope, target = _scope(m)
    if change is None and m.group("mean"):
        scope, target = "mean", None
    if m.group("pct") and change is None:
        raise InvalidInput(
            f"malformed criterion {text!r}: a percentage only makes sense for a change",
            "write the bound as a number, e.g. 0.75",
        )
    if change is not None and m.group("op") not in ("<=", "<"):
        raise InvalidInput(
            f"malformed criterion {text!r}: a {change} is bounded from above",
            f"write '{m.group('metric')} {change} <= N vs baseline'",
        )
    bound = float(m.group("bound"))
    if not math.isfinite(bound):
        raise InvalidInput(
            f"malformed criterion {text!r}: the bound {m.group('bound')} is not a finite number",
            "write a bound such as 0.75 (ASCII digits, no inf or nan)",
        )
    return Criterion(
        text=clean,
        metric=m.group("metric"),
        op=m.group("op"),
        bound=bound / 100 if m.group("pct") else bound,
        scope=scope,
        target=target,
        change=change,
        relative=bool(m.group("pct")),
    )


def _scope(m: re.Match[str]) -> tuple[str, str | None]:
    scope = (m.group("scope") or "every dataset").lower()
    if m.group("dataset"):
        return "dataset", m.group("dataset")
    if m.group("slice_all"):
        return "slice", m.group("slice_all")
    if m.group("slice"):
        return "slice", m.group("slice")
    if "mean" in scope:
        return "mean", None
    return "dataset", None


def parse_criteria(texts: Sequence[str]) -> list[Criterion]:
    return [parse_criterion(t) for t in texts]


def criteria_digest(texts: Sequence[str]) -> str | None:
    """The identity of a set of criteria: a hex blake3 digest of their parsed forms (metric,
    operator, bound, scope, target, change, relative), sorted and without repeats — so the
    order they are listed in, spacing, ``mean f1 >= 0.6`` against ``f1 >= 0.6 on the mean``,
    or ``0.50`` against ``0.5`` do not change it, while any other bound, metric, scope or
    criterion does. ``None`` for no criteria. Raises :class:`InvalidInput` for a malformed
    criterion. The registry's gate counts an evaluation only when this digest of its criteria
    equals the digest of the project's declared ones (:mod:`rung.registry.gate`)."""
    if not texts:
        return None
    forms = {
        canonical_json({k: v for k, v in c.to_dict().items() if k != "text"})
        for c in parse_criteria(texts)
    }
    return hash_json(sorted(forms))


@dataclass
class Check:
    """The outcome of one criterion at one place (a dataset, the mean, a slice)."""

    criterion: str
    where: str
    value: Any
    bound: float
    passed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Verdict:
    """``status`` is "passed", "failed", or None when no criteria were configured."""

    status: str | None
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        return [c.reason for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checks": [c.to_dict() for c in self.checks],
            "reasons": self.reasons,
            "notes": self.notes,
        }


# Metrics per place: {"datasets": {name: {metric: value}}, "mean": {metric: value},
#                     "slices": {dataset: {column: {value: {metric: value}}}}}
Results = Mapping[str, Any]


def judge(
    criteria: Sequence[Criterion], results: Results, baseline: Results | None = None
) -> Verdict:
    """Apply every criterion; any failed check fails the verdict."""
    if not criteria:
        return Verdict(None, notes=["no acceptance criteria configured: no verdict"])
    verdict = Verdict("passed")
    changes = [c for c in criteria if c.change]
    if changes and baseline is None:
        verdict.notes.append(
            "no baseline: judged on absolute bounds alone"
            f" ({len(changes)} change threshold(s) not applied)"
        )
    for criterion in criteria:
        if criterion.change and baseline is None:
            continue
        for where, current, base in _places(criterion, results, baseline):
            verdict.checks.append(_check(criterion, where, current, base))
    if any(not c.passed for c in verdict.checks):
        verdict.status = "failed"
    return verdict


def _places(
    c: Criterion, results: Results, baseline: Results | None
) -> list[tuple[str, Mapping[str, Any] | None, Mapping[str, Any] | None]]:
    base = baseline or {}
    if c.scope == "mean":
        return [("mean", results.get("mean", {}), base.get("mean"))]
    if c.scope == "dataset":
        datasets = results.get("datasets", {})
        names = [c.target] if c.target else list(datasets)
        return [(f"dataset {n}", datasets.get(n), base.get("datasets", {}).get(n)) for n in names]
    places: list[tuple[str, Mapping[str, Any] | None, Mapping[str, Any] | None]] = []
    column, _, value = (c.target or "").partition("=")
    for dataset, slices in results.get("slices", {}).items():
        by_value = slices.get(column, {})
        base_values = base.get("slices", {}).get(dataset, {}).get(column, {})
        for v, metrics in by_value.items():
            if not value or str(v) == value:
                places.append(
                    (f"dataset {dataset}, slice {column}={v}", metrics, base_values.get(v))
                )
    if not places:
        places.append((f"slice {c.target}", None, None))
    return places


def _check(
    c: Criterion, where: str, current: Mapping[str, Any] | None, base: Mapping[str, Any] | None
) -> Check:
    value = (current or {}).get(c.metric)

    def judged(passed: bool, text: str) -> Check:
        return Check(c.text, where, value, c.bound, passed, text)

    if current is None:
        return judged(False, f"{c.text}: {where} has no results")
    if isinstance(value, float) and value != value:  # present, but NaN: not "missing"
        return judged(
            False,
            f"{c.text}: {c.metric} is not a number (nan) at {where}, so it cannot meet"
            f" {c.op} {c.bound:g} (the evaluation's notes say why)",
        )
    if not is_number(value):
        near = closest(c.metric, [k for k, v in current.items() if is_number(v)])
        return judged(
            False,
            f"{c.text}: metric {c.metric!r} is missing at {where}"
            + (f" (did you mean {' or '.join(map(repr, near))}?)" if near else ""),
        )
    if c.change is None:
        passed = _OPS[c.op](float(value), c.bound)
        text = f"{c.metric} = {value:.4g} at {where} {'meets' if passed else 'misses'} {c.op} {c.bound:g}"
        return judged(passed, text)
    before = (base or {}).get(c.metric)
    if not is_number(before):
        return judged(False, f"{c.text}: the baseline has no {c.metric!r} at {where}")
    delta = float(value) - float(before)
    moved = -delta if c.change == "drop" else delta
    amount = moved / abs(float(before)) if c.relative and before else moved
    passed = _OPS[c.op](amount, c.bound)
    amount += 0.0  # no "-0" in messages
    shown = f"{amount:.2%}" if c.relative else f"{amount:.4g}"
    text = (
        f"{c.metric} {c.change} of {shown} at {where} ({before:.4g} → {value:.4g})"
        f" {'within' if passed else 'exceeds'} {c.bound:g}{'' if not c.relative else ' (relative)'}"
    )
    return judged(passed, text)
