"""The monitor of a workspace: compute a window, store it, raise its alerts, list the series.

``rung monitor NAME@ALIAS`` and ``ws.monitor.check(...)`` compute one window
(:mod:`rung.monitoring.window`), store it in ``monitor_windows`` with the alerts it raised
(:mod:`rung.monitoring.alerts`), then deliver those alerts to the webhook, if one is set.
``rung monitor show NAME`` reads the stored windows back as a time series; the live
performance of each is recomputed then, since labels keep arriving after a window is stored.
"""

from __future__ import annotations

import json
import time
from typing import Any

from rung.core.drift import reference_from_dict
from rung.core.errors import InvalidInput, NotFound
from rung.core.hashing import canonical_json, ordered_json
from rung.core.limits import check_int
from rung.monitoring.alerts import breaches, check_webhook, deliver, misfits, rules_of
from rung.monitoring.drift import parse_window, window_start
from rung.monitoring.performance import CLASSIFICATION, live_performance, task_of
from rung.monitoring.window import References, compute_window, references
from rung.pipelines.runner import Stores
from rung.registry.models import ModelVersion, Registry, require_model
from rung.store.metadata import Tx

_MERGED = ("alerts", "features", "prediction")
_KEYS = {
    "window",
    "reference",
    "webhook",
    "webhook_timeout",
    "alerts",
    "features",
    "prediction",
    "models",
}


