"""The one reader of tabular files (CSV and Parquet) that enter rung: ``rung data add``,
``rung predict -i``, ``rung feedback FILE``, and stored CSV versions read back.

pandas' defaults change a file without a word, and every change is refused here instead:

* duplicate column names — ``a,a`` became ``a`` and ``a.1`` (a Parquet file with two ``a``
  failed deep in Arrow): refused, naming the names, from the file's own header;
* ragged rows — a row longer than the header turned the first column into the index (its
  values gone), a shorter one was padded with nulls: refused, naming the line and both field
  counts;
* integers beyond 64 bits — a CSV column holding one became strings (``'-9223372036854775808'``
  beside its neighbours): such a column is read as exact Python ``int`` values, which the
  signature check and the storage check (:func:`parquet_bytes`) then judge.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import re
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rung.core.columns import check_unique_names
from rung.core.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

_INTEGER = re.compile(r"[+-]?[0-9]+")


def read_table(
    path: Path,
    fmt: str,
    hint: str = "fix the file, or rename it to another extension to version it as a plain file",
) -> pd.DataFrame:
    """A CSV or Parquet file as a DataFrame, exactly as the file has it.

    Raises :class:`~rung.core.errors.InvalidInput` (one line naming the file and the reason,
    with ``hint``) for a file that does not parse, has duplicate column names, or (CSV) has a
    row whose number of fields differs from the header's.
    """
    where = repr(str(path))
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            check_unique_names(pq.read_schema(path).names, where)
            frame = read_frame(path, fmt)
        else:
            _check_csv_shape(path, where)
            frame = read_frame(path, fmt)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, exc.hint or hint) from exc
    except (ValueError, OSError, csv.Error) as exc:  # ParserError, EmptyData, Unicode, Arrow
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InvalidInput(f"cannot read {where} as {fmt.upper()}: {reason}", hint) from exc
    check_unique_names(frame.columns, where)
    return frame


def read_frame(source: Path | str | bytes | IO[bytes], fmt: str) -> pd.DataFrame:
    """A file (path), bytes or binary file-like object of format ``fmt`` as a DataFrame,
    without the checks of :func:`read_table` (for stored versions, which passed them when
    they were added): the CSV's first column is never taken as the index, and integer
    columns beyond 64 bits are exact ``int`` values.

    The one reader of Parquet in rung: Arrow is given a path or an Arrow buffer, never a
    Python file object. Arrow's reader threads calling back into a Python file object (an
    ``open()`` handle, a ``BytesIO``, an fsspec file) can abort the interpreter at exit with
    "terminate called without an active exception" after the command has done its work
    (apache/arrow#34314, #50482; seen here in about one process in seven).
    """
    import pandas as pd

    if fmt == "parquet":
        if isinstance(source, (str, Path)):
            return pd.read_parquet(source)
        import pyarrow as pa

        data = source if isinstance(source, bytes) else source.read()
        return pd.read_parquet(pa.BufferReader(data))
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    return exact_integers(pd.read_csv(source, index_col=False))


def read_head(path: Path, fmt: str, n: int) -> pd.DataFrame:
    """The first ``n`` rows of a stored CSV or Parquet file at ``path``, reading only as much
    of it as they take (a Parquet file's first row group's batch; CSV's first lines), given
    to Arrow as a path (see :func:`read_frame`)."""
    import pandas as pd

    if fmt == "csv":
        return exact_integers(pd.read_csv(path, nrows=n, index_col=False))
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    try:
        first = next(parquet.iter_batches(batch_size=max(n, 1)), None)
        table = pa.Table.from_batches([] if first is None else [first], parquet.schema_arrow)
    finally:
        parquet.close()
    return table.to_pandas().head(n)


def exact_integers(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each object column whose values are all integer literals (what pandas
    leaves as strings when one is beyond int64 and uint64) as Python ``int`` values."""
    import pandas as pd

    for i in range(frame.shape[1]):
        col = frame.iloc[:, i]
        if col.dtype != object and not pd.api.types.is_string_dtype(col.dtype):
            continue  # pandas 3 reads such a column as its "str" dtype
        values = col.dropna()
        if len(values) and all(isinstance(v, str) and _INTEGER.fullmatch(v) for v in values):
            exact = col.map(lambda v: int(v) if isinstance(v, str) else v)
            frame.isetitem(i, exact.to_numpy(dtype=object))
    return frame


def _check_csv_shape(path: Path, where: str) -> None:
    """Refuse duplicate header names and rows whose field count differs from the header's
    (blank lines are skipped, as pandas skips them). One pass of the csv module, which
    understands quoted fields holding commas and line breaks as pandas does."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return  # empty: pandas says so
        check_unique_names(header, where)
        width = len(header)
        for row in reader:
            if row and len(row) != width:
                raise InvalidInput(
                    f"cannot read {where} as CSV: line {reader.line_num} has {len(row)}"
                    f" field(s), the header has {width}",
                    "give every row one value per column (an empty field for a missing one)",
                )


# the kinds of value an object column may hold, all of one kind, for Parquet to keep each
# value as it is; a mix of int and float is one kind while every int is exact as a float
_FAMILIES: dict[type, str] = {
    str: "text",
    bytes: "bytes",
    bool: "boolean",
    int: "number",
    float: "number",
    decimal.Decimal: "decimal",
    dt.datetime: "datetime",
    dt.date: "date",
    dt.time: "time",
    dt.timedelta: "duration",
}
_EXACT_FLOAT = 2**53


def unstorable(frame: pd.DataFrame) -> tuple[str, str] | None:
    """The first column of ``frame`` whose values Parquet would change or cannot hold, with
    why: complex numbers; an object column holding dicts, lists, sets, tuples or other
    objects (Arrow turned ``[{'a': 1}, {'b': 2}]`` into ``{'a': 1.0, 'b': None}``…); one
    mixing kinds of value (bytes with text, text with numbers); integers beyond int64; or
    integers beside floats where an integer is not exact as a float. ``None`` if every column
    is stored as it is."""
    import numpy as np
    import pandas as pd

    for i in range(frame.shape[1]):
        col = frame.iloc[:, i]
        name = str(frame.columns[i])
        if isinstance(col.dtype, np.dtype) and np.issubdtype(col.dtype, np.complexfloating):
            return name, f"holds complex numbers ({col.dtype})"
        if col.dtype != object:
            continue
        families: dict[str, type] = {}
        for v in col:
            if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v):
                continue
            t = type(v)
            fam = _family(v)
            if fam is None:
                return name, f"holds {t.__name__} values ({_short(v)})"
            families.setdefault(fam, t)
            if fam == "number" and t is int and not -(2**63) <= v < 2**63:
                return name, f"holds an integer beyond int64 ({v})"
        if len(families) > 1:
            kinds = " and ".join(sorted(families))
            return name, f"mixes {kinds} values"
        if families.get("number") is not None:
            ints = [v for v in col if isinstance(v, int | np.integer) and not isinstance(v, bool)]
            floats = any(isinstance(v, float | np.floating) and v == v for v in col)
            if ints and floats and any(abs(int(v)) > _EXACT_FLOAT for v in ints):
                return name, "mixes floats with integers too large to be exact as floats"
    return None


def _family(v: Any) -> str | None:
    import numpy as np

    for t, fam in _FAMILIES.items():  # datetime before date: subclasses first in the dict
        if isinstance(v, t):
            return fam
    if isinstance(v, np.bool_):
        return "boolean"
    if isinstance(v, np.integer | np.floating):
        return "number"
    if isinstance(v, np.datetime64):
        return "datetime"
    return None


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def parquet_bytes(frame: pd.DataFrame, where: str, index: bool = True) -> bytes:
    """``frame`` as Parquet bytes — the one place a frame becomes Parquet (a DataFrame added
    as a dataset, a step's output). Refused with :class:`InvalidInput`, in one line naming
    the column and the fix, when a value would not read back as it was written
    (:func:`unstorable`) or Parquet cannot hold it. Column names are made strings and must be
    unique (:func:`rung.core.columns.with_str_names`)."""
    from rung.core.columns import with_str_names

    frame = with_str_names(frame, where)
    bad = unstorable(frame)
    if bad is not None:
        column, why = bad
        raise InvalidInput(
            f"{where} cannot be stored as Parquet: column {column!r} {why}",
            f"give the column one plain type (e.g. df[{column!r}] = df[{column!r}].astype(str),"
            " or json.dumps each value), or version the data as a file",
        )
    buf = io.BytesIO()
    try:
        frame.to_parquet(buf, index=index)
    except (ValueError, TypeError, OverflowError, NotImplementedError) as exc:  # Arrow's
        parts = exc.args if len(exc.args) > 1 else (str(exc),)
        reason = "; ".join(str(p).strip().splitlines()[0] for p in parts if str(p).strip())
        raise InvalidInput(
            f"{where} cannot be stored as Parquet: {reason}",
            "give each column one type (e.g. df[col] = df[col].astype(str) for mixed values)",
        ) from exc
    return buf.getvalue()
