"""The promotion policy: whether a challenger replaces the champion, and why. Pure: no I/O.

The policy reads, per dataset and metric, the challenger's and the champion's values with the
paired bootstrap of their difference (:mod:`rung.evaluation.bootstrap`), and the verdict of
the acceptance criteria, and decides **promote**, **reject** or — under ``manual`` —
**await** (a person approves with ``rung model approve``).

Which metrics count, and how much:

* **decisive** metrics (default: the first acceptance criterion's metric; else ``accuracy``
  for a classifier, ``mae`` for a regressor). The challenger must be *better* than the
  champion on at least one decisive metric × deciding dataset (a one-sided test of
  "no better", H0: Δ ≤ 0), and *not worse beyond its non-inferiority margin* on any
  (H0: Δ ≥ −margin, tested as below). A tie is not a gain: the champion stays, so a noisy
  tie neither promotes on noise nor flips the alias back and forth.
* **guardrail** metrics (default: ``log_loss`` with a margin of 0.05 nats for a classifier,
  ``rmse`` with 5 % for a regressor): they veto only when shown worse beyond their margin.
* every other metric — per-class precision, recall and F1 among them — informs and never
  vetoes, unless it is named decisive or guardrail.

A difference inside its margin is never "worse": the veto test's null hypothesis is
"Δ ≥ −margin" (Δ oriented so that positive is better), rejected only by evidence.

Dataset **roles**: the deciding datasets carry the comparisons (default: the freshly labelled
served rows when there are any, else the acceptance datasets); the acceptance datasets gate
the absolute criteria (the evaluation judges its criteria there).

**Multiplicity.** The veto tests of every decisive and guardrail metric on every deciding
dataset are one family, and the gain tests of every decisive metric on every deciding
dataset another; each is controlled at family-wise error rate ``alpha`` by Holm's step-down
procedure (S. Holm, "A simple sequentially rejective multiple test procedure",
Scandinavian Journal of Statistics 6 (1979) 65–70). So the chance of vetoing a challenger
that is nowhere worse beyond a margin is at most ``alpha``, and so is the chance of
promoting one that is nowhere better.

The p-values are those of the paired bootstrap (see
:func:`rung.evaluation.bootstrap.tail_p`): the share of resampled differences on the null
hypothesis's side of its boundary, ``(1 + #) / (B + 1)`` — the percentile interval inverted
into a test (B. Efron and R. Tibshirani, *An Introduction to the Bootstrap*, 1993, §15.4
and ch. 16; the ``+1`` as in A. C. Davison and D. V. Hinkley, *Bootstrap Methods and their
Application*, 1997, eq. 4.11).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

DEFAULT_ALPHA = 0.05
DECIDE_ON = ("fresh", "datasets", "all")
GATE_ON = ("datasets", "all")
LOSSES = frozenset({"log_loss", "mae", "rmse", "mape", "mse"})
"""Metrics where lower is better (the rest: higher is better), for the default margins."""
_PER_CLASS = re.compile(r"^(precision|recall|f1)_(?!macro$|weighted$|micro$).+")


@dataclass(frozen=True)
class Margin:
    """A non-inferiority margin: ``value`` in the metric's units, or, when ``relative``, a
    fraction of the champion's value (``"5%"`` is 0.05 of it)."""

    value: float
    relative: bool = False

    def absolute(self, champion: float | None) -> float:
        """The margin in the metric's units, given the champion's value."""
        if not self.relative:
            return self.value
        return (
            self.value * abs(champion) if champion is not None and math.isfinite(champion) else 0.0
        )

    def __str__(self) -> str:
        return f"{self.value * 100:g}%" if self.relative else f"{self.value:g}"


