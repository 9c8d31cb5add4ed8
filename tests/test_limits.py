"""The same limits on SQLite and on PostgreSQL: every text column at its limit and one past it
(cases generated from the schema and :mod:`rung.core.limits`, so a new column is covered),
the entry points that check names, and ids past 64 bits refused in one line."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import BACKENDS, _pg_database, rung_cli
from rung.core import limits
from rung.core.errors import InvalidInput, NotFound
from rung.store.metadata import MetadataStore
from rung.store.schema import metadata

TEXT_COLUMNS = sorted(
    (table.name, column.name)
    for table in metadata.tables.values()
    for column in table.columns
    if getattr(column.type, "length", None) is not None
)
_serial = itertools.count(1)


def test_every_text_column_has_its_limit_in_one_place() -> None:
    assert sorted(limits.COLUMNS) == TEXT_COLUMNS
    for table, column in TEXT_COLUMNS:
        length = metadata.tables[table].c[column].type.length  # type: ignore[attr-defined]
        assert length == limits.COLUMNS[(table, column)][0]


@pytest.fixture(scope="module", params=BACKENDS)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MetadataStore]:
    """One store per backend for the whole module (a database per case would take minutes)."""
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path_factory.mktemp('limits') / 'm.db'}"])
    else:
        urls = _pg_database()
    url = next(urls)
    s = MetadataStore(url)
    yield s
    s.close()
    for _ in urls:  # drop the PostgreSQL database
        pass


def _value(column: Any) -> Any:
    """A valid value for a column that is not under test."""
    kind = type(column.type).__name__
    if kind == "String":
        return uuid.uuid4().hex[: column.type.length]
    if kind == "Text":
        return "{}"
    if kind == "Boolean":
        return False
    if kind == "Float":
        return 1.0
    return next(_serial)  # Integer, BigInteger: distinct, so unique (name, version) pairs hold


def _insert(store: MetadataStore, table_name: str, given: dict[str, Any]) -> dict[str, Any]:
    """Insert a row of ``table_name`` with ``given`` values, creating the rows its foreign keys
    point at; returns the row written (without an autoincrement id)."""
    table = metadata.tables[table_name]
    row: dict[str, Any] = {}
    for column in table.columns:
        if column.name in given:
            row[column.name] = given[column.name]
            for fk in column.foreign_keys:  # the row it points at, holding the same value
                _insert(store, fk.column.table.name, {fk.column.name: given[column.name]})
        elif column.primary_key and column.autoincrement is True:
            continue
        elif column.foreign_keys:
            if column.nullable:
                row[column.name] = None
                continue
            target = next(iter(column.foreign_keys)).column
            parent = _insert(store, target.table.name, {})
            if target.name == "id":
                with store.read() as tx:
                    row[column.name] = tx.scalar(f"SELECT MAX(id) FROM {target.table.name}")
            else:
                row[column.name] = parent[target.name]
        elif column.type.__class__.__name__ == "Integer" and column.name == "id":
            continue
        else:
            row[column.name] = _value(column)
    with store.write() as tx:
        tx.insert(table_name, row, returning=None)
    return row


def _count(store: MetadataStore, table: str) -> int:
    with store.read() as tx:
        return int(tx.scalar(f"SELECT COUNT(*) FROM {table}"))


@pytest.mark.parametrize(("table", "column"), TEXT_COLUMNS)
def test_every_text_column_at_its_limit_and_one_past(
    store: MetadataStore, table: str, column: str
) -> None:
    limit, what = limits.COLUMNS[(table, column)]
    # non-ASCII: the limit counts characters, as PostgreSQL does, not bytes
    at_limit = ("é" + uuid.uuid4().hex * 20)[:limit].ljust(limit, "ü")
    assert len(at_limit) == limit
    _insert(store, table, {column: at_limit})
    with store.read() as tx:
        back = tx.scalar(f'SELECT "{column}" FROM {table} WHERE "{column}" = :v', {"v": at_limit})
    assert back == at_limit

    before = _count(store, table)
    past = at_limit + "x"
    with pytest.raises(InvalidInput) as refused:
        _insert(store, table, {column: past})
    message = str(refused.value)
    assert "\n" not in message and what in message
    assert f"has {limit + 1} characters, over the limit of {limit}" in message
    assert len(past) <= 40 or past not in message  # long values are cut for display
    assert _count(store, table) == before  # nothing stored


def test_ids_past_64_bits_are_refused_by_the_store_on_both(store: MetadataStore) -> None:
    for value in (2**63, -(2**63) - 1, 10**20):
        with pytest.raises(InvalidInput, match="out of range"), store.read() as tx:
            tx.one("SELECT * FROM runs WHERE id = :id", {"id": value})
    with store.read() as tx:  # the edges themselves are fine
        assert tx.one("SELECT * FROM runs WHERE id = :id", {"id": 2**63 - 1}) is None
        assert tx.one("SELECT * FROM runs WHERE id = :id", {"id": -(2**63)}) is None


# -- the entry points where names come in -----------------------------------------------


def test_names_at_their_limit_work_and_one_past_is_refused_with_nothing_stored(
    ws, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    from model_project import TRAIN, frame

    df = pd.DataFrame({"a": [1, 2, 3]})
    long_ok = "d" * limits.NAME
    assert ws.data.add(df, name=long_ok).ref == f"{long_ok}@1"
    assert ws.data.get(f"{long_ok}@1").name == long_ok
    with pytest.raises(
        InvalidInput,
        match=f"dataset name 'd{{40}}…' has 201 characters, over the limit of {limits.NAME}",
    ):
        ws.data.add(df, name="d" * (limits.NAME + 1))
    assert [d.name for d in ws.data.list()] == [long_ok]

    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(100, 1), name="train")
    run = ws.run("train.py:train", {"C": 1.0})
    model = "m" * limits.NAME
    ws.models.register(str(run.id), model)
    with pytest.raises(InvalidInput, match=r"model name .* over the limit of 200"):
        ws.models.register(str(run.id), "m" * 201)

    alias = "a" * limits.ALIAS
    monkeypatch.setenv("RUNG_USER", "u" * limits.WHO)
    ws.models.promote(model, 1, alias, force=True, reason="r" * 10_000)
    assert ws.models.get(f"{model}@{alias}").version == 1
    assert ws.models.history(model)[-1]["who"] == "u" * limits.WHO
    with pytest.raises(InvalidInput, match=r"alias .* has 101 characters, over the limit of 100"):
        ws.models.promote(model, 1, "a" * 101, force=True, reason="r")
    monkeypatch.setenv("RUNG_USER", "u" * (limits.WHO + 1))
    with pytest.raises(InvalidInput, match=r"RUNG_USER.* 201 characters, over the limit of 200"):
        ws.models.promote(model, 1, "other", force=True, reason="r")
    assert len(ws.models.history(model)) == 1

    with ws.start_run("k" * limits.NAME, params={"p" * limits.KEY: 1}) as tracked:
        tracked.log_metric("q" * limits.KEY, 0.5)
        with pytest.raises(InvalidInput, match=r"metric name .* over the limit of 250"):
            tracked.log_metric("q" * (limits.KEY + 1), 0.5)
        with pytest.raises(InvalidInput, match=r"parameter name .* over the limit of 250"):
            tracked.log_params({"p" * (limits.KEY + 1): 1})
    assert ws.runs.metric_history(tracked.id, "q" * limits.KEY) == [(0, 0.5)]
    with (
        pytest.raises(InvalidInput, match=r"run name .* over the limit of 200"),
        ws.start_run("k" * 201),
    ):
        pass


def test_step_and_pipeline_names_are_checked_when_declared() -> None:
    import rung

    def f() -> None:
        return None

    rung.step(name="s" * limits.NAME)(f)
    with pytest.raises(InvalidInput, match=r"step name .* over the limit of 200"):
        rung.step(name="s" * 201)(f)
    with pytest.raises(InvalidInput, match=r"step output name .* over the limit of 200"):
        rung.step(outputs=["o" * 201])(f)
    with pytest.raises(InvalidInput, match=r"pipeline name .* over the limit of 200"):
        rung.pipeline(name="p" * 201)(f)


def test_a_long_trigger_name_runs_a_whole_job_on_both_backends(ws) -> None:  # type: ignore[no-untyped-def]
    """`retrain-on-new-training-data` failed every job on PostgreSQL (runs.trigger was 32)."""
    from model_project import frame
    from test_automation import setup

    name = "retrain-on-new-training-data".ljust(limits.TRIGGER, "-")
    w = setup(ws, extra=f'name = "{name}"\n')
    w.data.add(frame(3000, 5), name="train")
    outcome = w.automation.tick()
    job = outcome["job"]
    assert outcome["status"] == "done" and job["trigger"] == name, job
    assert w.runs.get(job["run_id"])["trigger"] == f"automate job {job['id']}: {name}"


def test_a_trigger_name_past_the_limit_is_refused_in_the_configuration() -> None:
    from rung.automation.triggers import parse_triggers

    ok = parse_triggers([{"kind": "dataset", "dataset": "d", "name": "t" * limits.TRIGGER}])
    assert ok[0].name == "t" * limits.TRIGGER
    with pytest.raises(
        InvalidInput, match=r"automate.triggers\[0\] name .* 101 characters, over the limit of 100"
    ):
        parse_triggers([{"kind": "dataset", "dataset": "d", "name": "t" * 101}])


# -- ids, versions and counts ------------------------------------------------------------

_BAD_NUMBERS = st.one_of(
    st.integers(min_value=limits.MAX_ID + 1, max_value=10**60).map(str),
    st.integers(max_value=0).map(str),
    st.text(alphabet=st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=5).filter(
        lambda s: not limits.is_digits(s)
    ),
    st.text(min_size=0, max_size=8).filter(lambda s: not limits.is_digits(s)),
    st.sampled_from(["1_000", " 1", "1 ", "+1", "0x10", "1e3", "1.0", "١٢", "²", "𝟙"]),
)


@given(_BAD_NUMBERS)
def test_parse_ref_refuses_every_bad_version_in_one_line(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        limits_ref = f"train@{text}"
        from rung.core.refs import parse_ref

        parse_ref(limits_ref)
    message = str(refused.value)
    assert "\n" not in message.replace(text, "")
    assert "1..9223372036854775807" in message


@given(st.integers(min_value=1, max_value=limits.MAX_ID))
def test_parse_ref_reads_every_version_in_range(n: int) -> None:
    from rung.core.refs import parse_ref

    assert parse_ref(f"train@{n}").version == n
    assert limits.parse_int(str(n), "id") == n


@given(_BAD_NUMBERS)
def test_parse_int_names_the_value_and_the_range(text: str) -> None:
    with pytest.raises(
        InvalidInput, match=r"out of range 1\.\.9223372036854775807|not a whole number"
    ):
        limits.parse_int(text, "run id")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(_BAD_NUMBERS)
def test_the_api_refuses_bad_ids_before_the_database(sqlite_ws, text: str) -> None:  # type: ignore[no-untyped-def]
    calls = [
        lambda: sqlite_ws.runs.get(text),
        lambda: sqlite_ws.data.get(f"train@{text}"),
        lambda: sqlite_ws.evals.get(text),
        lambda: (
            sqlite_ws.runs.lineage(text) if limits.is_digits(text) else sqlite_ws.runs.get(text)
        ),
    ]
    if limits.is_digits(text):  # otherwise it is read as an alias
        calls.append(lambda: sqlite_ws.models.get(f"m@{text}"))
    for i, call in enumerate(calls):
        # run 0 is a well-formed id no run has: "unknown run 0", as for "unknown run 99"
        zero = text.strip() == "0" and i in (0, 3)
        with pytest.raises(NotFound if zero else InvalidInput):
            call()


HUGE = "99999999999999999999"
CLI_CASES = [
    (["show", HUGE], "run id"),
    (["show", "²"], "run id"),
    (["data", "show", f"train@{HUGE}"], "version"),
    (["data", "show", "train@-1"], "version"),
    (["data", "show", "train@0"], "version"),
    (["data", "show", "train@١"], "version"),
    (["model", "show", f"m@{HUGE}"], "version"),
    (["runs", "-n", HUGE], "--limit"),
    (["runs", "-n", "0"], "--limit"),
    (["runs", "-n", "-3"], "--limit"),
    (["evals", "-n", HUGE], "--limit"),
    (["model", "promote", "m", HUGE, "--force", "--reason", "x"], "VERSION"),
    (["model", "approve", "m", "0"], "VERSION"),
    (["monitor", "show", "m", "--last", HUGE], "--last"),
    (["monitor", "alerts", "m", "--last", "0"], "--last"),
    (["monitor", "check", "m@champion", "--window", HUGE], "window"),
    (["monitor", "check", "m@champion", "--window", "²d"], "window"),
    (["automate", "history", "--last", HUGE], "--last"),
    (["serve", "m@champion", "--port", "70000"], "--port"),
]


@pytest.mark.parametrize(("args", "names"), CLI_CASES, ids=[" ".join(a) for a, _ in CLI_CASES])
def test_the_cli_refuses_bad_ids_and_counts_in_one_line(
    sqlite_ws, args: list[str], names: str
) -> None:  # type: ignore[no-untyped-def]
    result = rung_cli(*args, cwd=sqlite_ws.root)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "OverflowError" not in result.stderr
    error = [line for line in result.stderr.splitlines() if line.lower().startswith("error")]
    assert len(error) == 1 and names in error[0], result.stderr
    assert any(
        w in error[0] for w in ("9223372036854775807", "range", "whole number", "cannot read")
    )


def test_every_integer_option_of_the_cli_has_a_range() -> None:
    """A new int option without min/max would reach the database unchecked."""
    import click
    import typer.main

    from rung.cli.main import app

    def walk(command: click.Command) -> Iterator[click.Parameter]:
        yield from command.params
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                yield from walk(sub)

    ints = [
        p for p in walk(typer.main.get_command(app)) if isinstance(p.type, click.types.IntParamType)
    ]
    assert ints
    for p in ints:
        assert isinstance(p.type, click.IntRange), p.name
        assert p.type.min is not None and p.type.max is not None, p.name
        assert p.type.min >= 0 and p.type.max <= limits.MAX_ID, p.name


def test_the_limits_table_in_the_docs_matches_the_module() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "limits.md").read_text()
    for name in ("NAME", "ALIAS", "TRIGGER", "KEY", "WHO", "REQUEST_ID", "WINDOW"):
        assert f"| {getattr(limits, name)} |" in doc, name


def test_nul_characters_are_stored_the_same_on_both_backends(ws) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL cannot hold NUL in text; a step's error message carrying one must still be
    recorded (as U+FFFD, on both), and the run must not stay 'running'."""
    (ws.root / "nul.py").write_text(
        "import rung\n\n@rung.step\ndef boom():\n    raise ValueError('bad\\x00byte')\n\n"
        "@rung.pipeline\ndef p():\n    return boom()\n"
    )
    with pytest.raises(Exception, match="bad"):
        ws.run("nul.py:p", {})
    run = ws.runs.list(1)[0]
    detail = ws.runs.get(run.id)
    assert run.status == "failed" and detail["steps"][0]["status"] == "failed"
    assert "bad\ufffdbyte" in detail["steps"][0]["error"]


