"""The promotion policy (rung.core.policy), pure: margins, Holm, the decision's rules, and the
bootstrap p-values it reads — tested as kinds with hypothesis, then on simulated champion /
challenger pairs through the real paired bootstrap."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rung.core.criteria import parse_criteria
from rung.core.policy import (
    Comparison,
    Margin,
    Policy,
    decide,
    default_margin,
    holm,
    holm_adjusted,
    is_per_class,
    parse_margin,
)
from rung.evaluation.bootstrap import tail_p

p_values = st.lists(st.floats(0, 1, allow_nan=False), min_size=0, max_size=40)
alphas = st.floats(0.001, 0.5)


# -- Holm -----------------------------------------------------------------------------------


@given(p_values, alphas)
def test_holm_never_rejects_more_than_unadjusted_tests(ps: list[float], alpha: float) -> None:
    rejected = holm(ps, alpha)
    assert all(p <= alpha for p, r in zip(ps, rejected, strict=True) if r)
    assert sum(rejected) <= sum(p <= alpha for p in ps)
    # and at least what Bonferroni rejects
    assert all(r for p, r in zip(ps, rejected, strict=True) if p <= alpha / max(len(ps), 1))


@given(p_values, alphas)
def test_holm_adjusted_p_values_agree_with_the_step_down(ps: list[float], alpha: float) -> None:
    adjusted = holm_adjusted(ps)
    assert holm(ps, alpha) == [a <= alpha for a in adjusted]
    assert all(p <= a <= 1 for p, a in zip(ps, adjusted, strict=True))
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    assert all(adjusted[i] <= adjusted[j] for i, j in itertools.pairwise(order))


def test_holm_controls_the_family_wise_error_rate_under_the_null() -> None:
    """Ten true null hypotheses, 4,000 families: at most alpha of them reject anything."""
    rng = np.random.default_rng(7)
    families = rng.random((4000, 10))
    rate = np.mean([any(holm(list(f), 0.05)) for f in families])
    unadjusted = np.mean((families <= 0.05).any(axis=1))
    assert rate <= 0.05 + 0.01 and unadjusted > 0.3  # uncorrected: ~40 % of families


def test_holm_on_the_textbook_example() -> None:
    # Holm (1979)-style: 0.01 <= 0.05/4, 0.02 <= 0.05/3, 0.03 > 0.05/2: stop
    assert holm([0.03, 0.01, 0.04, 0.012], 0.05) == [False, True, False, True]
    assert holm([0.03, 0.01, 0.04, 0.02], 0.05) == [False, True, False, False]
    assert holm_adjusted([0.01, 0.02, 0.03, 0.04]) == pytest.approx([0.04, 0.06, 0.06, 0.06])
    assert holm([], 0.05) == []


# -- margins --------------------------------------------------------------------------------


def test_margins_parse_as_numbers_or_percentages_and_bad_ones_are_named() -> None:
    assert parse_margin(0.02) == Margin(0.02)
    assert parse_margin(0) == Margin(0.0)
    assert parse_margin("5%") == Margin(0.05, relative=True)
    assert Margin(0.05, True).absolute(-40.0) == pytest.approx(2.0)
    assert str(Margin(0.05, True)) == "5%" and str(Margin(0.02)) == "0.02"
    for bad in (-0.1, "abc", "-2%", True, math.inf, "x%", None):
        with pytest.raises(ValueError, match=repr(bad) if bad is not None else "None"):
            parse_margin(bad)


def test_defaults_fit_the_task() -> None:
    policy = Policy()
    assert policy.resolve([], regression=False) == (
        {"accuracy": Margin(0.01)},
        {"log_loss": Margin(0.05)},
    )
    assert policy.resolve([], regression=True) == (
        {"mae": Margin(0.01, True)},
        {"rmse": Margin(0.05, True)},
    )
    # the first criterion's metric decides, with a change threshold's bound as its margin
    crit = parse_criteria(["precision_down >= 0.75", "precision_down drop <= 0.03 vs baseline"])
    assert policy.resolve(crit, regression=False)[0] == {"precision_down": Margin(0.03)}
    crit = parse_criteria(["mae rise <= 4% vs baseline on every dataset"])
    assert policy.resolve(crit, regression=True)[0] == {"mae": Margin(0.04, True)}
    # declared ones win; a guardrail also declared decisive is decisive only; {} is none
    declared = Policy(decisive={"f1_macro": Margin(0.0)}, guardrails={"f1_macro": Margin(1)})
    assert declared.resolve(crit, regression=False) == ({"f1_macro": Margin(0.0)}, {})
    assert Policy(guardrails={}).resolve([], regression=False)[1] == {}
    assert default_margin("mape") == Margin(0.01, True)


def test_dataset_roles() -> None:
    fresh, acceptance = ["m-served@3"], ["holdout@1", "djia@2"]
    policy = Policy()
    assert policy.deciding(acceptance, fresh) == fresh
    assert policy.deciding(acceptance, []) == acceptance  # no fresh rows: the acceptance sets
    assert policy.gating(acceptance, fresh) == acceptance
    assert policy.gating([], fresh) == fresh  # nothing else to judge the criteria on
    every = Policy(decide_on="all", gate_on="all")
    assert (
        every.deciding(acceptance, fresh)
        == every.gating(acceptance, fresh)
        == [
            *acceptance,
            *fresh,
        ]
    )
    assert Policy(decide_on="datasets").deciding(acceptance, fresh) == acceptance
    with pytest.raises(ValueError, match="decide_on"):
        Policy(decide_on="served")
    with pytest.raises(ValueError, match="alpha"):
        Policy(alpha=1.0)


def test_per_class_metrics_are_recognised() -> None:
    assert is_per_class("precision_benign") and is_per_class("recall_1") and is_per_class("f1_up")
    assert not any(map(is_per_class, ["f1_macro", "precision_weighted", "accuracy", "log_loss"]))


# -- the bootstrap p-values -------------------------------------------------------------------


samples = st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=300).map(np.array)


@given(samples, st.floats(0, 0.5), st.booleans())
def test_p_values_are_shares_of_resamples_never_zero(
    s: np.ndarray, margin: float, higher: bool
) -> None:
    better, worse = tail_p(s, higher, 0.0, "better"), tail_p(s, higher, margin, "worse")
    assert 1 / (len(s) + 1) <= better <= 1 and 1 / (len(s) + 1) <= worse <= 1
    oriented = s if higher else -s
    if (oriented >= -margin).all():  # every resample inside the margin: never "worse"
        assert worse == 1.0
    if (oriented <= 0).all():
        assert better == 1.0
    # a wider margin never makes "worse" more significant
    assert tail_p(s, higher, margin + 0.1, "worse") >= worse


def test_identical_predictions_are_neither_better_nor_worse() -> None:
    zeros = np.zeros(1000)
    assert tail_p(zeros, True, 0.0, "better") == 1.0
    assert tail_p(zeros, True, 0.0, "worse") == 1.0  # equal is not worse, even at margin 0


# -- the decision ---------------------------------------------------------------------------


def comparison(
    metric: str,
    dataset: str,
    draws: np.ndarray,
    higher: bool = True,
    margin: float = 0.0,
    old: float = 0.5,
) -> Comparison:
    delta = float(np.median(draws))
    lo, hi = (float(v) for v in np.percentile(draws, [2.5, 97.5]))
    return Comparison.from_delta(
        dataset,
        metric,
        {
            "new": old + delta,
            "old": old,
            "delta": delta,
            "low": lo,
            "high": hi,
            "p_better": tail_p(draws, higher, 0.0, "better"),
            "p_worse": tail_p(draws, higher, margin, "worse"),
            "margin": margin,
        },
    )  # type: ignore[return-value]


def run(policy: Policy, comparisons: list[Comparison], **kw: Any) -> Any:
    decisive, guardrails = policy.resolve(kw.pop("criteria", []), regression=False)
    return decide(
        policy,
        decisive=decisive,
        guardrails=guardrails,
        deciding=kw.pop("deciding", ["served@1"]),
        comparisons=comparisons,
        verdict=kw.pop("verdict", "passed"),
        **kw,
    )


centres = st.floats(-0.3, 0.3)
spreads = st.floats(0.0001, 0.2)
seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=60, deadline=None)
@given(centres, spreads, seeds, st.floats(0, 0.1))
def test_a_decisive_metric_within_its_margin_never_rejects_for_it(
    centre: float, spread: float, seed: int, margin: float
) -> None:
    draws = np.random.default_rng(seed).normal(centre, spread, 1000)
    draws = np.clip(draws, -margin, None)  # every resample inside the margin
    policy = Policy(decisive={"accuracy": Margin(margin)}, guardrails={})
    out = run(policy, [comparison("accuracy", "served@1", draws, margin=margin)])
    assert not [r for r in out.reasons if r.startswith("significantly worse")]
    assert out.worse == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["precision", "recall", "f1"]),
            st.sampled_from(["benign", "malignant", "yes", "1"]),
        ),
        min_size=1,
        max_size=6,
        unique=True,
    ),
    seeds,
)
def test_per_class_metrics_never_veto_unless_named(names: list[tuple[str, str]], seed: int) -> None:
    rng = np.random.default_rng(seed)
    good = comparison("accuracy", "served@1", rng.normal(0.4, 0.02, 1000))
    drops = [
        comparison(f"{kind}_{label}", "served@1", rng.normal(-0.3, 0.01, 1000), margin=0.05)
        for kind, label in names
    ]
    out = run(Policy(), [good, *drops])
    assert out.decision == "promote" and out.worse == [], out.reasons
    named = f"{names[0][0]}_{names[0][1]}"
    guarded = run(Policy(guardrails={named: Margin(0.05)}), [good, *drops])
    assert guarded.decision == "reject" and named in guarded.worse[0]


def test_the_issues_example_a_log_loss_rise_inside_its_margin_does_not_veto() -> None:
    """Accuracy 0.978 vs 0.562 on the served rows; log loss +0.0201 (95% CI +0.0110 to
    +0.0310) on a holdout where both score accuracy 1.0: the holdout's comparisons do not
    decide (roles), and even when they do, +0.02 nats is inside the 0.05 margin."""
    rng = np.random.default_rng(3)
    served = comparison("accuracy", "cancer-served@2", rng.normal(0.416, 0.03, 1000), old=0.562)
    tie = comparison("accuracy", "cancer_holdout@1", np.zeros(1000), old=1.0)
    loss = comparison(
        "log_loss", "cancer_holdout@1", rng.normal(0.0201, 0.0051, 1000), False, 0.05, 0.03
    )
    assert loss.high < 0.05 and loss.low > 0  # "significantly worse" at margin 0, as seen
    for deciding in (["cancer-served@2"], ["cancer-served@2", "cancer_holdout@1"]):
        out = run(Policy(), [served, tie, loss], deciding=deciding)
        assert out.decision == "promote", out.reasons
        assert "accuracy on cancer-served@2" in out.decided_by[0]
    # at margin 0 the same rise does veto: the margin, not luck, keeps it out
    strict = Policy(guardrails={"log_loss": Margin(0.0)})
    loss0 = comparison("log_loss", "cancer_holdout@1", rng.normal(0.0201, 0.0051, 1000), False)
    out = run(strict, [served, tie, loss0], deciding=["cancer-served@2", "cancer_holdout@1"])
    assert out.decision == "reject" and "log_loss on cancer_holdout@1" in out.worse[0]


def test_the_rules_of_the_decision() -> None:
    rng = np.random.default_rng(11)
    better = comparison("accuracy", "served@1", rng.normal(0.2, 0.02, 1000))
    tie = comparison("accuracy", "served@1", rng.normal(0.0, 0.02, 1000))
    worse = comparison("accuracy", "served@1", rng.normal(-0.2, 0.02, 1000), margin=0.01)
    assert run(Policy(), [better]).decision == "promote"
    assert run(Policy(manual=True), [better]).decision == "await"
    out = run(Policy(), [tie])
    assert out.decision == "reject" and "a tie keeps the champion" in out.reasons[0]
    out = run(Policy(), [worse])
    assert out.decision == "reject" and out.worse and "(decisive)" in out.reasons[0]
    out = run(Policy(), [better], verdict="failed", failed_checks=["accuracy = 0.5 misses"])
    assert out.reasons == ["criterion not met: accuracy = 0.5 misses"]
    assert run(Policy(), [better], verdict=None).decision == "reject"
    assert run(Policy(), [better], same_version=3).reasons == [
        "the run produced the serving version 3 again"
    ]
    out = run(Policy(), [], champion=False)  # the first champion: the verdict decides
    assert out.decision == "promote" and out.tests == []
    assert out.decided_by == [
        "no champion to compare accuracy with: the acceptance criteria alone decide (met)"
    ]
    out = run(Policy(), [])  # a champion, but nothing compared: no gain shown
    assert out.decision == "reject" and "no paired comparison" in out.reasons[0]
    # an evaluation tested at another margin: noted, no veto test
    out = run(Policy(decisive={"accuracy": Margin(0.05)}, guardrails={}), [worse])
    assert [t.kind for t in out.tests] == ["gain"] and "tested at the margin" in out.notes[0]


def test_every_decision_names_its_decisive_metric() -> None:
    rng = np.random.default_rng(5)
    for centre in (-0.2, 0.0, 0.2):
        out = run(Policy(), [comparison("accuracy", "served@1", rng.normal(centre, 0.02, 1000))])
        assert out.decided_by and all("accuracy on served@1" in line for line in out.decided_by)


def _pair(decisive: str, guardrail: str) -> list[Comparison]:
    """A decisive accuracy comparison (better, tie, worse) and a log-loss guardrail one (ok,
    worse beyond its 0.05 margin), on served@1, from fixed draws."""
    rng = np.random.default_rng(3)
    centre = {"better": 0.2, "tie": 0.0, "worse": -0.2}[decisive]
    loss = {"ok": 0.0, "worse": 0.4}[guardrail]
    return [
        comparison("accuracy", "served@1", rng.normal(centre, 0.02, 1000), margin=0.01),
        comparison("log_loss", "served@1", rng.normal(loss, 0.02, 1000), False, 0.05),
    ]


STATES = list(
    itertools.product(
        ("none", "same", "present"),  # the champion: none, the run reproduced it, another
        ("better", "tie", "worse"),  # the decisive metric
        ("ok", "worse"),  # the guardrail
        ("passed", "failed", None),  # the criteria's verdict (None: no criteria)
        (False, True),  # manual: wait for a person
    )
)


@pytest.mark.parametrize(("champion", "decisive", "guardrail", "verdict", "manual"), STATES)
def test_every_decision_text_is_true_of_the_state(
    champion: str, decisive: str, guardrail: str, verdict: str | None, manual: bool
) -> None:
    """The kind of the issue's "no champion to compare with" said of a run that reproduced
    the serving version: every reason and every decided-by line states what holds — over
    every champion / challenger pair (none, same version, better, tie, worse, guardrail
    veto) × verdict × manual wait."""
    out = run(
        Policy(manual=manual),
        _pair(decisive, guardrail) if champion == "present" else [],
        verdict=verdict,
        failed_checks=["accuracy = 0.5 < 0.6"] if verdict == "failed" else [],
        champion=champion == "present",
        same_version=4 if champion == "same" else None,
    )
    text = out.reasons + out.decided_by
    assert out.decided_by, "every decision says what decided it"
    # a champion there is never denied
    assert (champion == "none") == any("no champion" in line for line in out.decided_by)
    if champion == "same":
        assert out.decision == "reject"
        assert out.decided_by == ["the run produced the serving version 4 again"]
        assert out.reasons[0] == out.decided_by[0] and out.tests == []
    # the criteria: unmet ones are named; "the criteria decide" only when there are some
    if verdict == "failed":
        assert "criterion not met: accuracy = 0.5 < 0.6" in out.reasons
        assert out.decision == "reject"
    if verdict is None:
        assert any("no acceptance criteria" in line for line in text)
        assert not any("criteria alone decide" in line for line in text)
    if champion == "none" and verdict == "passed":
        assert out.decided_by == [
            "no champion to compare accuracy with: the acceptance criteria alone decide (met)"
        ]
    # a line that calls a metric better or worse is a significant test saying so
    better = set(out.better)
    worse = set(out.worse)
    for line in out.decided_by:
        if ": better (" in line:
            assert line in better
            assert out.decision != "reject", "a gain decides nothing in a rejection"
        if ": worse beyond" in line:
            assert line in worse
    # a rejection is decided by a line among its reasons; a promotion or a wait has none
    if out.decision == "reject":
        assert out.reasons
        assert any(line in r for line in out.decided_by for r in out.reasons)
    else:
        assert not out.reasons and verdict == "passed" and champion != "same"
        assert out.decision == ("await" if manual else "promote")
        assert not any("not shown better" in line for line in out.decided_by)
    # the tie's words only for a tie, and a veto's only for what was shown worse
    tie = any("a tie keeps the champion" in r for r in out.reasons)
    assert tie == (champion == "present" and not out.better and decisive != "worse")
    vetoed = [r for r in out.reasons if r.startswith("significantly worse")]
    assert bool(vetoed) == bool(out.worse)
    # a gain a veto overruled is noted as such
    vetoed_gains = [n for n in out.notes if n.startswith("shown better, but vetoed: ")]
    assert len(vetoed_gains) == (len(out.better) if out.worse else 0)
    if champion == "present":
        assert ("log_loss" in " ".join(vetoed)) == (guardrail == "worse")
        assert ("accuracy" in " ".join(vetoed)) == (decisive == "worse")


# -- simulated pairs through the real paired bootstrap --------------------------------------


def simulate(n: int, p_old: float, p_new: float, seed: int, shared: float = 0.7) -> Any:
    """Two classifiers on n rows: right with probabilities p_old, p_new, their errors
    correlated (a share ``shared`` of rows gets the same draw), through paired_deltas."""
    from rung.evaluation.bootstrap import paired_deltas
    from rung.evaluation.metrics import resolve

    rng = np.random.default_rng(seed)
    y = rng.choice(["no", "yes"], n)
    u_old = rng.random(n)
    u_new = np.where(rng.random(n) < shared, u_old, rng.random(n))
    other = np.where(y == "yes", "no", "yes")
    old = np.where(u_old < p_old, y, other)
    new = np.where(u_new < p_new, y, other)
    fns = resolve(None, "classification", {})
    names = ["accuracy", "precision_yes", "recall_no", "f1_macro"]
    margins = {"accuracy": Margin(0.01)}
    deltas = paired_deltas(y, new, old, None, None, ["no", "yes"], fns, names, margins)
    return [Comparison.from_delta("served@1", m, d) for m, d in deltas.items()]


def test_noisy_ties_promote_at_most_alpha_of_the_time() -> None:
    """200 ties (both right 75 % of the time on 300 rows): the share promoted stays within
    alpha (Holm over the one decisive test), and none is rejected as worse more often."""
    decisions = [run(Policy(), simulate(300, 0.75, 0.75, seed)) for seed in range(200)]
    promoted = sum(d.decision == "promote" for d in decisions) / len(decisions)
    vetoed = sum(bool(d.worse) for d in decisions) / len(decisions)
    assert promoted <= 0.05 + 0.03 and vetoed <= 0.05 + 0.03


def test_clearly_better_is_promoted_and_truly_worse_is_rejected() -> None:
    for seed in range(10):
        assert run(Policy(), simulate(300, 0.6, 0.85, seed)).decision == "promote"
        out = run(Policy(), simulate(300, 0.85, 0.6, seed))
        assert out.decision == "reject" and out.worse
