"""What a label must be to fit the model version that answered the request.

A label sent back (``POST /feedback``, ``rung feedback FILE``) is checked against the
version that made the prediction, as its registry entry records it:

* a **classifier** (its signature lists ``classes``, the fitted ``classes_``): the label must
  be one of the classes, with its JSON type — for classes ``["no", "yes"]`` only those two
  strings; for ``[0, 1]`` the numbers 0 and 1 (``1.0`` is the class 1, ``"1"`` and ``true``
  are not); for ``[false, true]`` only the booleans. The label is stored as the class itself,
  so that it compares equal to the predictions;
* a **regressor** (no classes, numeric predictions): a finite JSON number in the range of
  numbers rung accepts (``-1e100 … 1e100``, :mod:`rung.core.numbers`: a label of ``1e308``
  would make the live RMSE infinite), not a boolean and not a string such as ``"3.5"`` or
  ``"NaN"``;
* a model that records no classes but predicts strings or booleans (a custom, pickled
  estimator without ``classes_``): a label of the predictions' JSON type — its classes are not
  known, so they cannot be checked.

Anything else is refused, naming the label and, for a classifier, the classes (at most
:data:`SHOWN_CLASSES` of them, then how many there are) and a look-alike class when there is
one (``"Yes"`` for ``"yes"``, ``"1"`` for ``1``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from rung.core.numbers import RANGE, in_range
from rung.serving.payload import json_kind, json_type

SHOWN_CLASSES = 20


@dataclass(frozen=True)
class Target:
    """The labels one model version takes (see the module's docstring)."""

    ref: str  # NAME@VERSION
    classes: list[Any] | None  # the recorded classes; None when the model records none
    predicts: str = "number"  # without classes: "number", "string" or "boolean"
    _index: dict[tuple[str, Any], Any] = field(default_factory=dict, repr=False, compare=False)
    _texts: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for c in self.classes or []:
            self._index.setdefault(_key(c), c)
            for text in _texts_of(c):
                self._texts.setdefault(text, c)

    def read(self, text: str) -> tuple[bool, Any]:
        """As :meth:`check`, for a label written as text (a cell of a CSV file, which has no
        types): the class whose text it is exactly (``"1"`` is the class ``1`` or ``"1"``,
        ``"True"`` or ``"true"`` the class ``true``), or the number it spells for a regressor.
        Spaces and case still matter for string classes."""
        if self.classes is not None:
            if text in self._texts:
                return True, self._texts[text]
            number = _spelled(text)
            if number is not None and ("number", number) in self._index:
                return True, self._index["number", number]
            return False, self._not_a_class(text)
        if self.predicts == "number":
            number = _spelled(text)
            if number is not None:
                return self.check(number)
            return False, f"{_json(text)} is not a finite number, and {self.ref} is a regressor"
        if self.predicts == "boolean":
            flag = {"true": True, "false": False}.get(text.casefold())
            return (True, flag) if flag is not None else self.check(text)
        return True, text

    def check(self, value: Any) -> tuple[bool, Any]:
        """``(True, the label to store)``, or ``(False, why)``: one line naming ``value``."""
        if self.classes is not None:
            key = _key(value)
            if key in self._index:
                return True, self._index[key]
            return False, self._not_a_class(value)
        if self.predicts == "number":
            if _number(value) and in_range(value):
                return True, value
            if _number(value) and _finite(value):
                return False, (
                    f"{_json(value)} is outside the range of numbers rung accepts ({RANGE}):"
                    f" a label of {self.ref}, a regressor, must be within it"
                )
            return False, (
                f"{_json(value)} is not a finite number, and {self.ref} is a regressor"
                + (f" (send {value.strip()} unquoted)" if _numeric_text(value) else "")
            )
        if json_type(value) == self.predicts:
            return True, value
        return False, (
            f"{_json(value)} is {json_kind(value)}; {self.ref} predicts {self.predicts}s"
            " (its classes are not recorded)"
        )

    def _not_a_class(self, value: Any) -> str:
        classes = self.classes or []
        like = [c for c in classes if _loose(c) == _loose(value)]
        near = f"; did you mean {_json(like[0])}, {json_kind(like[0])}?" if like else ""
        return f"{_json(value)} is not a class of {self.ref} (its classes: {self.shown()}){near}"

    def shown(self) -> str:
        """The classes as JSON, at most :data:`SHOWN_CLASSES`, then how many in all."""
        classes = self.classes or []
        listed = ", ".join(_json(c) for c in classes[:SHOWN_CLASSES])
        more = len(classes) - SHOWN_CLASSES
        return f"[{listed}" + (f", … {more} more ({len(classes)} classes)]" if more > 0 else "]")

    def hint(self) -> str:
        if self.classes is not None:
            return f'send one of the classes of {self.ref}, with its JSON type ("1" is not 1)'
        if self.predicts == "number":
            return (
                f"send the true value of each row as a JSON number in {RANGE}"
                f" ({self.ref} is a regressor)"
            )
        return f"send labels of the type {self.ref} predicts ({self.predicts})"


def target(ref: str, signature: dict[str, Any] | None, predictions: list[Any]) -> Target:
    """The :class:`Target` of version ``ref`` from its registry ``signature``; without recorded
    classes, judged by the JSON type of its logged ``predictions`` (numbers: a regressor)."""
    classes = (signature or {}).get("classes")
    if isinstance(classes, list):
        return Target(ref, classes)
    kinds = {json_type(p) for p in predictions if p is not None}
    predicts = kinds.pop() if len(kinds) == 1 and kinds <= {"string", "boolean"} else "number"
    return Target(ref, None, predicts)


def _texts_of(value: Any) -> list[str]:
    """How a class is written in a CSV cell."""
    if isinstance(value, bool):
        return [str(value), str(value).lower()]
    if isinstance(value, int | float):
        return [str(value)]
    return [value] if isinstance(value, str) else []


def _spelled(text: str) -> int | float | None:
    """The finite number ``text`` spells (``"3"`` is 3, ``"3.5"`` is 3.5), else None."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _key(value: Any) -> tuple[str, Any]:
    """A label's identity as a class: its JSON type and value (1 and 1.0 are one number)."""
    kind = json_type(value)
    if kind == "number" and isinstance(value, float) and value != value:
        return kind, "NaN"
    return kind, value


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float
        return False


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric_text(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _loose(value: Any) -> str:
    """A class look-alike's form: case, surrounding spaces and the number's spelling ignored,
    so ``" Yes"`` meets ``"yes"``, ``"1"`` meets ``1`` and ``"true"`` meets ``true``."""
    text = str(value).strip().casefold()
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number.is_integer():
        return str(int(number))
    return repr(number)


def _json(value: Any) -> str:
    """The value as JSON, cut to 40 characters for a message."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"
