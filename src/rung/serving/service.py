"""The served model: its holder, the follower of its alias, and its prediction log; with its
challengers, in shadow or as a canary.

A background thread polls the alias, loads and warms a new version, then swaps it in one
assignment, so every response names the version that computed it and no request fails during
the swap. Each swap is one line on the ``rung.serve`` logger: ``version 3 → 4 of
NAME@ALIAS``.

**The follower never fails silently.** When the alias moves to a version that cannot be
loaded (its bytes corrupt, its model type not trusted, its file unreadable), the service
keeps answering with the version it holds, and:

* logs one line (``rung.serve``, WARNING) naming both versions and the reason — once per
  version and reason, not at every retry;
* counts every failed attempt in ``rung_alias_follow_failures_total{model,role}``;
* reports it in :meth:`Service.health` (``GET /health``): the alias's target, the version
  served and the last error (a challenger's in its own entry, ``challengers``);
* tries that version again with an exponential backoff: after ``8 × poll`` seconds, then
  twice as long each time, at most :data:`MAX_BACKOFF` (a restored object is picked up
  without a restart, and a broken one is not reloaded at every poll). A move of the alias
  to another version is followed at the next poll.

A served model may have challengers (each a :class:`Service` of its own, following its own
alias, sharing the log and the metrics):

* a **shadow** (``rung serve NAME@champion --shadow NAME@challenger[=SHARE%]``) predicts every
  request (or the share of them picked by :func:`picked`) once its answer is durable,
  gathered and predicted in batches in its own thread (:mod:`rung.serving.shadow`): the
  client's answer never waits for it and never fails because of it. Its prediction is logged
  under the answered request's id in the role ``shadow`` (no inputs: they are the answer's).
  When more than :data:`rung.serving.shadow.BACKLOG` requests wait for it, new ones are
  dropped and counted (``rung_shadow_total{outcome="dropped"}``): the shadow never slows the
  answers down by queueing without bound;
* a **canary** (``--canary NAME@challenger=10%``) answers the share of requests that
  :func:`picked` chooses by a stable hash of the client's key (the ``X-Canary-Key`` header,
  else the request id), logged in the role ``canary``.

**A request that names a version** (``/v2/models/{name}/versions/{v}/infer``, or a v2 body's
``model_version``) is answered by the arm that serves that version — the champion or the
canary; a shadow answers nobody — else it is a 404 naming the versions served
(:meth:`Service.arm`). Every answering version is listed by :meth:`Service.versions`.

**Each arm is visible to operators**: ``rung_model_version{model,role}`` per arm,
``rung_predictions_total{model,version,role,status}`` per answered (or shadowed) prediction,
``rung_prediction_seconds{model,role}`` per answered one, and each challenger in ``/health``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from rung.core.errors import InvalidInput, NotFound
from rung.serving.batching import Batcher
from rung.serving.log import PredictionLog
from rung.serving.metrics import Children, Metrics
from rung.serving.payload import frame_of
from rung.serving.predictor import Loaded, compute, ready
from rung.serving.shadow import ShadowQueue

_log = logging.getLogger("rung.serve")
MAX_BACKOFF = 600.0  # seconds between two attempts to load a version that failed, at most


def picked(key: str, share: float, salt: str) -> bool:
    """Whether ``key`` falls in ``share`` (0 < share <= 1) of the keys: a stable hash (BLAKE2b
    of ``salt:key``, read as a fraction of 2**64), so the same client key always gets the same
    arm, in every process and across restarts."""
    if share >= 1:
        return True
    digest = hashlib.blake2b(f"{salt}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < share * 2**64


@dataclass
class FollowError:
    """The last failure of the alias follower: the version it could not load and why."""

    version: int
    error: str
    attempts: int
    at: float  # UNIX seconds of the last attempt
    retry_at: float  # UNIX seconds of the next one


def backoff(poll_seconds: float, attempts: int) -> float:
    """Seconds before attempt ``attempts + 1`` to load a version that failed ``attempts``
    times: ``8 × poll``, doubling, at most :data:`MAX_BACKOFF`."""
    return float(min(poll_seconds * 8 * 2 ** min(attempts - 1, 30), MAX_BACKOFF))


class Service:
    """The model holder, the alias follower and the log of one served alias."""

    def __init__(
        self,
        ws: Any,
        ref: str,
        poll_seconds: float = 1.0,
        *,
        role: str = "answer",
        log: PredictionLog | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.ws = ws  # a rung.Workspace (passed in: serving sits below the workspace layer)
        self.ref = ref
        self.name, _, self.alias = ref.partition("@")
        if not 0.05 <= poll_seconds <= 86400:  # also False for NaN (a busy loop)
            raise InvalidInput(
                f"poll interval {poll_seconds!r} s is out of range 0.05..86400",
                "give the seconds between checks of the alias, e.g. --poll 1",
            )
        self.poll_seconds = poll_seconds
        self.settings = self.ws.config.settings  # [serve]: the log's bounds and retention
        self.sample_rows: int = self.settings.serve.log_sample_rows
        self.current = self._load(self.ws.models.get(ref).version)
        self.role = role  # answer, canary or shadow: the role of its prediction-log records
        self._owns_log = log is None
        self.log = PredictionLog(self.ws.store) if log is None else log
        self._stop = threading.Event()
        self._follower = threading.Thread(
            target=self._follow, name="rung-alias-follower", daemon=True
        )
        self._pruner = threading.Thread(target=self._prune, name="rung-retention", daemon=True)
        self.batcher = Batcher(self.predict)
        # a shadow's predictions wait for nobody: gathered into larger, cheaper batches
        self.shadowing = ShadowQueue(self) if role == "shadow" else None
        self.active = 0  # prediction requests being served (on the event loop: no lock)
        self.metrics = Metrics() if metrics is None else metrics
        self.metrics.version.labels(self.name, role).set(self.current.version)
        self._predictions = Children(self.metrics.predictions)  # by version and status
        self._timed = self.metrics.prediction_latency.labels(self.name, role)
        self.target = self.current.version  # where the alias points, as last read
        self.follow_error: FollowError | None = None
        self.shadow: Service | None = None  # a challenger predicting beside this one
        self.shadow_share = 1.0
        self.canary: Service | None = None  # a challenger answering a share of requests
        self.canary_share = 0.0
        self._outcomes = Children(self.metrics.shadow)  # rung_shadow_total by outcome

    def start(self) -> None:
        self._follower.start()
        serve = self.settings.serve
        retained = serve.retention is not None or serve.max_log_rows is not None
        if retained and self.role == "answer":  # the challengers share its log
            self._pruner.start()
        for other in (self.shadow, self.canary):
            if other is not None:
                other.start()

    def _prune(self) -> None:
        """Apply the log's retention every ``[serve] prune_interval`` (at once on start),
        one process at a time (the ``retention`` lease); each pass that deletes is a line on
        the ``rung.serve`` logger, a failure a warning (and the next pass tries again)."""
        from rung.serving.retention import prune
        from rung.store.lease import Lease

        interval = float(self.settings.serve.prune_interval)
        while True:
            lease = Lease(self.ws.store, "retention", ttl=max(interval, 60.0))
            try:
                if lease.acquire():
                    report = prune(self.ws.store, self.settings)
                    if report is not None and report.records:
                        _log.info("%s", report.line())
            except Exception as exc:  # the store busy or away: the next pass tries again
                _log.warning("prediction log retention failed (%s); retrying in %gs", exc, interval)
            finally:
                lease.release()
            if self._stop.wait(interval):
                return

    def stop(self) -> None:
        self._stop.set()
        for other in (self.shadow, self.canary):
            if other is not None:
                other.stop()
        self.batcher.close()
        if self.shadowing is not None:
            self.shadowing.close()
        if self._owns_log:
            self.log.close()

    def arms(self) -> list[Service]:
        """The services that answer requests: this one, then its canary if any (a shadow
        answers nobody)."""
        return [self] if self.canary is None else [self, self.canary]

    def versions(self) -> list[int]:
        """The versions that answer requests, each once, in :meth:`arms`' order."""
        return list(dict.fromkeys(s.current.version for s in self.arms()))

    def arm(self, key: str, version: str | None = None) -> Service:
        """The service that answers the request of client key ``key``: the canary for its
        share of keys (:func:`picked`), else this one. A request naming ``version`` is
        answered by the arm serving it (the split's, when both serve it); raises
        :class:`NotFound` (404) naming the served versions when none does."""
        split = self
        if self.canary is not None and picked(key, self.canary_share, "canary"):
            split = self.canary
        if version is None or str(split.current.version) == version:
            return split
        for other in self.arms():
            if str(other.current.version) == version:
                return other
        raise self.not_served(version)

    def not_served(self, version: str) -> NotFound:
        """The 404 of a request naming a ``version`` no arm serves, naming those served."""
        served = ", ".join(map(str, self.versions()))
        return NotFound(
            f"model {self.name!r} version {version[:40]!r} is not served here: this service"
            f" serves version(s) {served}",
            f"use /v2/models/{self.name}/versions/V with V one of {served},"
            f" or /v2/models/{self.name}",
        )

    def counted(self, version: int, status: int, seconds: float) -> None:
        """Count one prediction of this arm: ``rung_predictions_total{model,version,role,
        status}`` and, when answered (status < 400), ``rung_prediction_seconds{model,role}``
        (``seconds`` from its arrival to its durable record)."""
        self._predictions(self.name, str(version), self.role, str(status)).inc()
        if status < 400:
            self._timed.observe(seconds)

    def after(self, body: Any, columns: dict[str, Any], request_id: str, answered: Any) -> None:
        """The shadow hook, called once a request's answer is durable: the shadow, if any and
        if ``request_id`` is in its share, is handed the request
        (:meth:`~rung.serving.shadow.ShadowQueue.offer`; never awaited by the request).
        ``body`` is checked again against the shadow's signature unless it is the one
        ``columns`` were checked against (``answered``)."""
        shadow = self.shadow
        if shadow is None or shadow.shadowing is None:
            return
        if not picked(request_id, self.shadow_share, "shadow"):
            return
        if not shadow.shadowing.offer(body, columns, request_id, answered):
            self.shadow_outcome("dropped")

    def counted_many(self, version: int, statuses: Mapping[int, int]) -> None:
        """Count a shadow's batch of predictions by version and status (the number of each):
        ``rung_predictions_total`` and ``rung_shadow_total{outcome="logged"|"failed"}``, one
        increment of each series. A shadow's time is its gathering window, not a latency
        anyone waits for: it is not observed in ``rung_prediction_seconds``."""
        for status, n in statuses.items():
            self._predictions(self.name, str(version), self.role, str(status)).inc(n)
            self._outcomes("logged" if status < 400 else "failed").inc(n)

    def shadow_outcome(self, outcome: str) -> None:
        """Count one shadow prediction: ``rung_shadow_total{outcome}`` (logged, failed or
        dropped)."""
        self._outcomes(outcome).inc()

    def _load(self, version: int) -> Loaded:
        from rung.registry.models import require_signature

        v, model = self.ws.models.load(f"{self.name}@{version}")  # verified bytes, safe formats
        return ready(v.name, v.version, model, require_signature(v))

    def health(self) -> dict[str, Any]:
        """Readiness with its details: ``{"ready", "model", "version" (served), "alias",
        "alias_target" (the version the alias points to), "last_error"}`` — ``last_error``
        None, or the version the follower cannot load, why, how many attempts and when the
        next one is (UNIX seconds). With challengers, ``"challengers"``: one entry each,
        ``{"role" (shadow or canary), "share" (of requests, 0..1], "version", "alias",
        "alias_target", "last_error"}`` (a challenger's failure is never the champion's:
        ``ready`` stays true, the champion's ``last_error`` its own)."""
        out: dict[str, Any] = {"ready": True, "model": self.name, **self._state()}
        challengers = [
            {"role": s.role, "share": share, **s._state()}
            for s, share in ((self.shadow, self.shadow_share), (self.canary, self.canary_share))
            if s is not None
        ]
        if challengers:
            out["challengers"] = challengers
        return out

    def _state(self) -> dict[str, Any]:
        """The version served, the alias, where it points and the follower's last error."""
        error = self.follow_error
        return {
            "version": self.current.version,
            "alias": self.ref,
            "alias_target": self.target,
            "last_error": asdict(error) if error is not None else None,
        }

    def _follow(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.follow_once()
            except Exception:  # the store unreachable for a moment: try again next poll
                continue

    def follow_once(self) -> None:
        """One poll of the alias: swap to the version it points to, unless that version is
        the one held or failed to load and its backoff is not over (see the module's
        docstring)."""
        target = self.ws.models.get(self.ref).version
        self.target = target
        error = self.follow_error
        if target == self.current.version:
            self.follow_error = None  # moved back: nothing is failing any more
            return
        if error is not None and error.version == target and time.time() < error.retry_at:
            return
        try:
            fresh = self._load(target)  # load and warm before anyone sees it
        except Exception as exc:  # untrusted, corrupt, unreadable: keep serving
            self._failed(target, exc)
            return
        before = self.current.version
        self.current = fresh  # the swap: one assignment
        self.follow_error = None
        self.metrics.version.labels(self.name, self.role).set(fresh.version)
        _log.info("version %s → %s of %s", before, fresh.version, self.ref)

    def _failed(self, target: int, exc: Exception) -> None:
        """Count, report and (once per version and reason) log a version that failed to load."""
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        error = self.follow_error
        same = error is not None and error.version == target
        attempts = error.attempts + 1 if error is not None and same else 1
        now = time.time()
        self.follow_error = FollowError(
            target, reason, attempts, now, now + backoff(self.poll_seconds, attempts)
        )
        self.metrics.follow_failures.labels(self.name, self.role).inc()
        if not same or (error is not None and error.error != reason):
            _log.warning(
                "%s moved to version %s, which cannot be served (%s); still serving version %s,"
                " retrying with a backoff",
                self.ref,
                target,
                reason,
                self.current.version,
            )

    def predict(self, columns: dict[str, list[Any]]) -> tuple[Loaded, dict[str, Any]]:
        """The rows of one request, or of a batch of them (see :mod:`rung.serving.batching`)."""
        held = self.current  # one read: these rows are answered by exactly this version
        self.metrics.calls.inc()
        return held, compute(held, frame_of(columns, held.signature))
