"""A refusal to load an object names the object rightly and an opt-in that exists (issue 10,
new-user report items 12 and 13).

* ``rung eval cc721266d179`` answered ``model 721266d17909 names types …``: the name was read
  from the object's path (``objects/cc/721266d179…``), dropping the folder's two hex digits.
  Every refusal must name a real prefix of the object's hash.
* A cached step's untrusted skops output made ``rung run`` say ``opt in with
  --allow-pickle``, an option ``rung run`` does not have. Each entry point names its own
  opt-in (``rung.pipelines.materialize.OPT_IN_*``), and each option a hint names exists on
  the command it names."""

from __future__ import annotations

import inspect
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import rung
from conftest import RUNG, rung_cli
from rung.core.errors import Untrusted
from rung.pipelines import materialize
from test_safe_loading import Scene, _store, _version, family

HEX = re.compile(r"\b[0-9a-f]{12,64}\b")


def _names_only_real_prefixes(text: str, digest: str) -> None:
    tokens = HEX.findall(text)
    assert tokens, text
    for token in tokens:
        assert digest.startswith(token), (token, digest, text)


def test_every_library_refusal_names_a_real_prefix(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    scene = Scene(tmp_path / "scene").prepare()
    ws.data.add(pd.DataFrame({"a": [0.0, 1.0, 2.0], "y": ["no", "yes", "yes"]}), name="d")
    for i, (label, kind, data, _) in enumerate(family(scene)):
        digest = _store(ws, kind, data)
        for ref in (digest, digest[:12]):
            with pytest.raises(Untrusted) as refused:
                ws.evaluate(ref, ["d@1"], label="y")
            _names_only_real_prefixes(str(refused.value), digest)
            assert f"model {digest[:12]}" in str(refused.value), (label, str(refused.value))
            assert materialize.OPT_IN_EVAL in str(refused.value)
        _version(ws, f"m{i}", kind, digest)
        with pytest.raises(Untrusted) as refused:
            ws.evaluate(f"m{i}@1", ["d@1"], label="y")
        assert materialize.OPT_IN_VERSION in str(refused.value), str(refused.value)
    assert not scene.ran(wait=0.2)


@pytest.mark.parametrize("which", [0, -1])  # a skops file and a pickle
def test_the_cli_names_the_prefix_the_user_typed(ws, tmp_path: Path, which: int) -> None:  # type: ignore[no-untyped-def]
    scene = Scene(tmp_path / "scene").prepare()
    ws.data.add(pd.DataFrame({"a": [0.0, 1.0, 2.0], "y": ["no", "yes", "yes"]}), name="d")
    _, kind, data, _ = family(scene)[which]
    digest = _store(ws, kind, data)
    out = rung_cli("eval", digest[:12], "--on", "d@1", "--label", "y", cwd=ws.root)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert f"model {digest[:12]} " in out.stderr, out.stderr
    _names_only_real_prefixes(out.stderr, digest)


# -- every hint names an opt-in that exists ---------------------------------------------------

_COMMAND = re.compile(r"\brung ((?:[a-z]+)(?: [a-z]+)?)")
_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]*")


def _help(command: str) -> str:
    out = subprocess.run(
        [RUNG, *command.split(), "--help"], capture_output=True, text=True, timeout=120
    )
    return out.stdout


def check_hint(hint: str, entry: str) -> None:
    """Every ``--option`` in ``hint`` exists on the command it is said with (``rung X Y …
    --opt``), or on ``entry`` when no command is said; every ``@step(...)`` keyword exists."""
    owner = entry
    for piece in re.split(r"(?=\brung [a-z])", hint):
        said = _COMMAND.match(piece)
        if said:
            words = said.group(1).split()
            owner = " ".join(
                words if len(words) == 1 or words[0] in ("model", "data") else words[:1]
            )
        for option in _OPTION.findall(piece):
            assert option in _help(owner), f"{option} is not an option of `rung {owner}`: {hint}"
    for keyword in re.findall(r"@step\((\w+)=", hint):
        assert keyword in inspect.signature(rung.step).parameters, hint


