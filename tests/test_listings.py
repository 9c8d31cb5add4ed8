"""Listings a new user reads first: `rung runs` with metrics and parameters, a hint of the
next command wherever a listing is empty, and the Python API discoverable with dir()."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import rung_cli

PIPE = """
import rung

@rung.step
def fit(lr: float = 0.1, depth: int = 3, seed: int = 0):
    rung.log_metric("loss", 1.0 - lr)
    rung.log_metric("loss", 0.5 - lr)   # the last value is the one listed
    rung.log_metric("accuracy", 0.5 + lr)
    return {"lr": lr}

@rung.pipeline
def sweep(lr: float = 0.1, depth: int = 3, seed: int = 0):
    return fit(lr=lr, depth=depth, seed=seed)
"""


@pytest.fixture
def cli(ws, store_url: str):  # type: ignore[no-untyped-def]
    def run(*args: str) -> tuple[str, str, int]:
        r = rung_cli(*args, cwd=ws.root, env={"RUNG_STORE_URL": store_url})
        assert "Traceback" not in r.stderr
        return r.stdout, r.stderr, r.returncode

    return run


def _table(out: str) -> list[list[str]]:
    rows = [line for line in out.splitlines() if "│" in line or "┃" in line]
    return [[c.strip() for c in line.replace("┃", "│").split("│")] for line in rows]


def test_runs_show_the_metrics_and_the_parameters_that_vary(cli, ws) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "pipe.py").write_text(PIPE)
    for lr in (0.1, 0.2):
        assert cli("run", "pipe.py:sweep", "-p", f"lr={lr}")[2] == 0
    out, _, code = cli("runs")
    assert code == 0
    header, *rows = _table(out)
    assert header[:6] == ["run", "name", "status", "loss", "accuracy", "lr"], header
    assert "depth" not in header and "seed" not in header  # the same in every run
    assert rows[0][3:6] == ["0.3", "0.7", "0.2"] and rows[1][3:6] == ["0.4", "0.6", "0.1"]
    chosen, _, _ = cli("runs", "--columns", "seed,accuracy")
    header, *rows = _table(chosen)
    assert header[3:5] == ["accuracy", "seed"] and rows[0][3:5] == ["0.7", "0"]
    listed = json.loads(cli("runs", "--json")[0])
    assert listed[0]["metrics"] == {"loss": 0.3, "accuracy": 0.7}
    assert listed[0]["params"] == {"lr": 0.2, "depth": 3, "seed": 0}
    _, err, code = cli("runs", "--columns", "acuracy")
    assert code == 1 and "did you mean 'accuracy'?" in err and err.count("\n") == 1
    assert _table(cli("runs", "--name", "sweep")[0])[1][1] == "sweep"


def test_a_single_run_lists_all_its_parameters(cli, ws) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "pipe.py").write_text(PIPE)
    cli("run", "pipe.py:sweep")
    header = _table(cli("runs")[0])[0]
    assert header[3:8] == ["loss", "accuracy", "lr", "depth", "seed"], header


# Every listing command, and the hint it prints when it has nothing to list.
EMPTY = [
    (["data", "list"], "no datasets yet — add one with `rung data add FILE --name NAME`"),
    (["runs"], "no runs yet — run a pipeline with `rung run FILE.py:PIPELINE`"),
    (["evals"], "no evaluations yet — run one with `rung eval MODEL --on DATASET@V`"),
    (["model", "list"], "no registered models yet — register a run's model with"),
    (["automate", "history"], "no automation jobs yet — declare triggers under [automate]"),
]


@pytest.mark.parametrize(
    ("command", "hint"), EMPTY, ids=lambda x: " ".join(x) if isinstance(x, list) else ""
)
def test_an_empty_listing_says_what_to_do_next(cli, command: list[str], hint: str) -> None:  # type: ignore[no-untyped-def]
    out, err, code = cli(*command)
    assert code == 0, err
    assert out.startswith(hint) and out.count("\n") == 1, out
    assert json.loads(cli(*command, "--json")[0]) == []  # scripts still get a plain list


def test_empty_listings_of_a_known_model(cli, ws) -> None:  # type: ignore[no-untyped-def]
    from model_project import TRAIN, frame

    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(100, 1), name="train")
    ws.models.register(str(ws.run("train.py:train").id), "trend")
    for command, hint in (
        (["model", "history", "trend"], "no alias of trend has moved yet — promote a version"),
        (["monitor", "show", "trend"], "no monitoring windows of trend yet"),
        (["monitor", "alerts", "trend"], "no alerts for trend"),
    ):
        out, err, code = cli(*command)
        assert code == 0, err
        assert out.startswith(hint) and out.count("\n") == 1, out


def test_dir_lists_the_public_api_without_importing_it() -> None:
    probe = (
        "import rung, sys; names = dir(rung); "
        "print(all(n in names for n in rung.__all__), 'pandas' in sys.modules, "
        "'Workspace' in names and 'log_metric' in names)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "True"]


def test_all_names_every_lazy_export() -> None:
    import rung

    assert set(rung.__all__) == set(rung._EXPORTS)
    for name in rung.__all__:
        assert getattr(rung, name) is not None
    with pytest.raises(AttributeError):
        rung.nope  # noqa: B018


def test_listing_an_unknown_dataset_suggests(cli, ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    ws.data.add(pd.DataFrame({"a": [1]}), name="cancer")
    _, err, code = cli("data", "list", "cancr")
    assert code == 1 and "did you mean 'cancer'?" in err