@pytest.mark.parametrize("name", ["train\n", "train\x00", "tr ain", "", "é"])
def test_names_are_matched_whole(name: str) -> None:
    from rung.core.refs import check_name

    with pytest.raises(InvalidInput, match="invalid"):
        check_name(name)


def test_the_automation_alias_and_model_are_checked_when_the_configuration_is_read(
    sqlite_ws,
) -> None:  # type: ignore[no-untyped-def]
    from rung import Workspace

    for key, value, what in (("alias", "a" * 101, "alias"), ("model", "m" * 201, "model")):
        (sqlite_ws.root / "rung.toml").write_text(f'[automate]\n{key} = "{value}"\n')
        with pytest.raises(InvalidInput, match=rf"automate\.{what} = .* over the limit"):
            _ = Workspace.open(sqlite_ws.root).automation


def test_monitor_windows_are_saved_and_read_back_on_both_backends(ws) -> None:  # type: ignore[no-untyped-def]
    """``window`` is a keyword on PostgreSQL: saving and re-reading a window failed there."""
    from model_project import TRAIN, frame, log_served

    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(300, 1), name="train")
    run = ws.run("train.py:train", {})
    ws.models.register(str(run.id), "trend")
    ws.models.promote("trend", 1, "a" * limits.ALIAS, force=True, reason="test")
    ref = f"trend@{'a' * limits.ALIAS}"
    _ids_past_32_bits(ws.store)
    served = log_served(ws.store, [frame(50, 2)] * 4)
    from rung.serving.feedback import record

    assert record(ws.store, {"request_id": served[0][0], "labels": ["yes"] * 50})["accepted"] == 50
    with ws.store.read() as tx:
        assert tx.scalar("SELECT MIN(id) FROM predictions WHERE status = 200") > 2**40
        assert tx.scalar("SELECT MIN(id) FROM feedback WHERE request_id != 'x'") > 2**40
    first = ws.monitor.check(ref, window="200")
    again = ws.monitor.check(ref, window="200")  # nothing new: the stored window is found
    assert again["same_as"] == first["id"]
    log_served(ws.store, [frame(50, 3)] * 2)
    second = ws.monitor.check(ref, window="200")
    assert [w["id"] for w in ws.monitor.windows("trend")] == [first["id"], second["id"]]
    assert second["first_id"] > 2**40 and second["last_id"] > 2**40
    with pytest.raises(InvalidInput, match="limit"):
        ws.monitor.windows("trend", -1)
    with pytest.raises(InvalidInput, match="limit"):
        ws.runs.list(-1)