def parse_margin(value: Any) -> Margin:
    """``0.02`` (metric units) or ``"2%"`` (of the champion's value) as a :class:`Margin`.

    Raises ValueError naming the value when it is negative, not finite, or another string."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number or a percentage like '2%', got {value!r}")
    if isinstance(value, int | float):
        number, relative = float(value), False
    elif isinstance(value, str) and value.strip().endswith("%"):
        try:
            number, relative = float(value.strip()[:-1]) / 100, True
        except ValueError:
            raise ValueError(f"expected a percentage like '2%', got {value!r}") from None
    else:
        raise ValueError(f"expected a number or a percentage like '2%', got {value!r}")
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"a margin is a finite number >= 0, got {value!r}")
    return Margin(number, relative)


def default_margin(metric: str) -> Margin:
    """The margin of a metric nobody gave one: 0.05 nats of log loss; 1 % of an error
    (MAE, RMSE, MAPE); 0.01 of a rate (accuracy, precision, F1, ROC AUC, R²)."""
    if metric == "log_loss":
        return Margin(0.05)
    if metric in LOSSES:
        return Margin(0.01, relative=True)
    return Margin(0.01)


def is_per_class(metric: str) -> bool:
    """``precision_x``, ``recall_x``, ``f1_x`` of one class (not ``_macro``/``_weighted``)."""
    return bool(_PER_CLASS.match(metric))


@dataclass(frozen=True)
class Policy:
    """The promotion policy, as ``[automate]`` declares it (see docs/automation.md).

    ``decisive``: metric → margin (empty: the default by task, see :meth:`resolve`);
    ``guardrails``: metric → margin (None: the default by task; empty: none); ``alpha``:
    the family-wise error rate of each family of tests; ``decide_on``: ``fresh`` (the served
    rows whose labels came back; the acceptance datasets when there are none),
    ``datasets`` or ``all``; ``gate_on``: where the criteria are judged, ``datasets`` (the
    acceptance datasets; every dataset when there are none) or ``all``; ``manual``: wait
    for a person whenever the decision would promote."""

    decisive: Mapping[str, Margin] = field(default_factory=dict)
    guardrails: Mapping[str, Margin] | None = None
    alpha: float = DEFAULT_ALPHA
    decide_on: str = "fresh"
    gate_on: str = "datasets"
    manual: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {self.alpha!r}")
        if self.decide_on not in DECIDE_ON:
            raise ValueError(f"decide_on must be one of {DECIDE_ON}, got {self.decide_on!r}")
        if self.gate_on not in GATE_ON:
            raise ValueError(f"gate_on must be one of {GATE_ON}, got {self.gate_on!r}")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Policy:
        """From ``[automate]`` as plain data (``decisive``, ``guardrails``, ``alpha``,
        ``decide_on``, ``gate_on``, ``policy``); raises ValueError naming a bad value."""
        guard = config.get("guardrails")
        return cls(
            decisive={m: parse_margin(v) for m, v in (config.get("decisive") or {}).items()},
            guardrails=None if guard is None else {m: parse_margin(v) for m, v in guard.items()},
            alpha=float(config.get("alpha", DEFAULT_ALPHA)),
            decide_on=str(config.get("decide_on", "fresh")),
            gate_on=str(config.get("gate_on", "datasets")),
            manual=config.get("policy", "auto") == "manual",
        )

    def resolve(
        self, criteria: Sequence[Any], regression: bool
    ) -> tuple[dict[str, Margin], dict[str, Margin]]:
        """The decisive and guardrail metrics with their margins, defaults filled in.

        ``criteria`` are parsed :class:`rung.core.criteria.Criterion` s: the first one's
        metric decides by default, and a change threshold on a decisive metric (``accuracy
        drop <= 0.02 vs baseline``) gives its margin (0.02) unless one was declared."""
        decisive = dict(self.decisive)
        if not decisive:
            metric = criteria[0].metric if criteria else ("mae" if regression else "accuracy")
            decisive = {metric: default_margin(metric)}
            for c in criteria:
                if c.change and c.metric == metric:
                    decisive[metric] = Margin(c.bound, c.relative)
                    break
        if self.guardrails is not None:
            guardrails = dict(self.guardrails)
        elif regression:
            guardrails = {"rmse": Margin(0.05, relative=True)}
        else:
            guardrails = {"log_loss": default_margin("log_loss")}
        return decisive, {m: g for m, g in guardrails.items() if m not in decisive}

    def margins(self, criteria: Sequence[Any]) -> dict[str, Margin]:
        """Every metric the policy may test, with its margin, whatever the task: what the
        evaluation computes the veto test at."""
        out: dict[str, Margin] = {}
        for regression in (False, True):
            decisive, guardrails = self.resolve(criteria, regression)
            out.update(guardrails)
            out.update(decisive)
        return out

    def deciding(self, acceptance: Sequence[str], fresh: Sequence[str]) -> list[str]:
        """The datasets whose comparisons decide, by ``decide_on``."""
        if self.decide_on == "all":
            return [*acceptance, *fresh]
        if self.decide_on == "datasets":
            return list(acceptance) or list(fresh)
        return list(fresh) or list(acceptance)

    def gating(self, acceptance: Sequence[str], fresh: Sequence[str]) -> list[str]:
        """The datasets the criteria are judged on, by ``gate_on``."""
        if self.gate_on == "all" or not acceptance:
            return [*acceptance, *fresh]
        return list(acceptance)


# -- Holm -----------------------------------------------------------------------------------


def holm(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Holm's step-down procedure: which hypotheses are rejected, family-wise error ≤ alpha.

    Sort the k p-values ascending; reject the i-th smallest (i = 1..k) while it is at most
    alpha / (k − i + 1), and stop at the first that is not (Holm 1979). Never rejects a
    hypothesis whose own p-value exceeds alpha."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    k = len(p_values)
    for rank, i in enumerate(order):
        if p_values[i] > alpha / (k - rank):
            break
        rejected[i] = True
    return rejected


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values: p̃(i) = max over j ≤ i of min(1, (k − j + 1) p(j)); a
    hypothesis is rejected at level alpha exactly when its adjusted p-value is ≤ alpha."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    k = len(p_values)
    out = [1.0] * k
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (k - rank) * p_values[i]))
        out[i] = running
    return out


# -- the decision ---------------------------------------------------------------------------


@dataclass
class Comparison:
    """One metric on one deciding dataset: the challenger's value ``new``, the champion's
    ``old``, ``delta`` = new − old with its 95 % interval ``low``..``high``, and the paired
    bootstrap's one-sided p-values: ``p_better`` (H0: the challenger is no better) and
    ``p_worse`` (H0: it is not worse by more than ``margin``, in the metric's units)."""

    dataset: str
    metric: str
    new: float
    old: float
    delta: float
    low: float
    high: float
    p_better: float
    p_worse: float
    margin: float

    @classmethod
    def from_delta(cls, dataset: str, metric: str, d: Mapping[str, Any]) -> Comparison | None:
        """From a delta record of an evaluation (``details[dataset]["deltas"][metric]``);
        None when it lacks the p-values (an evaluation made before they were recorded)."""
        if "p_better" not in d or "p_worse" not in d:
            return None
        return cls(
            dataset,
            metric,
            float(d["new"]),
            float(d["old"]),
            float(d["delta"]),
            float(d["low"]),
            float(d["high"]),
            float(d["p_better"]),
            float(d["p_worse"]),
            float(d.get("margin", 0.0)),
        )

    def text(self) -> str:
        """``accuracy on d@1: 0.978 vs 0.562 (+0.4160, 95% CI +0.3700 to +0.4600)``."""
        return (
            f"{self.metric} on {self.dataset}: {self.new:.4g} vs {self.old:.4g}"
            f" ({self.delta:+.4f}, 95% CI {self.low:+.4f} to {self.high:+.4f})"
        )


@dataclass
class Test:
    """One test of the decision: ``kind`` is ``gain`` or ``veto``, ``role`` decisive or
    guardrail; ``p`` the raw one-sided p-value and ``p_holm`` its Holm-adjusted value within
    its family; ``significant`` whether Holm rejects its null hypothesis at alpha."""

    dataset: str
    metric: str
    role: str
    kind: str
    margin: str
    p: float
    p_holm: float
    significant: bool
    line: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Decision:
    """``decision`` (promote, reject or await); ``reasons`` that reject; ``decided_by``: the
    lines naming what decided, in full, each true of the state judged — the tests of the
    metrics that decided; the unmet criteria (then no gain is cited: a gain decided nothing);
    the serving version reproduced; or, without a champion, the acceptance criteria alone;
    ``tests`` every test with its p-values; ``notes`` what was left out and why."""

    decision: str
    reasons: list[str]
    decided_by: list[str]
    tests: list[Test]
    decisive: dict[str, str]
    guardrails: dict[str, str]
    notes: list[str] = field(default_factory=list)

    @property
    def better(self) -> list[str]:
        return [t.line for t in self.tests if t.kind == "gain" and t.significant]

    @property
    def worse(self) -> list[str]:
        return [t.line for t in self.tests if t.kind == "veto" and t.significant]

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reasons": self.reasons,
            "decided_by": self.decided_by,
            "tests": [t.to_dict() for t in self.tests],
            "decisive": self.decisive,
            "guardrails": self.guardrails,
            "better": self.better,
            "worse": self.worse,
            "notes": self.notes,
        }


