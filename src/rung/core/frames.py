"""Checks every public function that takes a DataFrame makes first (pure: no I/O)."""

from __future__ import annotations

from typing import Any

from rung.core.errors import InvalidInput


def unique_columns(frame: Any, what: str = "the DataFrame") -> None:
    """Refuse a DataFrame whose column names repeat, in one line naming them.

    With a repeated name, ``frame[name]`` is a DataFrame rather than a column, and each
    consumer fails its own way (``'DataFrame' object has no attribute 'dtype'``, pyarrow's
    ``Duplicate column names found``, ``to_dict`` silently dropping a column)."""
    columns = getattr(frame, "columns", None)
    if columns is None or columns.is_unique:
        return
    repeated = sorted({str(c) for c in columns[columns.duplicated()]})
    raise InvalidInput(
        f"{what} has duplicate column name(s) {repeated[:5]}",
        "rename or drop the duplicates, e.g. df.loc[:, ~df.columns.duplicated()]",
    )