def _ids_past_32_bits(store: MetadataStore) -> None:
    """Make the next prediction and feedback ids 2^40 and more (PostgreSQL's INTEGER ids
    stopped at 2^31-1; SQLite's are 64-bit)."""
    big = 2**40
    with store.write() as tx:
        row = {"model": "x", "version": 1, "rows": 0, "inputs": "{}", "outputs": "{}"}
        tx.insert(
            "predictions",
            {"id": big, "request_id": "x", **row, "latency_ms": 0.0, "at": 0.0, "status": 499},
            returning=None,
        )
        tx.insert(
            "feedback",
            {"id": big, "request_id": "x", "row": 0, "label": "0", "at": 0.0},
            returning=None,
        )
        if store.dialect == "postgresql":
            tx.execute("SELECT setval('predictions_id_seq', :n)", {"n": big})
            tx.execute("SELECT setval('feedback_id_seq', :n)", {"n": big})


@pytest.mark.parametrize("interval", [float("nan"), float("inf"), 1e300, -1.0, 0.0, 86401.0])
def test_the_automation_interval_is_range_checked(sqlite_ws, interval: float) -> None:  # type: ignore[no-untyped-def]
    import threading

    with pytest.raises(InvalidInput, match=r"^interval .*(above 0|at most 1d)"):
        sqlite_ws.automation.run(interval, threading.Event(), 1)
