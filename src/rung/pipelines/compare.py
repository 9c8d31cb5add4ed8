"""Runs side by side: what :meth:`Runs.compare <rung.pipelines.history.Runs.compare>`,
``rung compare RUN RUN …`` and the UI's compare view show.

Each run (as :meth:`Runs.get <rung.pipelines.history.Runs.get>` records it) becomes one
column of rows, in sections:

* ``run`` — name, kind, status, trigger, started (UNIX seconds, to the whole second as
  shown), seconds taken (to the millisecond), reproduces;
* ``params`` — every parameter any of the runs has;
* ``metrics`` — the last value of every metric any of the runs logged;
* ``code`` — commit, dirty, source hash;
* ``data`` — the dataset versions each read (``NAME@VERSION``, sorted, joined by ``, ``);
* ``environment`` — Python, platform and each package's version;
* ``steps`` — per step name: cache ``hit`` or ``miss`` (timings are in each run's own view:
  they always differ).

A row *differs* when its values are not all equal (a run without the field counts as a value
of its own, None). ``only_differences`` keeps those rows: the compare view's toggle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

SECTIONS = ("run", "params", "metrics", "code", "data", "environment", "steps")


@dataclass(frozen=True)
class Row:
    """One compared field: its section, its name and each run's value (None: absent)."""

    section: str
    key: str
    values: tuple[Any, ...]

    @property
    def differs(self) -> bool:
        first = self.values[0]
        return any(not _same(first, v) for v in self.values[1:])

    def to_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "key": self.key,
            "values": list(self.values),
            "differs": self.differs,
        }


def _same(a: Any, b: Any) -> bool:
    """Equal values, NaN equal to NaN (a metric that is NaN in both runs does not differ)."""
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return bool(type(a) is type(b) and a == b) or (
        isinstance(a, int | float)
        and isinstance(b, int | float)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


def compare(runs: list[dict[str, Any]], only_differences: bool = False) -> list[Row]:
    """The rows comparing ``runs`` (each a :meth:`Runs.get` record), section by section,
    keys in the order they first appear; only those that differ if ``only_differences``."""
    fields = [_fields(r) for r in runs]
    rows: list[Row] = []
    for section in SECTIONS:
        keys: dict[str, None] = {}
        for f in fields:
            keys.update(dict.fromkeys(f.get(section, {})))
        for key in keys:
            row = Row(section, key, tuple(f.get(section, {}).get(key) for f in fields))
            if not only_differences or row.differs:
                rows.append(row)
    return rows


def _fields(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    ended, started = run.get("ended_at"), run.get("started_at")
    env = run.get("environment") or {}
    code = run.get("code") or {}
    reads = run.get("data_reads") or []
    out: dict[str, dict[str, Any]] = {
        "run": {
            "name": run.get("name"),
            "kind": run.get("kind"),
            "status": run.get("status"),
            "trigger": run.get("trigger"),
            # to the second, as shown: runs started within one second do not differ
            "started_at": None if started is None else math.floor(started),
            "seconds": None if ended is None or started is None else round(ended - started, 3),
            "reproduces": run.get("reproduces"),
        },
        "params": dict(run.get("params") or {}),
        "metrics": dict(run.get("metrics") or {}),
        "code": {
            "commit": code.get("commit"),
            "dirty": code.get("dirty"),
            "hash": code.get("hash"),
        },
        "data": {"read": ", ".join(sorted({str(r.get("dataset")) for r in reads})) or None},
        "environment": {
            **{k: v for k, v in env.items() if k != "packages" and not isinstance(v, dict)},
            **{f"packages.{k}": v for k, v in (env.get("packages") or {}).items()},
        },
        "steps": {},
    }
    for step in run.get("steps") or []:  # timings always differ: the cache's answer does not
        out["steps"][str(step.get("name"))] = "hit" if step.get("cache_hit") else "miss"
    return out
