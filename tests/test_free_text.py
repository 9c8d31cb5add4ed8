"""Free text never drives the terminal (issue 10, new-user report item 20).

The rule: control characters (C0/C1, DEL, tab, newline, line separators, bidi controls) are
refused where free text enters (``rung.core.limits.check_text``, applied by ``check_length`` to
every bounded text and to reasons), and anything shown that rung did not check is escaped on
the way out (``rung.core.text.printable``, in every table)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import rung_cli
from model_project import TRAIN, frame
from rung.core.errors import InvalidInput
from rung.core.text import control_chars, is_control, printable

CONTROL = st.one_of(
    st.characters(codec="utf-8", categories=["Cc", "Zl", "Zp"], exclude_characters="\x00"),
    st.sampled_from(["\u202e", "\u2066", "\u200f", "\x1b[31m", "\r\n", "\t"]),
)
WITH_CONTROL = st.builds(
    lambda a, c, b: a + c + b,
    st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), max_size=8),
    CONTROL,
    st.sampled_from(["", "red", "x"]),
)


@given(st.text())
def test_printable_escapes_every_control_and_nothing_else(text: str) -> None:
    shown = printable(text)
    assert not control_chars(shown)
    if not any(is_control(c) for c in text):
        assert shown == text


@pytest.fixture
def trained(ws):  # type: ignore[no-untyped-def]
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(300, 1), name="train")
    run = ws.run("train.py:train").id
    ws.models.register(str(run), "m")
    ws.models.register(str(ws.run("train.py:train", {"C": 0.01}).id), "m")
    ws.models.promote("m", 1, force=True, reason="first")
    ws.models.promote("m", 2, force=True, reason="second")
    return ws


def _events(ws: Any) -> int:
    return len(ws.models.history("m"))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=WITH_CONTROL, field=st.sampled_from(["reason", "RUNG_USER", "metric", "param", "run"]))
def test_every_free_text_field_refuses_control_characters(
    trained: Any, monkeypatch: pytest.MonkeyPatch, text: str, field: str
) -> None:
    ws = trained
    before = _events(ws)
    with monkeypatch.context() as env, pytest.raises(InvalidInput) as caught:
        if field == "reason":
            ws.models.promote("m", 1, force=True, reason=text)
        elif field == "RUNG_USER":
            env.setenv("RUNG_USER", text)
            ws.models.promote("m", 1, force=True, reason="ok")
        elif field == "metric":
            with ws.start_run("r") as run:
                run.log_metric(text, 1.0)
        elif field == "param":
            with ws.start_run("r", params={text: 1}):
                pass
        else:
            with ws.start_run(text):
                pass
    message = f"{caught.value.message} — {caught.value.hint}"
    assert not control_chars(message), message  # the refusal shows them escaped
    assert _events(ws) == before  # nothing stored


def test_the_reported_examples_at_the_cli(trained: Any) -> None:
    ws = trained
    before = _events(ws)
    out = rung_cli(
        "model", "promote", "m", "1", "--force", "--reason", "bad\x1b[31mred", cwd=ws.root
    )
    assert out.returncode == 1 and "\x1b" not in out.stderr, out
    assert "\\x1b" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    out = rung_cli("model", "rollback", "m", cwd=ws.root, env={"RUNG_USER": "ev\nil"})
    assert out.returncode == 1 and "\\n" in out.stderr, out
    assert len(out.stderr.strip().splitlines()) == 1
    assert _events(ws) == before


def test_text_stored_before_the_rule_is_shown_escaped(trained: Any) -> None:
    """A row written before this rule (or by another tool) still cannot drive the terminal."""
    ws = trained
    with ws._stores().metadata.write() as tx:
        tx.insert(
            "alias_events",
            {
                "name": "m",
                "alias": "champion",
                "from_version": 1,
                "to_version": 1,
                "action": "force",
                "who": "ev\nil",
                "why": "bad\x1b[31mred [bold]x[/]",
                "evaluation_id": None,
                "at": time.time(),
            },
        )
    out = rung_cli("model", "history", "m", cwd=ws.root)
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stdout and "ev\nil" not in out.stdout
    assert "\\x1b[31mred" in out.stdout and "ev\\nil" in out.stdout
    assert "[bold]x[/]" in out.stdout  # text, not rich markup
