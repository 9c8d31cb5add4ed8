"""Every CLI command, with a handful of bad arguments, never prints a traceback.

The commands are enumerated from the click tree of ``rung.cli.main.app``, so a command added
later is walked without editing this file. Each gets: no arguments, each bad value in every
required argument and option (``abc``, ``-1``, a number past 64 bits, an empty string,
unicode, a path that does not exist, a folder where a file is expected), and bad values in its
numeric and text options. It runs in an empty workspace and outside any workspace.

Each case must end with exit 0, click's usage error, or exactly one ``error:`` line on stderr
and a non-zero exit. The cases run through ``rung.cli.main.main`` (the console entry point)
in one child process per context — a process per case would take minutes — with stderr
captured at the file descriptor, and an alarm for any case that hangs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BIG = "99999999999999999999"
BAD = ["abc", "-1", BIG, f"abc@{BIG}", "", "ünï✓@ç/ø", "/nonexistent/rung/x.csv", "<folder>"]
NUMERIC_BAD = ["-1", BIG, "abc", "0"]


def commands() -> list[tuple[list[str], list[Any]]]:
    import click
    import typer

    from rung.cli.main import app

    out: list[tuple[list[str], list[Any]]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        if isinstance(cmd, click.Group):
            for name, sub in sorted(cmd.commands.items()):
                walk(sub, [*path, name])
        else:
            out.append((path, list(cmd.params)))

    walk(typer.main.get_command(app), [])
    return out


def _required(params: list[Any], value: str) -> list[str]:
    argv: list[str] = []
    for p in params:
        if p.param_type_name == "argument" and p.required:
            argv.append(value)
        elif p.param_type_name == "option" and p.required:
            argv += [p.opts[0], value]
    return argv


def cases() -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for path, params in commands():
        if path == ["ui"]:  # takes no argument: valid options serve for good (test_ui_runs)
            continue
        name = " ".join(path)
        out.append((name, [*path]))  # missing arguments
        for value in BAD:
            out.append((name, [*path, *_required(params, value)]))
        base = _required(params, "abc")
        for p in params:
            if p.param_type_name != "option" or p.required or p.is_flag:
                continue
            kind = getattr(p.type, "name", "")
            values = NUMERIC_BAD if kind in ("integer", "float") or "Range" in str(p.type) else BAD
            for value in values:
                out.append((name, [*path, *base, p.opts[0], value]))
    return out


CASES = cases()

# Tracebacks known to belong to another helper's area of issue 10: (value in the arguments,
# exception in the traceback) -> owner. Such a case is an expected failure naming its owner;
# any other traceback fails.
KNOWN = {
    (BIG, "OverflowError"): "lim (§5: ids and numbers past 64 bits)",  # SQLite
    (BIG, "NumericValueOutOfRange"): "lim (§5: ids and numbers past 64 bits)",  # PostgreSQL
}

DRIVER = textwrap.dedent(
    r"""
    import json, os, signal, sys, tempfile, traceback

    cases = json.load(open(sys.argv[1]))
    folder = sys.argv[2]
    scratch = sys.argv[3]
    home = os.getcwd()

    class Hang(Exception):
        pass

    def alarm(*_):
        raise Hang()

    signal.signal(signal.SIGALRM, alarm)
    from rung.cli.main import main

    results = []
    for name, given in cases:
        argv = [folder if a == "<folder>" else a for a in given]
        os.chdir(scratch if name == "init" else home)
        err = tempfile.TemporaryFile()
        out = tempfile.TemporaryFile()
        saved = os.dup(2), os.dup(1)
        sys.stderr.flush(); sys.stdout.flush()
        os.dup2(err.fileno(), 2); os.dup2(out.fileno(), 1)
        code, tb = 0, None
        signal.alarm(60)
        try:
            main(list(argv))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except Hang:
            code, tb = -1, "hung for 60 s"
        except BaseException:
            code, tb = -2, traceback.format_exc()
        finally:
            signal.alarm(0)
            sys.stderr.flush(); sys.stdout.flush()
            os.dup2(saved[0], 2); os.dup2(saved[1], 1)
            os.close(saved[0]); os.close(saved[1])
        err.seek(0)
        results.append(
            {"name": name, "given": given, "argv": argv, "code": code, "stderr": err.read().decode(errors="replace"),
             "traceback": tb}
        )
    json.dump(results, open(sys.argv[4], "w"))
    """
)


def _run(
    cwd: Path, tmp: Path, cases: list[tuple[str, list[str]]] | None = None
) -> dict[tuple[str, ...], dict[str, Any]]:
    folder = tmp / "a-folder"
    folder.mkdir(exist_ok=True)
    (folder / "x.csv").write_text("a\n1\n")
    scratch = tmp / "scratch"
    scratch.mkdir(exist_ok=True)
    (tmp / "cases.json").write_text(json.dumps(CASES if cases is None else cases))
    (tmp / "driver.py").write_text(DRIVER)
    result = tmp / f"results-{cwd.name}.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(tmp / "driver.py"),
            str(tmp / "cases.json"),
            str(folder),
            str(scratch),
            str(result),
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=3000,
        env={**__import__("os").environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {tuple(r["given"]): r for r in json.loads(result.read_text())}


def _init(root: Path, store: str | None) -> None:
    config = f'[store]\nurl = "{store}"\n' if store else ""
    root.mkdir()
    (root / "rung.toml").write_text(config)
    init = subprocess.run(
        [str(Path(sys.executable).with_name("rung")), "init", str(root)],
        capture_output=True,
        text=True,
    )
    assert init.returncode == 0, init.stderr


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("walk")
    _init(tmp / "ws", None)
    outside = tmp / "nowhere"
    outside.mkdir()
    return {"workspace": _run(tmp / "ws", tmp), "outside": _run(outside, tmp)}


@pytest.fixture(scope="module")
def walked_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The same walk in an empty workspace on PostgreSQL (RUNG_TEST_PG_URL)."""
    from conftest import _pg_database

    tmp = tmp_path_factory.mktemp("walk-pg")
    for url in _pg_database():
        _init(tmp / "ws-pg", url)
        yield {"postgres": _run(tmp / "ws-pg", tmp)}


