"""The same column kinds, zones included, through data validate and data diff (CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import rung_cli


@pytest.mark.parametrize(
    ("zone_a", "zone_b"),
    [("Europe/Paris", "UTC"), ("UTC", "America/New_York"), ("Asia/Tokyo", "Europe/Paris")],
)
def test_a_time_zone_change_is_a_schema_skew_and_shown_in_diff(
    sqlite_ws, tmp_path: Path, zone_a: str, zone_b: str
) -> None:  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    when = pd.date_range("2024-01-01", periods=50, freq="h", tz=zone_a)
    frame = pd.DataFrame({"when": when, "x": range(50)})
    ws.data.add(frame, name="awk")
    ws.data.add(frame.assign(when=frame["when"].dt.tz_convert(zone_b)), name="awk")
    schema = tmp_path / "schema.json"
    out = rung_cli("data", "schema", "awk@1", "-o", str(schema), cwd=ws.root)
    assert out.returncode == 0, out.stderr
    # the same instants in another zone: a schema skew, named
    out = rung_cli("data", "validate", "awk@2", "--schema", str(schema), cwd=ws.root)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"time zone changed from {zone_a} to {zone_b}" in out.stdout + out.stderr
    as_json = rung_cli("data", "validate", "awk@2", "--schema", str(schema), "--json", cwd=ws.root)
    report = json.loads(as_json.stdout)
    assert [(a["column"], a["problem"]) for a in report["schema_skew"]] == [
        ("when", "timezone_change")
    ]
    assert report["value_skew"] == []
    # the same zone: no anomaly
    same = rung_cli("data", "validate", "awk@1", "--schema", str(schema), cwd=ws.root)
    assert same.returncode == 0 and "timezone" not in same.stdout
    diff = rung_cli("data", "diff", "awk@1", "awk@2", cwd=ws.root)
    assert diff.returncode == 0, diff.stderr
    assert f"({zone_a}) → datetime64" in diff.stdout and f"({zone_b})" in diff.stdout