class Monitor:
    """Monitoring of one workspace (``ws.monitor``), configured by ``[monitor]``."""

    def __init__(
        self, stores: Stores, registry: Registry, config: dict[str, Any], label: str | None
    ):
        unknown = sorted(set(config) - _KEYS)
        if unknown:
            raise InvalidInput(
                f"unknown key(s) {unknown} in [monitor] of rung.toml", f"use {sorted(_KEYS)}"
            )
        self._s = stores
        self._registry = registry
        self._section = config
        self._label = label
        self.rules = rules_of(config)
        for name in [None, *config.get("models", {})]:
            conf = self.config_of(name)
            rules_of(conf)
            if conf.get("webhook") not in (None, ""):
                check_webhook(conf["webhook"])
        self._refs: dict[str, References] = {}

    def config_of(self, model: str | None) -> dict[str, Any]:
        """The monitoring settings of ``model`` (None: ``[monitor]``'s own): ``[monitor]``
        with ``[monitor.models.MODEL]`` over it, ``alerts``, ``features`` and ``prediction``
        merged key by key (:meth:`rung.config.MonitorSettings.of`, the same rule)."""
        section = self._section
        base = {k: v for k, v in section.items() if k != "models"}
        own = (section.get("models") or {}).get(model) or {} if model is not None else {}
        merged = {**base, **{k: v for k, v in own.items() if k not in _MERGED}}
        for key in _MERGED:
            merged[key] = {**(base.get(key) or {}), **(own.get(key) or {})}
        return merged

    def rules_for(self, model: str) -> dict[str, Any]:
        """The alert rules of ``model`` (:func:`rung.monitoring.alerts.rules_of`): its
        ``[monitor.models.MODEL.alerts]`` over ``[monitor.alerts]``."""
        return rules_of(self.config_of(model))

    def _label_of(self, model: str) -> str | None:
        """The label column of ``model``: its automation table's, else ``[eval] label``."""
        return self._registry.acceptance.of(model).label or self._label

    def references(self, version: ModelVersion, reference: str | None = None) -> References:
        """The version's references: its training data, or the dataset ``reference``.

        Summarised once and kept in the metadata store (a few KB per feature), so that a
        tick every minute neither reloads the training data nor the model."""
        if reference is not None and not reference.strip():
            raise InvalidInput(
                f"empty reference {reference!r}",
                "give a dataset version (NAME@VERSION), or leave --reference out",
            )
        config = self.config_of(version.name)
        reference = reference or config.get("reference") or None
        # ":kinds" — summarised by column kind (datetimes and text included): references
        # stored by an older rung, without them, are summarised again
        key = f"{version.hash}:{reference or 'training'}:kinds"
        if key in self._refs:
            return self._refs[key]
        with self._s.metadata.read() as tx:
            stored = tx.scalar("SELECT value FROM monitor_references WHERE key = :k", {"k": key})
        if stored is not None:
            refs = _refs_from(json.loads(stored))
        else:
            if reference:
                frame = self._s.data.get(reference).load()
                refs = references(
                    self._registry, version, frame, reference, self._label_of(version.name)
                )
            else:
                refs = references(self._registry, version)
            with self._s.metadata.write() as tx:  # a summary of the same key is the same
                tx.insert_if_absent(
                    "monitor_references",
                    {"key": key, "value": canonical_json(_refs_to(refs)), "at": time.time()},
                    key=("key",),
                )
        self._refs[key] = refs
        return refs

    def check(
        self,
        ref: str,
        window: str | None = None,
        *,
        reference: str | None = None,
        save: bool = True,
        only_new: bool = False,
    ) -> dict[str, Any] | None:
        """One window of ``ref`` (NAME@ALIAS or NAME@VERSION): stored, alerts raised and
        delivered. ``only_new``: None when nothing was logged since the last stored window."""
        # an empty --window is refused by parse_window, not read as "use the default"
        if window is not None:  # a window given is checked before anything is read
            parse_window(str(window))
        version = self._registry.get(ref)
        config = self.config_of(version.name)
        window = str(config.get("window", "1000") if window is None else window)
        kind, size = parse_window(window)
        store = self._s.metadata
        if only_new:
            with store.read() as tx:
                seen = tx.scalar(
                    "SELECT MAX(last_id) FROM monitor_windows WHERE model = :m", {"m": version.name}
                )
                newest = tx.scalar(
                    "SELECT MAX(id) FROM predictions WHERE model = :m AND role <> 'shadow'",
                    {"m": version.name},
                )
            if newest is None or (seen is not None and newest <= seen):
                return None
        refs = self.references(version, reference)
        start = window_start(store, version.name, kind, size)
        report = {
            "model": version.ref,
            "ref": ref,
            "window": window,
            "at": time.time(),
            **compute_window(
                store,
                version.name,
                refs,
                config.get("features", {}),
                config.get("prediction", {}),
                version.version,
                task_of(version.signature),
                **start,
            ),
        }
        rules = rules_of(config)
        report["alerts"] = breaches({**report, "model": ref}, rules)
        own = set(((self._section.get("models") or {}).get(version.name) or {}).get("alerts") or {})
        report["warnings"] = misfits(rules, task_of(version.signature), ref, version.name, own)
        if save:
            with store.write() as tx:
                self.record(tx, version.name, report)
            self.deliver_alerts(report)
        return report

    def record(self, tx: Tx, model: str, report: dict[str, Any]) -> None:
        """Store a window of ``model`` computed by :meth:`check` (``save=False``) and its
        alerts inside the caller's write transaction ``tx`` — the automation commits the
        window it judged with its trigger's state and the job, in one transaction. Sets
        ``report["id"]``, or ``report["same_as"]`` when the newest stored window has the same
        reference, window and rows (checked again, nothing new: stored once). Call
        :meth:`deliver_alerts` once the transaction has committed."""
        last = tx.one(
            'SELECT id, ref, "window", first_id, last_id FROM monitor_windows'
            " WHERE model = :m ORDER BY id DESC LIMIT 1",
            {"m": model},
        )
        key = (report["ref"], report["window"], report["first_id"], report["last_id"])
        if last and (last["ref"], last["window"], last["first_id"], last["last_id"]) == key:
            report["same_as"] = last["id"]
            return
        report["id"] = tx.insert(
            "monitor_windows",
            {
                "model": model,
                "ref": report["ref"],
                "window": report["window"],
                "first_id": report["first_id"],
                "last_id": report["last_id"],
                "rows": report["rows"],
                "drifted": len(report["drifted"]),
                "report": ordered_json(report),
                "at": report["at"],
            },
        )
        for alert in report["alerts"]:
            alert["id"] = tx.insert(
                "alerts",
                {
                    "model": model,
                    "window_id": report["id"],
                    "kind": alert["kind"],
                    "message": alert["message"],
                    "details": canonical_json(alert["details"]),
                    "at": report["at"],
                },
            )

    def deliver_alerts(self, report: dict[str, Any]) -> None:
        """Send the alerts of a window stored by :meth:`record` to the webhook, if one is
        set, and record each delivery's outcome."""
        if "id" not in report:
            return  # stored before (same_as): its alerts went out then
        config = self.config_of(str(report["model"]).partition("@")[0])
        url = config.get("webhook")
        for alert in report["alerts"] if url else []:
            timeout = float(config.get("webhook_timeout", 5))
            error = deliver(
                str(url), {**alert, "model": report["ref"], "window": report["id"]}, timeout
            )
            alert["delivery"] = error or "delivered"
            with self._s.metadata.write() as tx:
                tx.execute(
                    "UPDATE alerts SET delivery = :d WHERE id = :id",
                    {"d": alert["delivery"], "id": alert["id"]},
                )

    def windows(self, name: str, limit: int = 50) -> list[dict[str, Any]]:
        """The stored windows of model ``name``, oldest first, their live performance
        recomputed with the labels that have come back since."""
        check_int(limit, "limit")
        with self._s.metadata.read() as tx:
            rows = tx.all(
                "SELECT * FROM (SELECT * FROM monitor_windows WHERE model = :m"
                " ORDER BY id DESC LIMIT :n) t ORDER BY id",
                {"m": name, "n": limit},
            )
            if not rows:
                require_model(tx, name)
        out = []
        tasks: dict[str, str] = {}
        for row in rows:
            report = json.loads(row["report"])
            report["id"] = row["id"]
            served = str(report.get("model") or row["ref"])
            if served not in tasks:  # the task of the version that served the window
                try:
                    tasks[served] = task_of(self._registry.get(served).signature)
                except NotFound:  # a version deleted since: the task the window recorded
                    tasks[served] = (report.get("performance") or {}).get("task", CLASSIFICATION)
            version = served.partition("@")[2]
            report["performance"] = live_performance(  # the labels back since, same rows
                self._s.metadata,
                name,
                tasks[served],
                versions=[int(version)] if version.isdigit() else None,
                after_id=row["first_id"] - 1,
                until_id=row["last_id"],
            )
            out.append(report)
        return out

    def counts(self) -> dict[str, dict[str, Any]]:
        """Per model with stored windows: ``{"windows", "alerts", "last_at"}`` — how many
        windows and alerts are stored and the UNIX time of the newest window (two grouped
        queries, whatever the number of windows)."""
        with self._s.metadata.read() as tx:
            windows = tx.all(
                "SELECT model, COUNT(*) AS n, MAX(at) AS last_at FROM monitor_windows"
                " GROUP BY model"
            )
            alerts = tx.all("SELECT model, COUNT(*) AS n FROM alerts GROUP BY model")
        raised = {r["model"]: int(r["n"]) for r in alerts}
        return {
            r["model"]: {
                "windows": int(r["n"]),
                "alerts": raised.get(r["model"], 0),
                "last_at": float(r["last_at"]),
            }
            for r in windows
        }

    def alerts(self, name: str, limit: int = 50) -> list[dict[str, Any]]:
        check_int(limit, "limit")
        with self._s.metadata.read() as tx:
            return tx.all(
                "SELECT id, window_id, kind, message, delivery, at FROM alerts WHERE model = :m"
                " ORDER BY id DESC LIMIT :n",
                {"m": name, "n": limit},
            )


def _refs_to(refs: References) -> dict[str, Any]:
    return {
        "inputs": [[name, ref.to_dict()] for name, ref in refs.inputs.items()],  # in order
        "predictions": refs.predictions.to_dict() if refs.predictions else None,
        "source": refs.source,
    }


def _refs_from(d: dict[str, Any]) -> References:
    return References(
        {name: reference_from_dict(ref) for name, ref in d["inputs"]},
        reference_from_dict(d["predictions"]) if d["predictions"] else None,
        d["source"],
    )
