"""Named crash points: a test hook that kills (or pauses) the process at a named place.

``point("tick.trained")`` does nothing unless the environment variable ``RUNG_FAULT_AT``
names that point. Then the process ends at once with :data:`EXIT_CODE`, through
``os._exit`` — no ``finally`` block, no ``atexit`` handler, no flush: what a ``kill -9`` or a
power cut at that place would leave behind — or, with ``RUNG_FAULT_AT=NAME:stop``, it stops
itself with ``SIGSTOP`` (every thread, the lease's renewer included) until a ``SIGCONT`` —
or, with ``RUNG_FAULT_AT=NAME:raise``, raises :class:`InjectedFault` there (an exception rung
did not foresee, as a bug in a step would raise: the caller's error handling is what is
tested). Several points may be given, separated by commas.

Tests run the real ``rung`` executable in a subprocess with the variable set, then check
what the next process makes of the state left behind (see ``docs/development.md`` for the
points that exist). Nothing in rung sets the variable; a production process never has it.
"""

from __future__ import annotations

import os
import signal

ENV = "RUNG_FAULT_AT"
EXIT_CODE = 97  # so that a test can tell the forced crash from any other failure


class InjectedFault(RuntimeError):
    """Raised at a point named with ``:raise``; its message names the point."""


def point(name: str) -> None:
    """End (or stop) the process here, or raise :class:`InjectedFault`, when
    ``RUNG_FAULT_AT`` names ``name``."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    for item in spec.split(","):
        target, _, action = item.strip().partition(":")
        if target != name:
            continue
        if action == "stop":
            os.kill(os.getpid(), signal.SIGSTOP)
            return
        if action == "raise":
            raise InjectedFault(f"fault injected at {name}")
        os._exit(EXIT_CODE)
