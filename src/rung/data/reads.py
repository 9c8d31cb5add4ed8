"""Which dataset versions a running pipeline resolved, and the pins a reproduction follows.

Every dataset reference resolved at run time goes through :meth:`Datasets.get
<rung.data.datasets.Datasets.get>` — ``rung.dataset("x")`` in a pipeline body, a step's
``rung.dataset`` or ``ws.data.get("x")`` inside its body, ``rung.check_schema(df, "x@1")``,
an evaluation run from a step. While a run executes, a :class:`DataReads` is active in the
current context (a :mod:`contextvars` variable, so threads and other runs are not affected):

* every resolution is recorded (``ref`` as written, the ``dataset`` version it resolved to,
  the ``step`` that read it — None for the pipeline body — and its ``step_run`` id), and
  stored with the run;
* an unversioned reference ``x`` resolves to the version in ``pins`` when one is set, which
  is how ``rung reproduce`` re-reads what the original run read instead of the newest version.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any

_MAX_READS = 1000  # a step that reads in a loop records each distinct read once, up to this


@dataclass
class DataReads:
    """The reads of one run; ``pins`` maps a dataset name to the version unversioned
    references of that name resolve to."""

    pins: dict[str, int] = field(default_factory=dict)
    step: str | None = None  # the step reading, None in the pipeline body
    step_run: int | None = None  # its step run's id
    reads: list[dict[str, Any]] = field(default_factory=list)
    _seen: set[tuple[str, str, int | None]] = field(default_factory=set)

    def pinned(self, name: str) -> int | None:
        return self.pins.get(name)

    def record(self, ref: str, dataset: str) -> None:
        key = (ref, dataset, self.step_run)
        if key in self._seen or len(self.reads) >= _MAX_READS:
            return
        self._seen.add(key)
        entry: dict[str, Any] = {"ref": ref, "dataset": dataset, "step": self.step}
        if self.step_run is not None:
            entry["step_run"] = self.step_run
        if "@" not in ref and ref.partition("@")[0] in self.pins:
            entry["pinned"] = True
        self.reads.append(entry)


_active: contextvars.ContextVar[DataReads | None] = contextvars.ContextVar(
    "rung_data_reads", default=None
)


def active() -> DataReads | None:
    """The reads being recorded in this context, or None outside a running pipeline."""
    return _active.get()


def activate(reads: DataReads | None) -> contextvars.Token[DataReads | None]:
    return _active.set(reads)


def deactivate(token: contextvars.Token[DataReads | None]) -> None:
    _active.reset(token)


def pins_from(reads: list[dict[str, Any]]) -> dict[str, int]:
    """The pins that make a reproduction resolve as the recorded ``reads`` did: for each name
    read without a version, the version it resolved to (the first, should a run have seen a
    new version appear while it ran); names only read with explicit versions are not pinned
    (an explicit version already resolves to itself)."""
    pins: dict[str, int] = {}
    for entry in reads:
        name, sep, _ = str(entry["ref"]).partition("@")
        if sep:
            continue
        dname, _, version = str(entry["dataset"]).rpartition("@")
        if dname == name and version.isdigit():
            pins.setdefault(name, int(version))
    return pins


def unversioned(entry: dict[str, Any]) -> bool:
    """True for a recorded read of a bare ``NAME`` (which may resolve otherwise later)."""
    return "@" not in str(entry["ref"])
