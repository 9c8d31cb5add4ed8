"""The registry's gate: the project's declared acceptance, and which evaluation is a version's
verdict.

**Declared acceptance.** A model's acceptance criteria are ``[eval] criteria`` in
``rung.toml``, and its acceptance datasets ``[eval] datasets`` (none declared: any). For the
model the loop automates (``[automate] model`` or ``[automate.models.NAME]``) they are that
table's ``criteria``, ``datasets`` and ``label`` where set — the ones its loop judges
challengers by.

**The verdict of a version** comes from its *gate evaluation*: the latest evaluation

1. of that version's bytes — one where it was only the baseline never counts;
2. whose criteria set is the declared one (the same :func:`~rung.core.criteria.criteria_digest`:
   ``accuracy >= 0.1`` given with ``--criterion`` is another set, and informs only);
3. on the declared datasets, where declared: each of them (``NAME@V`` exactly, ``NAME`` any
   version of it), and no other dataset but the loop's fresh served rows (``MODEL-served``);
4. not recorded as informing only — the loop's evaluation of a challenger that is the
   serving version itself (a run that reproduced it) never changes that version's verdict.

Later evaluations with other criteria, on other datasets, or using the version as a baseline
leave it as it is. Changing the declared criteria in ``rung.toml`` changes which evaluations
count: every version is then judged anew by evaluations against the new criteria.

**The rule of a move.** An alias may rest on a version whose verdict is ``passed`` and that
the automation has not rejected for that alias (:func:`policy_rejection`: the loop's latest
judgement of it is ``reject``); moving it onto any other version needs ``force`` and a
reason, whichever command moves it (promote, rollback, approve, the loop). The rule is
applied once, in ``Registry._move``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rung.core.criteria import criteria_digest

if TYPE_CHECKING:
    from rung.config import Settings
    from rung.store.metadata import Tx

SERVED_SUFFIX = "-served"
"""The loop versions a model's fresh labelled served rows as the dataset ``MODEL-served``."""


@dataclass(frozen=True)
class Declared:
    """The acceptance declared for one model: its criteria (texts as written), where they
    were declared (``[eval] criteria`` or ``[automate] criteria``), and its datasets."""

    model: str
    criteria: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    source: str = "[eval] criteria"
    datasets_source: str = "[eval] datasets"
    label: str | None = None  # its label column: its automation table's, else [eval] label

    @property
    def digest(self) -> str | None:
        """:func:`~rung.core.criteria.criteria_digest` of the criteria (None: none declared)."""
        return criteria_digest(self.criteria)

    def covers(self, refs: list[str]) -> bool:
        """Whether an evaluation on the dataset versions ``refs`` (``NAME@V``) is on the
        declared datasets: every declared one is there (``NAME@V`` exactly, ``NAME`` any
        version), and every other one is the loop's fresh served rows of this model. True
        for any datasets when none are declared."""
        if not self.datasets:
            return True
        used: set[str] = set()
        for want in self.datasets:
            name, at, _ = want.partition("@")
            found = [r for r in refs if (r == want if at else r.partition("@")[0] == name)]
            if not found:
                return False
            used.update(found)
        served = f"{self.model}{SERVED_SUFFIX}"
        return all(r in used or r.partition("@")[0] == served for r in refs)

    def describe(self) -> str:
        """``[eval] criteria: a; b, on holdout@1`` — for messages."""
        text = f"{self.source}: {'; '.join(self.criteria)}" if self.criteria else "none"
        if self.datasets:
            text += f", on {', '.join(self.datasets)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "criteria": list(self.criteria),
            "declared_in": self.source,
            "datasets": list(self.datasets),
            "digest": self.digest,
        }


