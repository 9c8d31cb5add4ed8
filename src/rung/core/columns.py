"""The column-kind model: one description of a column's type, used by every rung.

Profiling, schemas and validation, the registry's signature, the service's input check,
batch scoring, evaluation and monitoring all describe a column with :class:`ColumnKind`,
decided by one function (:func:`kind_of`) and coerced by one (:func:`coerce`):

============  ==============================================  ===========================
kind          pandas dtypes                                   JSON form of a value
============  ==============================================  ===========================
numeric       float16/32/64, Float64, decimal objects         number (``"nan"``/``"inf"``
                                                              strings when not finite)
integer       int8…int64, uint8…uint64, Int64 and friends     number
boolean       bool, boolean, object of True/False             true / false
categorical   category; object/string of few distinct values  string (or the JSON scalar)
datetime      datetime64[ns], datetime64[ns, tz], ISO strings  ISO 8601 string
text          object/string of many distinct values, all-null  string
============  ==============================================  ===========================

Every kind is *nullable* or not (whether the column held a missing value: ``NaN``, ``None``,
``NaT`` or ``pd.NA``). A datetime also records its ``timezone`` (``None`` for naive times;
``"UTC"``, ``"Europe/Paris"`` or ``"UTC+01:00"`` otherwise). ``dtype`` keeps the pandas dtype
the column had, so that values coming back (a request, a batch file) can be given to a model
in the dtype it was fitted on.

This module is pure: pandas and numpy are imported when a function needs them.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from rung.core.limits import quoted

if TYPE_CHECKING:
    import pandas as pd

KINDS = ("numeric", "integer", "boolean", "categorical", "datetime", "text")
MAX_CATEGORIES = 1000  # distinct strings beyond which a column is text, not categories
_NUMBERS = ("numeric", "integer")  # an integer column is numeric too (compatible kinds)
_STRINGS = ("categorical", "text")
_PLAIN = frozenset((int, float, str, bool, type(None)))
ISO_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}([ T]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?(Z|[+-]\d{2}(:?\d{2})?)?"
)


@dataclass(frozen=True)
class ColumnKind:
    """The kind of one column, as every rung describes it.

    ``kind`` is one of :data:`KINDS`; ``dtype`` the pandas dtype it was seen with;
    ``nullable`` whether it held missing values; ``timezone`` a datetime's zone (``None``
    when naive or not a datetime); ``categories`` the sorted distinct values (as strings) of a
    categorical or boolean column, when known.
    """

    kind: str
    dtype: str = "object"
    nullable: bool = True
    timezone: str | None = None
    categories: tuple[str, ...] | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"kind", "dtype", "nullable"}`` plus ``timezone`` for a zoned
        datetime and ``categories`` when known."""
        out: dict[str, Any] = {"kind": self.kind, "dtype": self.dtype, "nullable": self.nullable}
        if self.timezone is not None:
            out["timezone"] = self.timezone
        if self.categories is not None:
            out["categories"] = list(self.categories)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnKind:
        """The kind described by a JSON form (older forms without ``dtype`` or ``nullable``
        read as an object column that allows nulls)."""
        cats = d.get("categories")
        if isinstance(cats, dict):  # a schema keeps category shares
            cats = list(cats)
        return cls(
            kind=str(d.get("kind") or "categorical"),
            dtype=str(d.get("dtype") or "object"),
            nullable=bool(d.get("nullable", True)),
            timezone=d.get("timezone"),
            categories=tuple(str(c) for c in cats) if cats is not None else None,
        )

    def accepts(self, other: ColumnKind) -> bool:
        """True when a column of kind ``other`` may stand where this kind is expected: the
        same kind, integer for numeric (and numeric for integer: an integer column with a
        missing value reads back as floats), text for categorical and back, and a datetime
        with a zone for one with another zone (compared in UTC)."""
        if self.kind == other.kind:
            return (self.timezone is None) == (other.timezone is None)
        return (self.kind in _NUMBERS and other.kind in _NUMBERS) or (
            self.kind in _STRINGS and other.kind in _STRINGS
        )

    def describe(self) -> str:
        """``integer (Int64, nullable)``, ``datetime (UTC)``…: for messages and tables."""
        parts = [self.dtype]
        if self.timezone:
            parts.append(self.timezone)
        if self.nullable:
            parts.append("nullable")
        return f"{self.kind} ({', '.join(parts)})"


