"""The models one ``rung serve`` process serves, by name, and the one lookup by name that
every route uses.

``rung serve a@champion b@champion`` serves each model under its own name:
``/predict/{name}`` and ``/v2/models/{name}/...``. Plain ``/predict`` answers when exactly
one model is served; with several it is a 409 naming them. Each model follows its own alias
(:class:`~rung.serving.service.Service`), and may have a challenger in shadow or as a
canary (``--shadow NAME@ALIAS[=SHARE%]``, ``--canary NAME@ALIAS=SHARE%``), each following its
own alias too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rung.core.errors import InvalidInput, NotFound, RungError
from rung.serving.log import PredictionLog
from rung.serving.metrics import Metrics
from rung.serving.service import Service


class Ambiguous(RungError):
    """``/predict`` without a model's name while several are served (HTTP 409)."""

    status = 409


@dataclass(frozen=True)
class Challenger:
    """``NAME@ALIAS[=SHARE%]`` of ``--shadow`` or ``--canary``: the ref and its share (0..1]."""

    ref: str
    share: float

    @classmethod
    def parse(cls, text: str, option: str, required: bool) -> Challenger:
        """Raises :class:`InvalidInput` naming ``text`` when it is not ``NAME@ALIAS`` with an
        optional (``required``: mandatory) share ``=N%``, N in (0, 100]."""
        ref, sep, share = text.partition("=")
        example = f"{option} NAME@challenger=10%"
        if "@" not in ref or not ref.partition("@")[0] or not ref.partition("@")[2]:
            raise InvalidInput(f"{option} {text!r} is not NAME@ALIAS", f"give e.g. {example}")
        if not sep:
            if required:
                raise InvalidInput(
                    f"{option} {text!r} has no share of requests", f"give e.g. {example}"
                )
            return cls(ref, 1.0)
        number = share.strip().removesuffix("%")
        try:
            percent = float(number)
        except ValueError:
            percent = math.nan
        if not share.strip().endswith("%") or not 0 < percent <= 100:
            raise InvalidInput(
                f"{option} {text!r}: the share {share!r} is not a percentage in (0, 100]",
                f"give e.g. {example}",
            )
        return cls(ref, percent / 100)


class Fleet:
    """The served models by name; one log and one set of metrics for all of them."""

    def __init__(
        self,
        ws: Any,
        refs: list[str],
        poll_seconds: float = 1.0,
        shadows: Sequence[str] = (),
        canaries: Sequence[str] = (),
    ) -> None:
        if not refs:
            raise InvalidInput(
                "no model to serve", "give NAME@ALIAS, e.g. rung serve trend@champion"
            )
        names = [r.partition("@")[0] for r in refs]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InvalidInput(
                f"model {twice[0]!r} is given twice: each served model has one name",
                "serve each model once; try a challenger with --shadow or --canary",
            )
        self.log = PredictionLog(ws.store)
        self.metrics = Metrics()
        self.services: dict[str, Service] = {}
        try:
            for ref in refs:
                self.services[ref.partition("@")[0]] = Service(
                    ws, ref, poll_seconds, log=self.log, metrics=self.metrics
                )
            for option, texts in (("--shadow", shadows), ("--canary", canaries)):
                for text in texts:
                    self._add_challenger(ws, poll_seconds, option, text)
        except BaseException:
            self.stop()
            raise

    def _add_challenger(self, ws: Any, poll: float, option: str, text: str) -> None:
        """Serve challenger ``text`` (``NAME@ALIAS[=SHARE%]`` of ``option``, ``--shadow`` or
        ``--canary``) beside the served model of its name; one of each per model."""
        role = option.removeprefix("--")
        c = Challenger.parse(text, option, required=role == "canary")
        primary = self._primary(c.ref, option)
        if getattr(primary, role) is not None:
            raise InvalidInput(f"{primary.name} has two {option}", "give one per model")
        setattr(
            primary, role, Service(ws, c.ref, poll, role=role, log=self.log, metrics=self.metrics)
        )
        setattr(primary, f"{role}_share", c.share)

    def _primary(self, ref: str, option: str) -> Service:
        """The served model a challenger ``ref`` stands beside: the one of its name, or the
        only one served."""
        name = ref.partition("@")[0]
        if name in self.services:
            return self.services[name]
        if len(self.services) == 1:
            return next(iter(self.services.values()))
        raise InvalidInput(
            f"{option} {ref}: no served model is named {name!r} ({', '.join(self.services)})",
            f"give {option} NAME@ALIAS with NAME one of the served models",
        )

    def named(self, name: str | None) -> Service:
        """The service of model ``name``; ``None`` (plain ``/predict``): the only one.

        Raises :class:`NotFound` (404) for a name not served, naming those that are, and
        :class:`Ambiguous` (409) for no name while several are served."""
        if name is None:
            if len(self.services) == 1:
                return next(iter(self.services.values()))
            served = ", ".join(f"/predict/{n}" for n in self.services)
            raise Ambiguous(
                f"this service serves {len(self.services)} models: /predict does not say which",
                f"use one of {served}",
            )
        found = self.services.get(name)
        if found is None:
            served = ", ".join(repr(n) for n in self.services)
            raise NotFound(
                f"this service serves model(s) {served}, not {name!r}",
                f"use one of {', '.join(self.services)}",
            )
        return found

    @property
    def first(self) -> Service:
        return next(iter(self.services.values()))

    def start(self) -> None:
        for s in self.services.values():
            s.start()

    def stop(self) -> None:
        for s in self.services.values():
            s.stop()
        self.log.close()