@dataclass(frozen=True)
class Acceptance:
    """The project's declared acceptance, from ``rung.toml``; :meth:`of` gives one model's."""

    criteria: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    # automated model -> (its criteria or None, its datasets, the table they come from)
    automated: dict[str, tuple[tuple[str, ...] | None, tuple[str, ...], str]] = field(
        default_factory=dict
    )
    label: str | None = None  # [eval] label
    labels: dict[str, str] = field(default_factory=dict)  # automated model -> its own label

    @classmethod
    def from_settings(cls, settings: Settings) -> Acceptance:
        auto = settings.automate
        automated = {}
        for name, section in auto.per_model().items():
            table = f"[automate.models.{name}]" if name in auto.models else "[automate]"
            criteria = section.get("criteria")
            automated[name] = (
                None if criteria is None else tuple(criteria),
                tuple(section.get("datasets") or ()),
                table,
            )
        return cls(
            criteria=tuple(settings.eval.criteria),
            datasets=tuple(settings.eval.datasets),
            automated=automated,
            label=settings.eval.label,
            labels={
                name: str(section["label"])
                for name, section in auto.per_model().items()
                if section.get("label")
            },
        )

    @classmethod
    def from_root(cls, root: Path) -> Acceptance:
        """The acceptance declared in ``root/rung.toml`` (none when there is no such file)."""
        from rung.config import CONFIG_FILE, load_config

        if not (Path(root) / CONFIG_FILE).is_file():
            return cls()
        return cls.from_settings(load_config(Path(root)).settings)

    def of(self, model: str) -> Declared:
        """The acceptance of ``model``: its automation table's (``[automate]`` or
        ``[automate.models.NAME]``, defaults included) for an automated model where set, else
        ``[eval]``'s."""
        crit, source = self.criteria, "[eval] criteria"
        data, data_source = self.datasets, "[eval] datasets"
        if model in self.automated:
            own_criteria, own_datasets, table = self.automated[model]
            if own_criteria is not None:
                crit, source = own_criteria, f"{table} criteria"
            if own_datasets:
                data, data_source = own_datasets, f"{table} datasets"
        label = self.labels.get(model) or self.label
        return Declared(model, crit, data, source, data_source, label)


def gate_evaluation(tx: Tx, declared: Declared, digest: str) -> dict[str, Any] | None:
    """The evaluation the verdict of the model with artifact hash ``digest`` comes from
    (``id``, ``verdict``, ``datasets`` as refs), by the rules of this module; None when it
    has none — or when no criteria are declared."""
    wanted = declared.digest
    if wanted is None:
        return None
    rows = tx.all(
        "SELECT id, verdict, datasets FROM evaluations WHERE model_hash = :h"
        " AND criteria_digest = :c AND informs_only = :f ORDER BY id DESC",
        {"h": digest, "c": wanted, "f": False},
    )
    for row in rows:
        refs = [str(d.get("ref")) for d in json.loads(row["datasets"])]
        if declared.covers(refs):
            return {"id": row["id"], "verdict": row["verdict"], "datasets": refs}
    return None


def other_evaluations(tx: Tx, digest: str, but: int | None) -> list[int]:
    """Ids of the evaluations of ``digest`` other than ``but``, newest first (at most 5):
    the ones that only inform."""
    rows = tx.all(
        "SELECT id FROM evaluations WHERE model_hash = :h ORDER BY id DESC LIMIT 6",
        {"h": digest},
    )
    return [r["id"] for r in rows if r["id"] != but][:5]


def first_reason(tx: Tx, evaluation_id: int) -> str | None:
    """The first failing check of a recorded evaluation, for a refusal."""
    row = tx.one("SELECT result FROM evaluations WHERE id = :id", {"id": evaluation_id})
    if row is None:
        return None
    reasons = json.loads(row["result"]).get("verdict", {}).get("reasons") or []
    return str(reasons[0]) if reasons else None


def policy_rejection(tx: Tx, name: str, alias: str, version: int) -> dict[str, Any] | None:
    """The automation's standing rejection of ``name@version`` for ``alias``: the job
    (``job``, ``reason``: its first reason) whose decision is the latest of the loop's
    judgements of that version for that alias, when that decision is ``reject``; None when
    the loop never judged it for that alias, or its latest judgement is promote, await or
    approved (a person forced it over the rejection with ``rung model approve``).

    A job whose run reproduced the serving version (its challenger is its champion) judged
    nothing about that version and is not counted. Read through the store (the
    ``automation_jobs`` rows), so the registry does not import the automation layer above it.
    """
    rows = tx.all(
        "SELECT id, decision, evidence FROM automation_jobs WHERE model = :n AND alias = :a"
        " AND challenger = :v AND decision IS NOT NULL"
        " AND (champion IS NULL OR champion <> challenger) ORDER BY id DESC LIMIT 1",
        {"n": name, "a": alias, "v": version},
    )
    if not rows or rows[0]["decision"] != "reject":
        return None
    evidence = json.loads(rows[0]["evidence"]) if rows[0]["evidence"] else {}
    reasons = evidence.get("reasons") or []
    return {"job": rows[0]["id"], "reason": str(reasons[0]) if reasons else None}
