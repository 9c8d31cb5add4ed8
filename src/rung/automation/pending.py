"""What a trigger's state does with one observation: the debounce, and pending triggers.

A trigger's state (a JSON object kept in ``automation_state``, one per model and trigger) is
changed here, without I/O, so that the rule is written once and can be tested on any
sequence of observations:

* an observation is a reason (the condition holds), ``None`` (it does not) or
  :data:`UNSEEN` (nothing new to judge: neither breaks nor extends a streak);
* a condition that holds on ``debounce`` observations in a row **fires**: the trigger becomes
  **pending** (``state["pending"] = {"reason", "since", "settles"}``). Before that it is
  *held* (``state["held"]``, the newest reason; ``state["streak"]``, how many in a row);
* a pending trigger stays pending, whatever later observations say, until a job acts on it
  (:func:`settle`): the cooldown defers a job, it never drops a trigger. Its reason and what
  the job will settle follow the newest observation;
* a job created for pending triggers marks each one's entry with its id (``"job"``); the
  trigger stays pending while the job works;
* when the job ends **done** (a decision taken: promote, await or reject), :func:`settle`
  takes the pending entry off and applies what it settles — the dataset version fired for,
  the cron time no longer due — so the trigger does not fire again for the same thing;
* when the job **fails** (a configuration error, a bad label, an exception in the pipeline
  or the evaluation: nothing was decided), :func:`release` leaves the trigger pending, its
  ``"failed"`` note saying which job failed and why, and the next job retries it — not
  before :func:`retry_backoff` after the failures in a row, so a failure that repeats
  itself does not retrain in a hot loop.
"""

from __future__ import annotations

from typing import Any

UNSEEN: Any = object()  # an observation with nothing new to judge


def observe(
    state: dict[str, Any], reason: Any, settles: dict[str, Any], debounce: int, now: float
) -> str | None:
    """Count one observation into ``state`` (changed in place). ``settles``: the keys a job
    acting on this observation will set in the state (None: remove). Returns ``"fired"``
    when the trigger became pending now, ``"held"`` when its condition held short of the
    debounce, else None."""
    if reason is UNSEEN:
        return None
    if reason is None:
        state["streak"] = 0
        state.pop("held", None)
        return None
    if state.get("pending"):
        state["pending"].update(reason=reason, settles=settles)
        return None
    state["streak"] = state.get("streak", 0) + 1
    if state["streak"] < debounce:
        state["held"] = reason
        return "held"
    state["streak"] = 0
    state.pop("held", None)
    state["pending"] = {"reason": reason, "since": now, "settles": settles}
    return "fired"


BACKOFF_FIRST = 60.0  # seconds before the retry after one failed job
BACKOFF_MAX = 3600.0  # the longest wait, reached after 7 failed jobs in a row


def retry_backoff(failures: int) -> float:
    """Seconds the next job waits (at least) after ``failures`` jobs of a model failed in
    a row: 0 for none, then 60 s doubling per further failure (60, 120, 240, …), at most an
    hour — the usual capped exponential backoff, so a deterministic failure (a broken
    pipeline, a configuration error) costs one run an hour rather than one per tick, and a
    transient one is retried within a minute. The cooldown applies when it is longer."""
    if failures <= 0:
        return 0.0
    return min(BACKOFF_FIRST * 2.0 ** min(failures - 1, 32), BACKOFF_MAX)


def release(state: dict[str, Any], job: int, error: str) -> None:
    """The job ``job`` acting on the pending trigger of ``state`` failed: the trigger stays
    pending for the next job, noting ``job N failed: <error>``. Nothing happens when the
    pending entry is not that job's."""
    entry = state.get("pending")
    if entry and entry.get("job") == job:
        entry.pop("job")
        entry["failed"] = f"job {job} failed: {error}"


def settle(state: dict[str, Any], now: float) -> dict[str, Any]:
    """The job acting on the pending trigger of ``state`` ended with a decision: its pending
    entry is removed and returned, what it settles applied, ``fired_at`` set to ``now``.
    KeyError when nothing is pending."""
    entry: dict[str, Any] = state.pop("pending")
    for key, value in (entry.get("settles") or {}).items():
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    state["fired_at"] = now
    return entry
