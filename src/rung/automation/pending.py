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
* :func:`settle` takes the pending entry off and applies what it settles — the dataset
  version fired for, the cron time no longer due — so the trigger does not fire again for
  the same thing.
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


def settle(state: dict[str, Any], now: float) -> dict[str, Any]:
    """A job acts on the pending trigger of ``state``: its pending entry is removed and
    returned, what it settles applied, ``fired_at`` set to ``now``. KeyError when nothing is
    pending."""
    entry: dict[str, Any] = state.pop("pending")
    for key, value in (entry.get("settles") or {}).items():
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    state["fired_at"] = now
    return entry
