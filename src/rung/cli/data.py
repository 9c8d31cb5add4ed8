"""``rung init`` and ``rung data``: workspaces and versioned datasets."""

from pathlib import Path
from typing import Annotated

import typer

from rung.cli import render
from rung.cli.app import JsonOpt, _fmt, _ws, app, data_app


@app.command(short_help="Create a workspace (rung.toml and .rung/).")
def init(
    path: Annotated[Path, typer.Argument(help="Folder of the workspace.")] = Path("."),
) -> None:
    """Create a workspace: rung.toml plus .rung/ (SQLite metadata, local artifacts)."""
    from rung.workspace import Workspace

    with Workspace.init(path) as ws:
        render.out.print(f"Initialised rung workspace in {ws.root}")
        render.out.print(f"  metadata:  {ws.config.store_url}")
        render.out.print(f"  artifacts: {ws.config.artifact_root}")


@data_app.command("add", short_help="Version a file or folder.")
def data_add(
    path: Annotated[Path, typer.Argument(help="A file or a folder.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Dataset name.")],
    as_json: JsonOpt = False,
) -> None:
    """Version a file or folder (CSV and Parquet also get a schema and statistics)."""
    with _ws() as ws:
        before = {v.hash for v in ws.data.list(name)}
        version = ws.data.add(path, name=name)
        if as_json:
            render.print_json({**version.to_dict(), "new": version.hash not in before})
            return
        if version.hash in before:
            render.out.print(
                f"{version.ref} unchanged (same content as before) {version.hash[:12]}"
            )
        else:
            render.out.print(
                f"Added {version.ref}: {version.format}, {version.files} file(s),"
                f" {render.size(version.size)}"
                + (f", {version.rows} rows" if version.rows is not None else "")
                + f"  {version.hash[:12]}"
            )


