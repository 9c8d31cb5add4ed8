"""The served model: its holder, the follower of its alias, and its prediction log.

A background thread polls the alias, loads and warms a new version, then swaps it in one
assignment, so every response names the version that computed it and no request fails during
the swap.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from rung.core.errors import InvalidInput
from rung.serving.batching import Batcher
from rung.serving.log import PredictionLog
from rung.serving.metrics import Metrics
from rung.serving.payload import frame_of
from rung.serving.predictor import Loaded, compute, ready

_log = logging.getLogger("rung")


class Service:
    """The model holder, the alias follower and the log of one served alias."""

    def __init__(self, ws: Any, ref: str, poll_seconds: float = 1.0) -> None:
        self.ws = ws  # a rung.Workspace (passed in: serving sits below the workspace layer)
        self.ref = ref
        self.name, _, self.alias = ref.partition("@")
        if not 0.05 <= poll_seconds <= 86400:  # also False for NaN (a busy loop)
            raise InvalidInput(
                f"poll interval {poll_seconds!r} s is out of range 0.05..86400",
                "give the seconds between checks of the alias, e.g. --poll 1",
            )
        self.poll_seconds = poll_seconds
        self.current = self._load(self.ws.models.get(ref).version)
        self.log = PredictionLog(self.ws.store)
        self._stop = threading.Event()
        self._follower = threading.Thread(
            target=self._follow, name="rung-alias-follower", daemon=True
        )
        self.batcher = Batcher(self.predict)
        self.active = 0  # prediction requests being served (on the event loop: no lock)
        self.metrics = Metrics()
        self.metrics.version.labels(self.name).set(self.current.version)

    def start(self) -> None:
        self._follower.start()

    def stop(self) -> None:
        self._stop.set()
        self.batcher.close()
        self.log.close()

    def _load(self, version: int) -> Loaded:
        from rung.registry.models import require_signature

        v, model = self.ws.models.load(f"{self.name}@{version}")  # verified bytes, safe formats
        return ready(v.name, v.version, model, require_signature(v))

    def _follow(self) -> None:
        refused: int | None = None  # a version that cannot be loaded: not retried every poll
        while not self._stop.wait(self.poll_seconds):
            try:
                target = self.ws.models.get(self.ref).version
                if target == self.current.version or target == refused:
                    continue
                try:
                    fresh = self._load(target)  # load and warm before anyone sees it
                except Exception as exc:  # untrusted, corrupt, unreadable: keep serving
                    refused = target
                    _log.warning(
                        "rung serve: %s moved to version %s, which cannot be served (%s);"
                        " still serving version %s",
                        self.ref,
                        target,
                        exc,
                        self.current.version,
                    )
                    continue
                self.current = fresh  # the swap: one assignment
                self.metrics.version.labels(self.name).set(fresh.version)
            except Exception:  # the store unreachable for a moment: try again next poll
                continue

    def predict(self, columns: dict[str, list[Any]]) -> tuple[Loaded, dict[str, Any]]:
        """The rows of one request, or of a batch of them (see :mod:`rung.serving.batching`)."""
        held = self.current  # one read: these rows are answered by exactly this version
        self.metrics.calls.inc()
        return held, compute(held, frame_of(columns, held.signature))