@pytest.mark.parametrize(
    "constant", ["OPT_IN_STEP", "OPT_IN_REGISTER", "OPT_IN_VERSION", "OPT_IN_EVAL", "OPT_IN_API"]
)
def test_each_opt_in_names_what_exists(constant: str) -> None:
    check_hint(getattr(materialize, constant), "run")


def test_every_cli_entry_point_names_its_own_opt_in(sqlite_ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    scene = Scene(tmp_path / "scene").prepare()
    ws.data.add(pd.DataFrame({"a": [0.0, 1.0, 2.0], "y": ["no", "yes", "yes"]}), name="d")
    ws.data.add(pd.DataFrame({"a": [0.0, 1.0, 2.0]}), name="ref")
    rows = tmp_path / "rows.csv"
    pd.DataFrame({"a": [0.5, 1.5]}).to_csv(rows, index=False)
    _, kind, data, _ = family(scene)[0]
    digest = _store(ws, kind, data)
    _version(ws, "m", kind, digest)
    entries = {
        "model register": (["model", "register", digest, "--name", "x"], "OPT_IN_REGISTER"),
        "eval": (["eval", digest, "--on", "d@1", "--label", "y"], "OPT_IN_EVAL"),
        "eval version": (["eval", "m@1", "--on", "d@1", "--label", "y"], "OPT_IN_VERSION"),
        "predict": (
            ["predict", "m@1", "-i", str(rows), "-o", str(tmp_path / "o.csv")],
            "OPT_IN_VERSION",
        ),
        "monitor": (["monitor", "m@1", "--reference", "ref@1"], "OPT_IN_VERSION"),
        "serve": (["serve", "m@1", "--port", "0"], "OPT_IN_VERSION"),
    }
    for entry, (args, constant) in entries.items():
        out = subprocess.run(
            [RUNG, *args], cwd=ws.root, capture_output=True, text=True, timeout=120
        )
        assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
        line = out.stderr.strip().splitlines()[-1]
        assert getattr(materialize, constant) in line, (entry, line)
        check_hint(
            line.split(" — ", 1)[1], entry.split()[0] if entry != "model register" else entry
        )
    assert not scene.ran(wait=0.2)


PIPELINE = """
import numpy as np
import rung
from sklearn.preprocessing import FunctionTransformer

@rung.step
def make():
    return FunctionTransformer(func=np.fft.fft).fit(np.ones((3, 1)))

@rung.step
def use(t, k: int = 1):
    return float(abs(t.transform(np.ones((1, 1)))[0, 0])) * k

@rung.pipeline
def train(k: int = 1):
    return use(make(), k=k)
"""


def test_rung_run_names_the_decorator_and_it_works(ws) -> None:  # type: ignore[no-untyped-def]
    """A cached step output naming an untrusted type (numpy.fft.fft): ``rung run`` names
    ``@step(pickle=True)``, never ``--allow-pickle`` (it has none), and that fix works."""
    (ws.root / "p.py").write_text(PIPELINE)
    first = rung_cli("run", "p.py:train", cwd=ws.root)
    assert first.returncode == 0, first.stderr
    again = rung_cli("run", "p.py:train", "-p", "k=2", cwd=ws.root)
    assert again.returncode == 1, again.stderr
    line = again.stderr.strip().splitlines()[-1]
    assert "numpy.fft.fft" in line and materialize.OPT_IN_STEP in line, line
    assert "--allow-pickle" not in line
    check_hint(line.split(" — ", 1)[1], "run")
    (ws.root / "p.py").write_text(
        PIPELINE.replace("@rung.step\ndef make", "@rung.step(pickle=True)\ndef make")
    )
    for k in ("3", "4"):  # executed, then read back from the cache
        fixed = rung_cli("run", "p.py:train", "-p", f"k={k}", cwd=ws.root)
        assert fixed.returncode == 0, fixed.stderr