@data_app.command("list")
def data_list(
    name: Annotated[str | None, typer.Argument(help="Only this dataset.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List dataset versions."""
    with _ws() as ws:
        versions = ws.data.list(name)
        if name is not None and not versions:
            ws.data.get(name)  # an unknown name: NotFound with the nearest names
    if as_json:
        render.print_json(
            [
                {k: v for k, v in d.to_dict().items() if k not in ("schema", "stats")}
                for d in versions
            ]
        )
        return
    render.table(
        None,
        ["dataset", "format", "files", "rows", "size", "hash", "added"],
        [
            [
                v.ref,
                v.format,
                v.files,
                v.rows,
                render.size(v.size),
                v.hash[:12],
                render.when(v.created_at),
            ]
            for v in versions
        ],
        empty="no datasets yet — add one with `rung data add FILE --name NAME`",
    )


@data_app.command("show")
def data_show(
    ref: Annotated[str, typer.Argument(help="NAME or NAME@VERSION.")],
    as_json: JsonOpt = False,
) -> None:
    """Show a dataset version with its schema and statistics."""
    with _ws() as ws:
        v = ws.data.get(ref)
    if as_json:
        render.print_json(v.to_dict())
        return
    render.out.print(f"[bold]{v.ref}[/]  {v.format}, {v.files} file(s), {render.size(v.size)}")
    render.out.print(f"  hash    {v.hash}")
    render.out.print(f"  source  {v.source}")
    render.out.print(f"  added   {render.when(v.created_at)}")
    if v.rows is not None:
        render.out.print(f"  rows    {v.rows}")
    if v.schema and v.stats:
        rows = []
        for col, info in v.schema["columns"].items():
            s = v.stats["columns"].get(col, {})
            summary = (
                f"min {_fmt(s.get('min'))} max {_fmt(s.get('max'))} mean {_fmt(s.get('mean'))}"
                if info["kind"] in ("numeric", "integer")
                else f"{s.get('unique', '-')} unique"
                if "unique" in s
                else f"{s.get('min', '-')} … {s.get('max', '-')}"
            )
            kind = info["kind"] + (f" ({info['timezone']})" if info.get("timezone") else "")
            rows.append([col, info["dtype"], kind, f"{s.get('missing_rate', 0):.1%}", summary])
        render.table(None, ["column", "dtype", "kind", "missing", "summary"], rows)


@data_app.command("diff", short_help="What changed between two dataset versions.")
def data_diff(
    a: Annotated[str, typer.Argument(help="NAME@A")],
    b: Annotated[str, typer.Argument(help="NAME@B")],
    stats: Annotated[
        bool, typer.Option("--stats", help="Also list every summary statistic that changed.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """What changed between two dataset versions: format, rows added or removed (and whether
    it is an append), columns added, removed or retyped; statistics with --stats."""
    with _ws() as ws:
        d = ws.data.diff(a, b)
    if as_json:
        render.print_json(d)
        return
    render.out.print(f"[bold]{d['from']} → {d['to']}[/]")
    if d["same_content"]:
        render.out.print("  identical content")
        return
    if "format" in d:
        render.out.print(f"  format: {d['format']['from']} → {d['format']['to']}")
    if "rows" in d:
        r = d["rows"]
        change = (
            f"+{r['added']}" if r["added"] else f"-{r['removed']}" if r["removed"] else "same count"
        )
        note = f", an append: the first {r['from']} rows are unchanged" if d.get("append") else ""
        note = ", the same values" if d.get("same_rows") else note
        render.out.print(f"  rows: {r['from']} → {r['to']} ({change}{note})")
        for key in ("columns_added", "columns_removed"):
            if d[key]:
                render.out.print(f"  {key.replace('_', ' ')}: {', '.join(d[key])}")
        for col, t in d["types_changed"].items():
            render.out.print(f"  type of {col}: {t['from']} → {t['to']}")
        if not (d["columns_added"] or d["columns_removed"] or d["types_changed"]):
            render.out.print("  columns: same names and types")
        moved = d["stats_changed"]
        if moved and not stats:
            render.out.print(
                f"  statistics changed in {len(moved)} column(s): {', '.join(list(moved)[:8])}"
                f"{' …' if len(moved) > 8 else ''} (details: --stats)"
            )
        elif moved:
            rows = [
                [col, stat, _fmt(ch["from"]), _fmt(ch["to"])]
                for col, changes in moved.items()
                for stat, ch in changes.items()
            ]
            render.table("statistics that changed", ["column", "statistic", "from", "to"], rows)
    for key in ("files_added", "files_removed", "files_changed"):
        if d.get(key):
            render.out.print(f"  {key.replace('_', ' ')} ({len(d[key])}): {', '.join(d[key][:10])}")
    if "size" in d:
        render.out.print(
            f"  size: {render.size(d['size']['from'])} → {render.size(d['size']['to'])}"
        )


@data_app.command("get", short_help="Copy a version's file or folder out, verified.")
def data_get(
    ref: Annotated[str, typer.Argument(help="NAME or NAME@VERSION.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Where to write it (default: its original name, here)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing path.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Copy a dataset version's file (or folder) out of the store, each file verified
    against its hash; an existing path is refused unless --force."""
    with _ws() as ws:
        version, path = ws.data.export(ref, output, force)
    if as_json:
        render.print_json({"ref": version.ref, "hash": version.hash, "path": str(path)})
        return
    what = f"{version.files} file(s)" if version.format == "tree" else version.format
    render.out.print(
        f"wrote {version.ref} to {path} ({what}, {render.size(version.size)}, verified)"
    )


@data_app.command("schema", short_help="Infer a dataset version's schema.")
def data_schema(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION of a CSV or Parquet version.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the schema as JSON.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Infer a schema: columns, types, ranges, categories, missing rates."""
    import json

    with _ws() as ws:
        schema = ws.data.schema(ref)
    if output is not None:
        output.write_text(json.dumps(schema, indent=2) + "\n")
        render.err.print(f"wrote {output}")
    if as_json:
        render.print_json(schema)
        return
    if output is not None:
        return
    rows = []
    for col, spec in schema["columns"].items():
        if "categories" in spec:
            cats = list(spec["categories"])
            detail = f"{len(cats)} categories: {', '.join(cats[:6])}{' …' if len(cats) > 6 else ''}"
        elif "min" in spec:
            detail = f"{_fmt(spec['min'])} … {_fmt(spec['max'])}"
        else:
            detail = "-"
        rows.append(
            [
                col,
                spec["kind"] + (f" ({spec['timezone']})" if spec.get("timezone") else ""),
                spec["dtype"],
                "yes" if spec["nullable"] else "no",
                f"{spec['missing_rate']:.1%}",
                detail,
            ]
        )
    render.table(
        f"schema of {schema['source']} ({schema['rows']} rows)",
        ["column", "kind", "dtype", "nulls", "missing", "range / categories"],
        rows,
    )


@data_app.command("validate", short_help="Check a version against a schema.")
def data_validate(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION to check.")],
    schema: Annotated[
        Path | None, typer.Option("--schema", help="Schema JSON (default: the previous version's).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Report anomalies: schema skew (exit 1) and value skew (reported)."""
    with _ws() as ws:
        report = ws.data.validate(ref, schema)
    if as_json:
        render.print_json(report.to_dict())
    else:
        render.out.print(f"[bold]{report.source}[/] against schema of {report.schema_source}")
        if report.ok:
            render.out.print("  no anomalies")
        for title, items in (
            ("schema skew", report.schema_skew),
            ("value skew", report.value_skew),
        ):
            if items:
                render.table(
                    title,
                    ["column", "anomaly", "detail"],
                    [[a.column, a.problem, a.detail] for a in items],
                )
    if report.schema_skew:
        raise typer.Exit(1)