# -- from pandas -----------------------------------------------------------------------------


def kind_of(series: pd.Series) -> ColumnKind:
    """The kind of one column (a Series). Raises :class:`~rung.core.errors.InvalidInput`
    for a DataFrame (what ``frame[name]`` returns when names repeat)."""
    import pandas as pd
    from pandas.api import types as t

    if isinstance(series, pd.DataFrame):
        check_unique_names(series.columns)
    dtype = series.dtype
    nullable = bool(series.isna().any())
    name = str(dtype)
    if isinstance(dtype, pd.CategoricalDtype):
        cats = tuple(sorted({str(c) for c in dtype.categories}))
        return ColumnKind("categorical", "category", nullable, categories=cats)
    if t.is_bool_dtype(dtype):
        return ColumnKind("boolean", name, nullable, categories=("False", "True"))
    if t.is_integer_dtype(dtype):
        return ColumnKind("integer", name, nullable)
    if t.is_float_dtype(dtype):
        return ColumnKind("numeric", name, nullable)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return ColumnKind("datetime", name, nullable, timezone=_zone_name(dtype.tz))
    if t.is_datetime64_any_dtype(dtype):
        return ColumnKind("datetime", name, nullable)
    if t.is_timedelta64_dtype(dtype) or t.is_complex_dtype(dtype):
        return ColumnKind("text", name, nullable)
    return _kind_of_objects(series, name, nullable)


def _kind_of_objects(series: pd.Series, dtype: str, nullable: bool) -> ColumnKind:
    """An object or string column: by the types of its values (pandas' ``infer_dtype``)."""
    from pandas.api.types import infer_dtype

    values = series.dropna()
    inferred = infer_dtype(values, skipna=True) if len(values) else "empty"
    if inferred == "boolean":
        return ColumnKind("boolean", dtype, nullable, categories=("False", "True"))
    if inferred == "integer":
        return ColumnKind("integer", dtype, nullable)
    if inferred in ("floating", "mixed-integer-float", "decimal"):
        return ColumnKind("numeric", dtype, nullable)
    if inferred in ("datetime", "datetime64", "date"):
        zones = {_zone_name(getattr(v, "tzinfo", None)) for v in values}
        if len(zones) == 1:
            return ColumnKind("datetime", dtype, nullable, timezone=zones.pop())
        return ColumnKind("text", dtype, nullable)  # naive and zoned times mixed
    if inferred == "empty":  # all null: nothing says more than "some values, maybe text"
        return ColumnKind("text", dtype, True)
    if inferred == "string":
        zone = _iso_dates(values)
        if zone is not False:
            return ColumnKind("datetime", dtype, nullable, timezone="UTC" if zone else None)
    distinct = values.astype(str).unique()
    if len(distinct) > MAX_CATEGORIES:
        return ColumnKind("text", dtype, nullable)
    return ColumnKind("categorical", dtype, nullable, categories=tuple(sorted(distinct)))


def _iso_dates(values: pd.Series) -> bool | None:
    """For a column of strings: ``False`` unless every value is an ISO 8601 date or time (as
    CSV files hold them); else ``True`` when the strings carry offsets (read in UTC), ``None``
    when none does. Strings that mix naive and offset times are not dates."""
    import pandas as pd

    sample = values.head(200).astype(str)
    if not all(ISO_TIME.fullmatch(s) for s in sample):
        return False
    zoned = {bool(re.search(r"(Z|[+-]\d{2}(:?\d{2})?)$", s[10:])) for s in sample}
    if len(zoned) != 1:
        return False
    has_zone = zoned.pop()
    try:
        pd.to_datetime(values.astype(str), format="ISO8601", utc=has_zone)
    except (ValueError, TypeError, OverflowError):
        return False
    return True if has_zone else None