def _check(result: dict[str, Any]) -> None:
    argv = " ".join(repr(a) for a in result["argv"])
    assert result["traceback"] is None, f"rung {argv}:\n{result['traceback']}"
    stderr = result["stderr"]
    assert "Traceback" not in stderr, f"rung {argv}:\n{stderr}"
    if result["code"] == 0:
        return
    lines = stderr.strip().splitlines()
    usage = stderr.lstrip().startswith("Usage:") and any(
        line.startswith("Error:") or line.startswith("error:") for line in lines
    )
    one_line = len(lines) >= 1 and lines[-1].startswith("error: ")
    # a failed pipeline step prints its progress line(s) before the one error line
    assert usage or one_line, f"rung {argv} (exit {result['code']}):\n{stderr}"
    if one_line:
        errors = [line for line in lines if line.startswith("error")]
        assert len(errors) == 1, f"rung {argv}:\n{stderr}"


PARAMS = [pytest.param(n, a, id=" ".join(a) or "-") for n, a in CASES]

# In a workspace holding a dataset, a run and a registered model, the required arguments get
# valid values (by their name) and each option a bad one: options are then checked on real
# objects. `serve`, `ui` and `automate run` would run for good there, and are left out.
VALID = {
    "data": "d@1",
    "model": "m@1",
    "ref": "m@1",
    "run_id": "1",
    "what": "d@1",
    "version": "1",
    "source": "1",
    "pipeline": "train.py:train",
    "path": "<csv>",
    "input_file": "<csv>",
    "output_file": "<out>",
    "eval_id": None,
}


def _valid(path: list[str], param: Any) -> str | None:
    name = param.name
    if name in ("name",):
        return "m" if path[0] in ("model", "monitor") else "d"
    if name in ("a", "b") or (name == "ref" and path[0] == "data"):
        return "d@1"
    return VALID.get(name, "abc")


def populated_cases() -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for path, params in commands():
        if path in (["serve"], ["ui"], ["automate", "run"], ["init"]):
            continue
        base: list[str] = []
        for p in params:
            if p.required:
                value = _valid(path, p)
                base += [value] if p.param_type_name == "argument" else [p.opts[0], str(value)]
        for p in params:
            if p.param_type_name != "option" or p.required or p.is_flag:
                continue
            for value in ("abc", "", "ünï✓", "<folder>", "/nonexistent/x"):
                out.append((" ".join(path), [*path, *base, p.opts[0], value]))
        if path[0] == "eval":
            out.append(("eval", [*path, *base, "--on", "d@1", "--format", "bogus"]))
            out.append(("eval", [*path, *base, "--on", "d@1", "--label", "nope"]))
    return out


POPULATED = populated_cases()


@pytest.fixture(scope="module")
def walked_populated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from model_project import TRAIN, frame
    from rung import Workspace

    tmp = tmp_path_factory.mktemp("walk-populated")
    with Workspace.init(tmp / "ws") as ws:
        (ws.root / "train.py").write_text(TRAIN)
        frame(200, 1).to_csv(tmp / "data.csv", index=False)
        ws.data.add(tmp / "data.csv", name="d")
        ws.data.add(frame(300, 1), name="train")
        ws.models.register(str(ws.run("train.py:train", {}).id), "m")
        ws.models.promote("m", 1, force=True, reason="test")
    files = {"<csv>": str(tmp / "data.csv"), "<out>": str(tmp / "out.csv")}
    cases = [(n, [files.get(a, a) for a in argv]) for n, argv in POPULATED]
    results = _run(tmp / "ws", tmp, cases)
    return {
        tuple(given): results[tuple(argv)]
        for (_, given), (_, argv) in zip(POPULATED, cases, strict=True)
    }


@pytest.mark.parametrize(
    ("name", "argv"), [pytest.param(n, a, id=" ".join(a)) for n, a in POPULATED]
)
def test_no_command_prints_a_traceback_on_real_objects(
    walked_populated: dict[str, Any], name: str, argv: list[str]
) -> None:
    _judge(walked_populated[tuple(argv)], argv)


@pytest.mark.parametrize("where", ["workspace", "outside"])
@pytest.mark.parametrize(("name", "argv"), PARAMS)
def test_no_command_prints_a_traceback(
    walked: dict[str, Any], where: str, name: str, argv: list[str]
) -> None:
    _judge(walked[where][tuple(argv)], argv)


@pytest.mark.postgres
@pytest.mark.parametrize(("name", "argv"), PARAMS)
def test_no_command_prints_a_traceback_on_postgresql(
    walked_pg: dict[str, Any], name: str, argv: list[str]
) -> None:
    _judge(walked_pg["postgres"][tuple(argv)], argv)


def _judge(result: dict[str, Any], argv: list[str]) -> None:
    for (value, error), owner in KNOWN.items():
        trace = result["traceback"] or result["stderr"]
        if any(value in a for a in argv) and f"{error}:" in trace:
            pytest.xfail(f"{error} with {value!r}: owned by {owner}")
    _check(result)


def test_every_command_is_walked() -> None:
    names = {name for name, _ in CASES}
    for expected in ("data add", "model promote", "monitor report", "automate tick", "serve"):
        assert expected in names
