"""Acceptance criteria: parsing, the TFX-style rules, and every reason listed."""

from __future__ import annotations

import pytest

from rung.core.criteria import judge, parse_criteria, parse_criterion
from rung.core.errors import InvalidInput

RESULTS = {
    "datasets": {
        "sp500": {"precision_down": 0.8, "f1": 0.6, "top_error": "down"},
        "djia": {"precision_down": 0.7, "f1": 0.5, "top_error": "up"},
    },
    "mean": {"precision_down": 0.75, "f1": 0.55, "top_error": "-"},
    "slices": {"sp500": {"year": {2008: {"precision_down": 0.9}, 2009: {"precision_down": 0.4}}}},
}


def test_parse_forms() -> None:
    c = parse_criterion("precision_down >= 0.75 on every dataset")
    assert (c.metric, c.op, c.bound, c.scope, c.target, c.change) == (
        "precision_down",
        ">=",
        0.75,
        "dataset",
        None,
        None,
    )
    assert parse_criterion("mean f1 >= 0.6").scope == "mean"
    assert parse_criterion("f1 >= 0.6 on the mean").scope == "mean"
    assert parse_criterion("f1 >= 0.6 on dataset djia").target == "djia"
    assert parse_criterion("precision_down >= 0.5 on every slice year").target == "year"
    assert parse_criterion("precision_down >= 0.5 on slice year=2008").target == "year=2008"
    ch = parse_criterion("f1 drop <= 0.01 vs champion on every dataset")
    assert (ch.change, ch.bound, ch.relative) == ("drop", 0.01, False)
    rel = parse_criterion("mae rise <= 5% vs baseline on the mean")
    assert (rel.change, rel.bound, rel.relative, rel.scope) == ("rise", 0.05, True, "mean")


@pytest.mark.parametrize(
    "bad",
    [
        "precision >= high",
        "precision",
        ">= 0.5",
        "f1 >= 0.5 on everything",
        "f1 >= 5%",
        "f1 drop >= 0.1 vs baseline",
    ],
)
def test_malformed_criteria_name_the_text_and_show_the_form(bad: str) -> None:
    with pytest.raises(InvalidInput, match="malformed criterion") as info:
        parse_criterion(bad)
    assert repr(bad) in str(info.value)


def test_no_criteria_means_no_verdict() -> None:
    verdict = judge([], RESULTS)
    assert verdict.status is None and "no acceptance criteria" in verdict.notes[0]


def test_every_failing_place_is_listed() -> None:
    verdict = judge(
        parse_criteria(["precision_down >= 0.75 on every dataset", "mean f1 >= 0.5"]), RESULTS
    )
    assert verdict.status == "failed"
    assert verdict.reasons == ["precision_down = 0.7 at dataset djia misses >= 0.75"]
    assert len(verdict.checks) == 3


def test_a_missing_metric_fails() -> None:
    verdict = judge(parse_criteria(["recall >= 0.1", "top_error >= 0.5"]), RESULTS)
    assert verdict.status == "failed"
    assert any("metric 'recall' is missing at dataset sp500" in r for r in verdict.reasons)
    assert any("metric 'top_error' is missing" in r for r in verdict.reasons)


def test_slices() -> None:
    verdict = judge(parse_criteria(["precision_down >= 0.5 on every slice year"]), RESULTS)
    assert verdict.reasons == [
        "precision_down = 0.4 at dataset sp500, slice year=2009 misses >= 0.5"
    ]
    assert (
        judge(parse_criteria(["precision_down >= 0.5 on slice year=2008"]), RESULTS).status
        == "passed"
    )
    missing = judge(parse_criteria(["precision_down >= 0.5 on every slice regime"]), RESULTS)
    assert missing.status == "failed" and "slice regime has no results" in missing.reasons[0]


def test_change_thresholds_need_a_baseline_and_say_so() -> None:
    criteria = parse_criteria(["f1 drop <= 0.01 vs champion", "precision_down >= 0.6"])
    first = judge(criteria, RESULTS)
    assert first.status == "passed"
    assert "judged on absolute bounds alone" in first.notes[0]
    baseline = {"datasets": {"sp500": {"f1": 0.6}, "djia": {"f1": 0.52}}, "mean": {"f1": 0.56}}
    second = judge(criteria, RESULTS, baseline)
    assert second.status == "failed"
    assert second.reasons == ["f1 drop of 0.02 at dataset djia (0.52 → 0.5) exceeds 0.01"]
    relative = judge(parse_criteria(["f1 drop <= 5% vs baseline on the mean"]), RESULTS, baseline)
    assert relative.status == "passed"  # 0.56 → 0.55 is a 1.8% drop