def _zone_name(tz: Any) -> str | None:
    if tz is None:
        return None
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)
    return str(key) if key else str(tz)


def kinds_of(frame: pd.DataFrame, where: str = "the data") -> dict[str, ColumnKind]:
    """The kind of every column of ``frame``, by name (as strings), in the frame's order.

    Raises :class:`~rung.core.errors.InvalidInput` naming the repeated names when a name holds
    several columns (a kind cannot be told for one name that is two columns).
    """
    check_unique_names(frame.columns, where)
    return {str(name): kind_of(frame[name]) for name in frame.columns}


def check_unique_names(columns: Any, where: str = "the data") -> None:
    """:class:`~rung.core.errors.InvalidInput` naming the names that occur twice (also ``1``
    and ``"1"``, which every JSON form and Parquet file would merge)."""
    from rung.core.errors import InvalidInput

    seen: set[str] = set()
    dup: list[str] = []
    for name in columns:
        key = str(name)
        if key in seen and key not in dup:
            dup.append(key)
        seen.add(key)
    if dup:
        raise InvalidInput(
            f"{where} has duplicate column name(s) {dup[:5]}",
            "give every column its own name (rung selects columns by name)",
        )


def with_str_names(frame: pd.DataFrame, where: str = "the data") -> pd.DataFrame:
    """``frame`` with its column names as strings (``0`` becomes ``"0"``: Parquet and JSON
    only know string names), after :func:`check_unique_names`; the same object when its
    names are strings already."""
    check_unique_names(frame.columns, where)
    if all(type(c) is str for c in frame.columns):
        return frame
    renamed = frame.copy(deep=False)
    renamed.columns = [str(c) for c in frame.columns]
    return renamed


# -- values: checked and coerced ---------------------------------------------------------