def decide(
    policy: Policy,
    *,
    decisive: Mapping[str, Margin],
    guardrails: Mapping[str, Margin],
    deciding: Sequence[str],
    comparisons: Sequence[Comparison],
    verdict: str | None,
    failed_checks: Sequence[str] = (),
    champion: bool = True,
    same_version: int | None = None,
) -> Decision:
    """Decide on a challenger.

    ``comparisons``: the paired comparisons on the ``deciding`` datasets (others are
    ignored); ``verdict``: the criteria's status on the gating datasets (``passed``,
    ``failed`` or None for no criteria) with ``failed_checks`` its failed checks' reasons;
    ``champion``: whether there is a champion to compare with (without one, the verdict
    alone decides); ``same_version``: the serving version, when the run produced it again.

    Rejects when the run produced the serving version, when there are no criteria or one is
    not met, when a decisive or guardrail metric is shown worse beyond its margin (Holm over
    every such test), or, with a champion, when no decisive metric is shown better on any
    deciding dataset (Holm over those tests); otherwise promotes, or awaits under manual."""
    reasons: list[str] = []
    notes: list[str] = []
    if same_version is not None:
        reasons.append(f"the run produced the serving version {same_version} again")
    if verdict is None:
        reasons.append("no acceptance criteria: set criteria under [automate] or [eval]")
    elif verdict != "passed":
        reasons += _criteria_lines(verdict, failed_checks)
    tests: list[Test] = []
    decided_by: list[str] = []
    if champion:
        found = {(c.dataset, c.metric): c for c in comparisons if c.dataset in deciding}
        gains: list[tuple[Comparison, str]] = []
        vetoes: list[tuple[Comparison, str, str]] = []
        for metric, margin in decisive.items():
            seen = [found[(d, metric)] for d in deciding if (d, metric) in found]
            missing = [d for d in deciding if (d, metric) not in found]
            if missing:
                notes.append(
                    f"decisive {metric} was not compared on {', '.join(missing)}"
                    " (no paired values: the metric is missing there, or one model could not"
                    " give it)"
                )
            gains += [(c, str(margin)) for c in seen]
            vetoes += [(c, "decisive", str(margin)) for c in seen]
        for metric, margin in guardrails.items():
            seen = [found[(d, metric)] for d in deciding if (d, metric) in found]
            if not seen:
                notes.append(f"guardrail {metric} was not compared (not computed for both)")
            vetoes += [(c, "guardrail", str(margin)) for c in seen]
        gain_holm = holm_adjusted([c.p_better for c, _ in gains])
        for (c, spec), p_adj in zip(gains, gain_holm, strict=True):
            significant = p_adj <= policy.alpha
            line = (
                f"{c.text()}: {'better' if significant else 'not shown better'}"
                f" (p {c.p_better:.3g}, Holm {p_adj:.3g})"
            )
            tests.append(
                Test(
                    c.dataset,
                    c.metric,
                    "decisive",
                    "gain",
                    spec,
                    c.p_better,
                    p_adj,
                    significant,
                    line,
                )
            )
        kept = []
        for c, role, spec in vetoes:
            wanted = (decisive if role == "decisive" else guardrails)[c.metric].absolute(c.old)
            if math.isclose(c.margin, wanted, rel_tol=1e-9, abs_tol=1e-12):
                kept.append((c, role, spec))
            else:  # the evaluation tested another margin (the policy changed since)
                notes.append(
                    f"{c.metric} on {c.dataset} was tested at the margin {c.margin:g}, not"
                    f" {wanted:g}: no veto test (evaluate again to test it)"
                )
        vetoes = kept
        veto_holm = holm_adjusted([c.p_worse for c, _, _ in vetoes])
        for (c, role, spec), p_adj in zip(vetoes, veto_holm, strict=True):
            significant = p_adj <= policy.alpha
            state = "worse beyond" if significant else "not shown worse beyond"
            line = (
                f"{c.text()}: {state} the margin {c.margin:.4g}"
                f"{f' ({spec})' if spec.endswith('%') else ''}"
                f" (p {c.p_worse:.3g}, Holm {p_adj:.3g})"
            )
            tests.append(
                Test(c.dataset, c.metric, role, "veto", spec, c.p_worse, p_adj, significant, line)
            )
        worse = [t for t in tests if t.kind == "veto" and t.significant]
        better = [t for t in tests if t.kind == "gain" and t.significant]
        reasons += [f"significantly worse: {t.line} ({t.role})" for t in worse]
        if not gains:
            names = ", ".join(decisive)
            reasons.append(
                f"no paired comparison of the decisive metric {names} on {', '.join(deciding) or 'any dataset'}:"
                " nothing shows the challenger better"
            )
        elif not better and not any(t.role == "decisive" for t in worse):
            reasons.append(
                "no decisive metric shown better than the champion (a tie keeps the champion): "
                + "; ".join(t.line for t in tests if t.kind == "gain")
            )
        if worse:  # a veto decides; a gain it overrules is noted, never cited as deciding
            decided_by = [t.line for t in worse]
            notes += [f"shown better, but vetoed: {t.line}" for t in better]
        else:
            decided_by = [t.line for t in better] or [t.line for t in tests if t.kind == "gain"]
        if verdict != "passed":  # the criteria rejected it: a gain decided nothing
            decided_by = _criteria_lines(verdict, failed_checks) + [t.line for t in worse]
    elif same_version is None:
        head = f"no champion to compare {', '.join(decisive)} with"
        if verdict is None:
            decided_by = [head, *_criteria_lines(verdict, failed_checks)]
        else:
            met = "met" if verdict == "passed" else "not met"
            decided_by = [f"{head}: the acceptance criteria alone decide ({met})"]
            if verdict != "passed":
                decided_by += _criteria_lines(verdict, failed_checks)
    if same_version is not None:  # nothing was compared: the run made nothing new
        decided_by = [reasons[0]]
    decision = "reject" if reasons else "await" if policy.manual else "promote"
    return Decision(
        decision,
        reasons,
        decided_by,
        tests,
        {m: str(v) for m, v in decisive.items()},
        {m: str(v) for m, v in guardrails.items()},
        notes,
    )


def _criteria_lines(verdict: str | None, failed_checks: Sequence[str]) -> list[str]:
    """The lines of a rejection by the acceptance criteria (as in the reasons)."""
    if verdict is None:
        return ["no acceptance criteria"]
    return [f"criterion not met: {r}" for r in failed_checks] or ["criterion not met"]
