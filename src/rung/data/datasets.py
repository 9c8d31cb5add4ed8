"""Dataset versions: ``ws.data.add(...)``, ``ws.data.get("NAME@3")``, listing and diffs.

A version points at one artifact: the file itself, Parquet bytes for a DataFrame, or for a
folder a JSON manifest listing every file's relative path, size and hash (each file is an
object of its own, so unchanged files are shared between versions). CSV and Parquet versions
also carry a schema and summary statistics.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rung.core.columns import check_unique_names
from rung.core.errors import InvalidInput, NotFound, SourceChanged
from rung.core.hashing import canonical_json, hash_bytes, ordered_json
from rung.core.refs import Ref, check_name, parse_ref
from rung.core.suggest import unknown
from rung.data import reads
from rung.data.profile import diff_profiles, profile
from rung.data.tables import parquet_bytes, read_frame, read_table
from rung.store.artifacts import ArtifactStore
from rung.store.failures import require_space
from rung.store.metadata import MetadataStore
from rung.store.records import allocate, ensure_artifact
from rung.store.statcache import StatCache, file_stat

if TYPE_CHECKING:
    import pandas as pd

TABULAR = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
MEDIA = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet", "tree": "application/json"}


@dataclass
class DatasetVersion:
    """One immutable version of a named dataset."""

    id: int
    name: str
    version: int
    hash: str
    format: str  # csv | parquet | file | tree
    source: str
    rows: int | None
    files: int
    size: int
    schema: dict[str, Any] | None
    stats: dict[str, Any] | None
    created_at: float
    _artifacts: ArtifactStore | None = field(default=None, repr=False, compare=False)
    _checkout_root: Path | None = field(default=None, repr=False, compare=False)
    _expected: dict[str, tuple[str, int]] | None = field(default=None, repr=False, compare=False)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def tabular(self) -> bool:
        return self.format in ("csv", "parquet")

    def load(self) -> Any:
        """A DataFrame for CSV and Parquet versions, else a local path to a verified copy."""
        if self.tabular:
            return self.to_pandas()
        return self.path()

    def to_pandas(self) -> pd.DataFrame:
        if not self.tabular:
            raise InvalidInput(
                f"dataset {self.ref} is {self.format}, not a table", "use .path() to read its files"
            )
        return read_frame(self._store().get_bytes(self.hash), self.format)

    def head(self, n: int = 20) -> pd.DataFrame:
        """The first ``n`` rows of a CSV or Parquet version, as :meth:`to_pandas` reads them.

        From a local store only those rows are read (CSV: ``nrows``; Parquet: the first
        record batch through Arrow given the path), not verified against the hash (a
        preview; :meth:`to_pandas` verifies); from a remote store the whole version is read.
        Raises :class:`InvalidInput` for a version that is not a table, or for ``n`` < 0."""

        if not self.tabular:
            raise InvalidInput(
                f"dataset {self.ref} is {self.format}, not a table", "use .path() to read its files"
            )
        if n < 0:
            raise InvalidInput(f"cannot show {n} rows", "ask for 0 rows or more")
        store = self._store()
        if not store.local:
            return self.to_pandas().head(n)
        path = store.path(self.hash)
        if not Path(path).exists():
            return self.to_pandas().head(n)  # raises IntegrityError naming the missing object
        from rung.data.tables import read_head

        return read_head(Path(path), self.format, n)

    def path(self) -> Path:
        """A verified read-only copy of the file or folder, checked out under ``.rung/``.

        Shared by every process of the workspace, built atomically, read-only, and
        re-checked (one ``stat`` per file) on every call: a modified copy is rebuilt. See
        :mod:`rung.data.checkout`. Raises :class:`IntegrityError` if a stored object is
        missing or corrupt.
        """
        from rung.data.checkout import checkout

        store = self._store()
        assert self._checkout_root is not None
        dest = self._checkout_root / self.hash[:16] / Path(self.source).name
        if self._expected is None:
            if self.format == "tree":
                manifest = json.loads(store.get_bytes(self.hash))
                self._expected = {
                    e["path"]: (e["hash"], store.size(e["hash"], e["size"]))
                    for e in manifest["files"]
                }
            else:
                self._expected = {"": (self.hash, store.size(self.hash, self.size))}
        return checkout(store, dest, self._expected)

    def _store(self) -> ArtifactStore:
        if self._artifacts is None:
            raise InvalidInput(
                f"dataset {self.ref} is detached from its workspace", "use ws.data.get"
            )
        return self._artifacts

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "ref": self.ref,
            "hash": self.hash,
            "format": self.format,
            "source": self.source,
            "rows": self.rows,
            "files": self.files,
            "size": self.size,
            "created_at": self.created_at,
            "schema": self.schema,
            "stats": self.stats,
        }


class Datasets:
    """The dataset registry of one workspace (``ws.data``)."""

    def __init__(
        self,
        store: MetadataStore,
        artifacts_: ArtifactStore,
        stat_cache: Callable[[], StatCache],
        checkout_root: Path,
        private: tuple[Path, ...] = (),
    ) -> None:
        """``private``: the workspace's own folders (its state folder, the artifact root),
        never versioned (:mod:`rung.data.tree`)."""
        local = (Path(artifacts_.base),) if artifacts_.local else ()
        self._private = (*private, *local, checkout_root)
        self._store = store
        self._artifacts = artifacts_
        self._stat_cache = stat_cache
        self._checkout_root = checkout_root

    # -- adding ------------------------------------------------------------------------

    def add(self, source: Any, name: str, *, description: str | None = None) -> DatasetVersion:
        """Version a file, a folder or a DataFrame under ``name``.

        Adding content identical to an existing version of ``name`` is a no-op that returns
        that version.
        """
        check_name(name, "dataset name")
        if isinstance(source, str | os.PathLike):
            return self._add_path(Path(source), name)
        if type(source).__name__ == "DataFrame":
            check_unique_names(source.columns, "the DataFrame")
            return self._add_frame(source, name, description or "<DataFrame>")
        raise InvalidInput(
            f"cannot version a {type(source).__name__} as dataset {name!r}",
            "pass a file or folder path, or a pandas DataFrame",
        )

    def _add_frame(self, df: pd.DataFrame, name: str, source: str) -> DatasetVersion:
        data = parquet_bytes(df, f"dataset {name!r}", index=False)  # refused: nothing stored
        # the profile of what is stored (an object column of ints and nulls reads back as
        # floats): every later reader sees the kinds the version reports
        schema, stats = profile(read_frame(data, "parquet"))
        digest = self._artifacts.put_bytes(data)
        return self._record(name, digest, "parquet", source, len(df), 1, len(data), schema, stats)

    def _add_path(self, path: Path, name: str) -> DatasetVersion:
        if not path.exists():
            raise NotFound(f"no such file or folder: {str(path)!r}", "check the path")
        from rung.data.tree import check_not_private, check_regular

        check_regular(path)
        check_not_private(path, self._private)
        if path.is_dir():
            return self._add_tree(path, name)
        fmt = TABULAR.get(path.suffix.lower(), "file")
        # The first look at the file: the parse, the hash and the size all answer for the bytes
        # it had then, and the add is refused if it changes before the copy is done.
        before = file_stat(str(path))
        schema = stats = None
        rows = None
        if fmt != "file":  # read it first: a file that does not parse is refused, not stored
            df = read_table(path, fmt)
            schema, stats = profile(df)
            rows = len(df)
        cache = self._stat_cache()
        key = str(path.resolve())
        ((st, digest),) = cache.lookup([key]).values()
        if digest is not None and st == before and self._artifacts.exists(digest):
            size = before[0]  # unchanged since it was hashed: one stat, no read
        else:  # new or changed: copy in while hashing, one read of the file
            require_space(self._artifacts, before[0])
            stored = self._artifacts.put_source(path, before)
            digest, size = stored.digest, stored.size
            cache.store([(key, before, digest)])
        return self._record(name, digest, fmt, str(path), rows, 1, size, schema, stats)

    def _add_tree(self, root: Path, name: str) -> DatasetVersion:
        from rung.data.tree import tree_files

        # (relative posix path, absolute path); special files follow the rule of data/tree.py
        files = tree_files(root, self._private)
        if not files:
            raise InvalidInput(f"folder {str(root)!r} holds no files", "add a folder with files")
        files.sort()
        cache = self._stat_cache()
        try:
            known = cache.lookup(full for _, full in files)
        except FileNotFoundError as exc:
            raise SourceChanged(
                f"{exc.filename!r} was deleted while folder {str(root)!r} was being added;"
                " nothing was recorded",
                "add it again once no process is writing to it",
            ) from exc
        digests: dict[str, str] = {}
        sizes: dict[str, int] = {}  # of the bytes hashed (the stat's size for a cache hit)
        todo: list[str] = []
        for _, full in files:
            cached = known[full][1]
            if cached is not None and self._artifacts.exists(cached):
                digests[full], sizes[full] = cached, known[full][0][0]
            else:
                todo.append(full)

        require_space(self._artifacts, sum(int(known[full][0][0]) for full in todo))
        for full, stored in zip(
            todo, self._artifacts.put_files(todo, [known[f][0] for f in todo]), strict=True
        ):
            digests[full], sizes[full] = stored.digest, stored.size
        cache.store((full, known[full][0], digests[full]) for full in todo)
        entries = [{"path": rel, "size": sizes[full], "hash": digests[full]} for rel, full in files]
        manifest = canonical_json({"files": entries}).encode()
        digest = self._artifacts.put_bytes(manifest)
        size = sum(sizes.values())
        return self._record(name, digest, "tree", str(root), None, len(entries), size, None, None)

    def _record(
        self,
        name: str,
        digest: str,
        fmt: str,
        source: str,
        rows: int | None,
        files: int,
        size: int,
        schema: dict[str, Any] | None,
        stats: dict[str, Any] | None,
    ) -> DatasetVersion:
        now = time.time()

        def write() -> DatasetVersion:
            with self._store.write() as tx:
                tx.lock(f"dataset:{name}")  # same content added at once: one version
                existing = tx.one(
                    "SELECT * FROM datasets WHERE name = :name AND artifact_hash = :h"
                    " ORDER BY version DESC LIMIT 1",
                    {"name": name, "h": digest},
                )
                if existing is not None:
                    return self._version(existing)
                media = MEDIA.get(fmt, "application/octet-stream")
                ensure_artifact(tx, digest, "dataset", size, media, None)
                latest = tx.scalar(
                    "SELECT MAX(version) FROM datasets WHERE name = :name", {"name": name}
                )
                row = {
                    "name": name,
                    "version": (latest or 0) + 1,
                    "artifact_hash": digest,
                    "format": fmt,
                    "source": source,
                    "rows": rows,
                    "files": files,
                    "size": size,
                    # the file's column order, not sorted: shown, validated and diffed in it
                    "schema": ordered_json(schema) if schema is not None else None,
                    "stats": ordered_json(stats) if stats is not None else None,
                    "created_at": now,
                }
                new_id = tx.insert("datasets", row)
                return self._version({"id": new_id, **row})

        return allocate(write, f"a version of {name!r}")

    # -- reading -----------------------------------------------------------------------

    def get(self, ref: str) -> DatasetVersion:
        """The version named by ``NAME@VERSION``, or the latest version for a bare ``NAME``.

        Inside a running pipeline a bare ``NAME`` resolves to the version the run pins (a
        reproduction pins what the original run read) and every resolution is recorded with
        the run: see :mod:`rung.data.reads`.
        """
        parsed = parse_ref(ref)
        recording = reads.active()
        if recording is not None and parsed.version is None:
            pinned = recording.pinned(parsed.name)
            if pinned is not None:
                parsed = Ref(parsed.name, pinned)
        version = self._get(parsed)
        if recording is not None:
            recording.record(ref, version.ref)
        return version

    def _get(self, parsed: Ref) -> DatasetVersion:
        args = {"name": parsed.name, "v": parsed.version}
        with self._store.read() as tx:
            if parsed.version is None:
                row = tx.one(
                    "SELECT * FROM datasets WHERE name = :name ORDER BY version DESC LIMIT 1", args
                )
            else:
                row = tx.one("SELECT * FROM datasets WHERE name = :name AND version = :v", args)
            latest = names = None
            if row is None:
                latest = tx.scalar("SELECT MAX(version) FROM datasets WHERE name = :name", args)
                if latest is None:
                    names = [r["name"] for r in tx.all("SELECT DISTINCT name FROM datasets")]
        if row is None:
            if latest is None:
                raise unknown("dataset", parsed.name, names or [], "see `rung data list`")
            raise NotFound(
                f"dataset {parsed.name!r} has no version {parsed.version}",
                f"its versions are 1 to {latest}",
            )
        return self._version(row)

    def by_id(self, dataset_id: int) -> DatasetVersion:
        with self._store.read() as tx:
            row = tx.one("SELECT * FROM datasets WHERE id = :id", {"id": dataset_id})
        if row is None:
            raise NotFound(f"unknown dataset id {dataset_id}")
        return self._version(row)

    def list(self, name: str | None = None) -> list[DatasetVersion]:
        """Every version (of one name, if given), newest first within a name."""
        where = "WHERE name = :name " if name is not None else ""
        with self._store.read() as tx:
            rows = tx.all(
                f"SELECT * FROM datasets {where}ORDER BY name, version DESC", {"name": name}
            )
        return [self._version(r) for r in rows]

    def diff(self, ref_a: str, ref_b: str) -> dict[str, Any]:
        """What changed from ``ref_a`` to ``ref_b``, what a person asks first leading.

        Keys: ``from``, ``to``, ``same_content``; ``format`` (``{"from", "to"}``) when the
        format changed (CSV → Parquet); for two tables ``rows`` (``from``, ``to``, ``added``,
        ``removed``), ``append`` (when rows were added: True when ``ref_a``'s rows are the first rows of ``ref_b``,
        False when not, None when not checked: see :meth:`_is_append`), ``same_rows`` (for the
        same row count: whether the values are the same, checked the same way),
        ``columns_added``,
        ``columns_removed``, ``types_changed`` and ``stats_changed`` (per column, the
        statistics that moved, from :func:`rung.data.profile.diff_profiles`); for two folders
        the files added, removed and changed; otherwise the sizes.
        """
        a, b = self.get(ref_a), self.get(ref_b)
        result: dict[str, Any] = {"from": a.ref, "to": b.ref, "same_content": a.hash == b.hash}
        if a.format != b.format:
            result["format"] = {"from": a.format, "to": b.format}
        if a.schema is not None and b.schema is not None and a.stats and b.stats:
            result.update(diff_profiles((a.schema, a.stats), (b.schema, b.stats)))
            rows_a, rows_b = result["rows"]["from"] or 0, result["rows"]["to"] or 0
            result["rows"].update(added=max(rows_b - rows_a, 0), removed=max(rows_a - rows_b, 0))
            result["append"] = self._is_append(a, b) if rows_b > rows_a else None
            if rows_a == rows_b and not result["same_content"]:  # e.g. the same table as Parquet
                result["same_rows"] = self._is_append(a, b)
        elif a.format == "tree" and b.format == "tree":
            result.update(self._diff_trees(a, b))
        else:
            result["size"] = {"from": a.size, "to": b.size}
        return result

    def schema(self, ref: str) -> dict[str, Any]:
        """The schema inferred from a tabular version (see :mod:`rung.data.validation`)."""
        from rung.data.validation import infer_schema

        version = self.get(ref)
        return infer_schema(version.to_pandas(), version.ref)

    def validate(self, ref: str, schema: dict[str, Any] | str | Path | None = None) -> Any:
        """Anomalies of a version against ``schema`` (a dict or JSON file), or by default
        against the schema of the previous version of the same dataset."""
        from rung.data.validation import load_schema, validate

        version = self.get(ref)
        if schema is None:
            if version.version == 1:
                raise InvalidInput(
                    f"{version.ref} is the first version: there is no schema to validate it against",
                    "pass --schema FILE (from `rung data schema`) or validate a later version",
                )
            reference = self.schema(f"{version.name}@{version.version - 1}")
        else:
            reference = load_schema(schema)
        return validate(version.to_pandas(), reference, version.ref)

    def export(
        self, ref: str, dest: str | Path | None = None, force: bool = False
    ) -> tuple[DatasetVersion, Path]:
        """Copy version ``ref``'s file or folder out to ``dest``, each file verified by hash
        (see :func:`rung.data.export.export_version`): the version and the path written."""
        from rung.data.export import export_version

        version = self.get(ref)
        protect = (Path.cwd(),) + ((self._checkout_root,) if self._checkout_root else ())
        path = export_version(
            version, self._artifacts, Path(dest) if dest else None, force, protect
        )
        return version, path

    _APPEND_CHECK_BYTES = 64 * 2**20

    def _is_append(self, a: DatasetVersion, b: DatasetVersion) -> bool | None:
        """Whether ``a``'s rows are the first rows of ``b``, when that is cheap to know: for
        two CSV files, whether ``a``'s bytes are a prefix of ``b``'s (one read of ``a.size``
        bytes); for other tables, comparing the frames when both files together are under
        64 MiB. None when not checked."""
        if a.format == b.format == "csv":
            path = self._artifacts.path(b.hash)
            opener = open if self._artifacts.local else self._artifacts.fs.open
            try:
                with opener(path, "rb") as f:
                    head = f.read(a.size)
            except FileNotFoundError:
                return None
            if hash_bytes(head) == a.hash:
                return True
        if a.size + b.size > self._APPEND_CHECK_BYTES:
            return None
        old, new = a.to_pandas(), b.to_pandas()
        if list(old.columns) != list(new.columns):
            return False
        return _same_values(old, new.iloc[: len(old)].reset_index(drop=True))

    def _diff_trees(self, a: DatasetVersion, b: DatasetVersion) -> dict[str, Any]:
        fa = {e["path"]: e["hash"] for e in json.loads(self._artifacts.get_bytes(a.hash))["files"]}
        fb = {e["path"]: e["hash"] for e in json.loads(self._artifacts.get_bytes(b.hash))["files"]}
        return {
            "files_added": sorted(set(fb) - set(fa)),
            "files_removed": sorted(set(fa) - set(fb)),
            "files_changed": sorted(p for p in fa if p in fb and fa[p] != fb[p]),
        }

    def _version(self, row: Any) -> DatasetVersion:
        return DatasetVersion(
            id=row["id"],
            name=row["name"],
            version=row["version"],
            hash=row["artifact_hash"],
            format=row["format"],
            source=row["source"],
            rows=row["rows"],
            files=row["files"],
            size=row["size"],
            schema=json.loads(row["schema"]) if row["schema"] else None,
            stats=json.loads(row["stats"]) if row["stats"] else None,
            created_at=row["created_at"],
            _artifacts=self._artifacts,
            _checkout_root=self._checkout_root,
        )


def _same_values(old: Any, new: Any) -> bool:
    """Whether two frames of the same shape and column names hold the same values, whatever
    their dtypes: a column of the same dtype is compared as it is (``Series.equals``), one
    whose dtype changed value by value through :func:`_value_key` — so ``1`` (int64) equals
    ``1.0`` (float64 after a missing value was appended) and ``1`` (``Int64``), missing
    values of any kind (``NaN``, ``None``, ``pd.NA``, ``NaT``) equal each other, and a
    string never equals a number or a boolean (``"1"`` is not ``1``, ``"True"`` is not
    ``True``); times are equal when they are the same instant, and a naive time never equals
    one with a zone."""
    if old.shape != new.shape:
        return False
    for i in range(old.shape[1]):
        a, b = old.iloc[:, i], new.iloc[:, i]
        if a.dtype == b.dtype:
            if not a.equals(b):
                return False
        elif [_value_key(v) for v in a] != [_value_key(v) for v in b]:
            return False
    return True


def _value_key(v: Any) -> tuple[Any, ...]:
    """A key equal for equal values of any dtype (see :func:`_same_values`)."""
    import datetime as dt

    import numpy as np
    import pandas as pd

    if v is None or (not isinstance(v, str | bytes) and np.ndim(v) == 0 and pd.isna(v)):
        return ("null",)
    if isinstance(v, bool | np.bool_):
        return ("bool", bool(v))
    if isinstance(v, int | float | np.number):
        return ("number", v.item() if isinstance(v, np.generic) else v)
    if isinstance(v, dt.datetime | np.datetime64):
        stamp = pd.Timestamp(v)
        return ("time", stamp.tzinfo is not None, stamp)
    if isinstance(v, str):
        return ("text", v)
    return ("other", type(v).__name__, repr(v))