def is_null(value: Any) -> bool:
    """``None``, ``NaN``, ``NaT`` and ``pd.NA`` are missing values."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    cls = type(value).__name__
    if cls in ("NAType", "NaTType"):
        return True
    if cls.startswith("float") and hasattr(value, "item"):  # numpy floats
        return math.isnan(float(value))
    return False


def problem(value: Any, spec: ColumnKind) -> str | None:
    """Why ``value`` (a JSON scalar, or a Python/numpy/pandas scalar from a file) cannot be a
    value of a column of kind ``spec``, or ``None`` when it can."""
    if is_null(value):
        return None if spec.nullable else "null is not allowed (the training data had none)"
    value = plain(value)
    kind = spec.kind
    if kind in _NUMBERS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number, got {type(value).__name__} {quoted(value)}"
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an integer too large for a float
            finite = False
        if not finite:
            return "expected a finite number"
        if kind == "numeric":
            from rung.core.numbers import out_of_range

            return out_of_range(float(value), spec.dtype)
        if kind == "integer":
            if isinstance(value, float) and not value.is_integer():
                return f"expected an integer, got {quoted(value)}"
            lo, hi = integer_range(spec)
            if not lo <= value <= hi:
                return f"{quoted(value)} is outside the range of {spec.dtype} [{lo}, {hi}]"
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else f"expected true or false, got {quoted(value)}"
    if kind == "categorical":
        if not isinstance(value, str | int | float | bool):
            return f"expected a category, got {type(value).__name__}"
        allowed = spec.categories
        if allowed is not None and spec.dtype != "bool" and str(value) not in set(allowed):
            import unicodedata

            from rung.core.suggest import did_you_mean

            text = str(value)
            if unicodedata.normalize("NFC", text) in set(allowed):
                return (
                    f"unknown category {quoted(value)}: the same letters as a known category,"
                    " written in another Unicode form — send text in NFC (composed) form"
                )
            shown = ", ".join(allowed[:10]) + (" …" if len(allowed) > 10 else "")
            near = did_you_mean(str(value)[:200], allowed)
            return (
                f"unknown category {quoted(value)}: {f'{near} (' if near else ''}allowed {shown}"
                + (")" if near else "")
            )
        return None
    if kind == "datetime":
        if not isinstance(value, str):
            return f"expected a date string, got {quoted(value)}"
        if not ISO_TIME.fullmatch(value):
            return f"expected an ISO 8601 date or time, got {quoted(value)}"
        try:
            datetimes([value], spec)
        except (ValueError, TypeError, OverflowError) as exc:
            # pandas' first line says what is wrong; the lines after it are advice about
            # to_datetime's arguments, which a caller of the API cannot act on
            reason = next((line for line in str(exc).splitlines() if line.strip()), "")
            reason = reason.split(" You might want to try:")[0].strip()
            return f"cannot read {quoted(value)} as a date ({reason})"
        return None
    if kind == "text":
        return None if isinstance(value, str) else f"expected a string, got {quoted(value)}"
    return None


def check_frame(frame: pd.DataFrame, specs: dict[str, Any], where: str) -> None:
    """Check a frame's feature columns against a signature's kinds (``{name: ColumnKind
    dict}``) with :func:`problem`, the rule of the service and ``rung predict``: a null where
    the training data had none, a value of the wrong kind, an integer outside its dtype, a
    number outside the range of numbers (:mod:`rung.core.numbers`: ``-1e100 … 1e100``, less
    for a float32 or float16 column).
    Raises :class:`~rung.core.errors.InvalidInput` naming the first bad value's column and
    row, and how many more there are. Columns without a recorded kind are not checked."""
    import numpy as np

    from rung.core.errors import InvalidInput

    bad: list[tuple[str, int, str]] = []
    for name in frame.columns:
        raw = specs.get(str(name))
        if not raw:
            continue
        spec = ColumnKind.from_dict(raw)
        col = frame[name]
        if spec.kind in _NUMBERS and col.dtype.kind in "iuf":  # bulk: nulls and infinities
            values = col.to_numpy()
            wrong = (np.isnan(values) if not spec.nullable else np.zeros(len(col), bool)) | (
                np.isinf(values) if col.dtype.kind == "f" else np.zeros(len(col), bool)
            )
            if col.dtype.kind == "f":  # past the range of numbers (rung.core.numbers)
                from rung.core.numbers import dtype_max

                with np.errstate(invalid="ignore"):
                    wrong |= np.abs(values) > dtype_max(spec.dtype)
            rows = np.flatnonzero(wrong)
            if spec.kind == "integer" and col.dtype.kind in "iu":
                lo, hi = integer_range(spec)
                rows = np.union1d(rows, np.flatnonzero((values < lo) | (values > hi)))
            bad += [(str(name), int(i), problem(col.iloc[i], spec) or "") for i in rows[:3]]
            bad += [(str(name), -1, "")] * max(len(rows) - 3, 0)
            continue
        if spec.kind in ("boolean", "datetime") and col.dtype.kind in "bM":  # typed: nulls only
            nulls = [] if spec.nullable else np.flatnonzero(col.isna().to_numpy()).tolist()
            bad += [(str(name), int(i), problem(None, spec) or "") for i in nulls]
            continue
        if spec.kind == "categorical" and spec.categories is not None and spec.dtype != "bool":
            # bulk: the values outside the categories, and nulls; each then named by problem
            allowed = set(spec.categories)
            items: list[Any] = col.tolist()
            suspect = [
                i
                for i, v in enumerate(items)
                if is_null(v) or not isinstance(v, str) or v not in allowed
            ]
        else:
            items = col.tolist()
            suspect = list(range(len(col)))
        for i in suspect:
            why = problem(items[i], spec)
            if why:
                bad.append((str(name), i, why))
    if bad:
        from rung.core.text import and_more

        column, row, why = bad[0]
        more = and_more([f"column {c!r} row {r}" for c, r, _ in bad[1:7]], total=len(bad) - 1)
        raise InvalidInput(
            f"{where} column {column!r} row {row}: {why}{more}",
            "give the model values like its training data's (rung predict and the service"
            " refuse them the same way)",
        )


def integer_range(spec: ColumnKind) -> tuple[int, int]:
    """The smallest and largest value an integer column of ``spec``'s dtype holds (int64's
    when the dtype is not an integer one: an object column of Python ints)."""
    import numpy as np

    name = spec.dtype.lower()
    try:
        info = np.iinfo(name if name[:3] in ("int", "uin") else "int64")
    except (TypeError, ValueError):
        info = np.iinfo("int64")
    return int(info.min), int(info.max)


def plain(value: Any) -> Any:
    """The JSON form of one scalar: numpy scalars as Python ones, timestamps and dates as ISO
    8601 strings, decimals as floats, missing values (``NaN`` excepted) as ``None``.

    Used for every value rung writes as JSON (parameters, logged inputs, records); a value of
    no known scalar type is returned unchanged.
    """
    if isinstance(value, str):
        return str(value)  # numpy's str_ too
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return float(value)
    name = type(value).__name__
    if name in ("NAType", "NaTType"):
        return None
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if name.startswith("datetime64"):  # numpy datetime64 scalar
        import pandas as pd

        stamp = pd.Timestamp(value)
        return None if stamp is pd.NaT else stamp.isoformat()
    if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:
        return plain(value.item())
    return value


def coerce(values: list[Any], spec: ColumnKind) -> Any:
    """A column of ``values`` (already checked with :func:`problem`) in the dtype the model
    was fitted on: ``bool``/``boolean`` for booleans, the recorded integer or float dtype
    (floats when an integer column holds a null the dtype cannot), ``category`` with the
    training categories, ``datetime64`` in the recorded zone, strings otherwise.

    An array (numpy's, or pandas' for its own dtypes; a Series for datetimes), one value per
    row, for ``pandas.DataFrame`` to take as a column: building a frame of arrays costs a
    tenth of building it of Series (the service's hot path)."""
    import numpy as np
    import pandas as pd

    types = set(map(type, values))
    if types <= _PLAIN:  # what JSON gives: no per-value conversion (the service's hot path)
        vals = values if float not in types else [None if v != v else v for v in values]
    else:
        vals = [None if is_null(v) else plain(v) for v in values]
    has_null = None in vals
    kind, dtype = spec.kind, spec.dtype
    if kind in _NUMBERS:
        if dtype in ("object", "string") or dtype.startswith(("str", "object")):
            return _objects(vals)
        if dtype[:1] == "I" or dtype[:2] == "UI" or dtype == "Float64":  # pandas nullable
            return pd.array(vals, dtype=cast(Any, dtype))
        if kind == "integer" and not has_null and dtype[:3] in ("int", "uin"):
            return np.array(vals, dtype=dtype)
        target = dtype if dtype.startswith("float") else "float64"
        return np.array([np.nan if v is None else v for v in vals] if has_null else vals, target)
    if kind == "boolean":
        if dtype == "bool" and not has_null:
            return np.array(vals, dtype=bool)
        if dtype == "boolean" or dtype == "bool":
            return pd.array(vals, dtype="boolean")
        return _objects(vals)
    if kind == "datetime":
        if dtype.startswith("datetime64"):
            return pd.Series(datetimes(vals, spec))
        return _objects(vals)  # the model was fitted on the strings
    if kind == "categorical" and dtype == "category":
        cats = list(spec.categories or sorted({str(v) for v in vals if v is not None}))
        return pd.Categorical([None if v is None else str(v) for v in vals], categories=cats)
    if kind in _STRINGS:  # categories were recorded as text: a 3 sent for "3" is "3"
        texts = vals if types == {str} else [None if v is None else str(v) for v in vals]
        if dtype.startswith("string"):
            return pd.array(texts, dtype=cast(Any, dtype))
        return _objects(texts)
    return _objects(vals)


def _objects(values: list[Any]) -> Any:
    """An object column of ``values``, one element per value (never a second axis, whatever a
    value holds): a Series, since a frame infers ``str`` from an object array of texts."""
    import numpy as np
    import pandas as pd

    return pd.Series(np.fromiter(values, dtype=object, count=len(values)), dtype=object)


def datetimes(values: list[Any], spec: ColumnKind) -> Any:
    """Datetimes of ``values`` in ``spec``'s zone: naive values given for a zoned column are
    read as UTC, zoned values given for a naive column are converted to UTC (naive)."""
    import pandas as pd

    stamps = pd.to_datetime(
        pd.Series([None if is_null(v) else str(plain(v)) for v in values], dtype=object),
        format="ISO8601",
        utc=True,
    )
    if spec.timezone is None:
        return stamps.dt.tz_localize(None)
    zone = spec.timezone
    if zone.startswith("UTC") and len(zone) > 3:  # a fixed offset, "UTC+01:00"
        zone = _dt.timezone(_offset(zone[3:]))  # type: ignore[assignment]
    return stamps.dt.tz_convert(zone)


def _offset(text: str) -> _dt.timedelta:
    sign = -1 if text.startswith("-") else 1
    hours, _, minutes = text.lstrip("+-").partition(":")
    return sign * _dt.timedelta(hours=int(hours), minutes=int(minutes or 0))


def sample_value(spec: ColumnKind) -> Any:
    """A plausible JSON value of the kind (a warm-up row): the first category, ``False``,
    ``0``, ``0.0``, ``"2000-01-01"`` or ``""``."""
    if spec.kind == "boolean":
        return False
    if spec.categories:
        return spec.categories[0]
    return {
        "integer": 0,
        "numeric": 0.0,
        "datetime": "2000-01-01T00:00:00" + ("+00:00" if spec.timezone else ""),
    }.get(spec.kind, "")


# -- drift: the numbers a kind is compared by ----------------------------------------------


def drift_basis(kind: str) -> str:
    """How a kind's drift is measured: ``"numeric"`` (binned numbers: numeric, integer,
    datetime as epoch seconds in UTC, text as string lengths) or ``"categorical"``
    (category counts: categorical, boolean)."""
    return "categorical" if kind in ("categorical", "boolean") else "numeric"


def drift_numbers(values: Any, spec: ColumnKind) -> Any:
    """The float array a numeric-basis drift statistic is computed on (``NaN`` for missing
    values): the values themselves, datetimes as seconds since 1970-01-01 UTC (naive times
    taken as UTC), text as its length in characters."""
    import numpy as np
    import pandas as pd

    if spec.kind == "datetime":
        series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
        if series.dtype == object or str(series.dtype).startswith(("string", "str")):
            try:
                stamps = pd.to_datetime(series, format="ISO8601", utc=True)
            except (ValueError, TypeError, OverflowError):
                stamps = pd.to_datetime(series, format="ISO8601", utc=True, errors="coerce")
        else:
            stamps = pd.to_datetime(series, utc=True)
        epoch = pd.Timestamp(0, tz="UTC")
        return ((stamps - epoch) / pd.Timedelta(seconds=1)).to_numpy(dtype=float, na_value=np.nan)
    if spec.kind == "text":
        return np.array([np.nan if is_null(v) else float(len(str(v))) for v in values], dtype=float)
    if isinstance(values, pd.Series):
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.array(
        [np.nan if is_null(v) or isinstance(v, str) else float(plain(v)) for v in values],
        dtype=float,
    )


def model_input(frame: Any, model: Any) -> Any:
    """What to hand ``model`` for ``frame`` (already in the training column order): the frame
    itself when the model knows column names (``feature_names_in_``) or is not a scikit-learn
    estimator, else its values — a model fitted on an array takes them by position, and a
    frame would only earn a warning."""
    if (
        hasattr(model, "n_features_in_")
        and not hasattr(model, "feature_names_in_")
        and hasattr(frame, "to_numpy")
    ):
        return frame.to_numpy()
    return frame


def json_column(series: Any) -> list[Any]:
    """A column's values as JSON scalars (:func:`plain`): ``None`` for every missing value,
    datetimes as ISO 8601 strings; numbers of a numpy dtype without a per-value step."""
    dtype = str(series.dtype)
    if dtype.startswith(("float", "int", "uint")) and dtype != "float16":
        return (
            [None if v != v else v for v in series.tolist()] if dtype[0] == "f" else series.tolist()
        )
    if dtype == "bool":
        return series.tolist()
    return [None if is_null(v) else plain(v) for v in series.tolist()]
