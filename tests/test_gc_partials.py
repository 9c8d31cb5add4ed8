"""``rung gc`` and the partial files of interrupted writes: whose partial goes, and when.

The rule (docs/maintenance.md, :mod:`rung.store.partials`): a partial whose writer ran on this
host and is dead is garbage at once, whatever the grace period; a live writer's partial is
never removed; a partial of another host, or without an owner in its name, goes once older
than the grace period. Every object is counted once: referenced, else young, else swept.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from conftest import RUNG, rung_cli
from rung.store.partials import _HOST, owned_name

DAY = 86400.0


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_partials_of_dead_live_foreign_and_unowned_writers_at_the_default_grace(ws) -> None:  # type: ignore[no-untyped-def]
    tmp = Path(ws.artifacts.base) / "tmp"
    tmp.mkdir(exist_ok=True)
    now = int(time.time())
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        files = {
            "dead": f".partial-{_HOST}-{_dead_pid()}-{now}-aaaa",
            "dead, old": f".partial-{_HOST}-{_dead_pid()}-{now - 3 * 86400}-bbbb",
            "live child": f".partial-{_HOST}-{sleeper.pid}-{now}-cccc",
            "live, old": f".partial-{_HOST}-{sleeper.pid}-{now}-dddd",
            "this process": owned_name(".partial"),
            "other host": f".partial-elsewhere.example-{os.getpid()}-{now}-eeee",
            "other host, old": f".partial-elsewhere.example-1-{now - 3 * 86400}-ffff",
            "unowned": ".partial-killed",
            "unowned, old": ".partial-killed-long-ago",
        }
        for what, name in files.items():
            (tmp / name).write_bytes(b"x" * 100)
            if "old" in what:
                then = time.time() - 2 * DAY
                os.utime(tmp / name, (then, then))
        gone = {"dead", "dead, old", "other host, old", "unowned, old"}
        dry = ws.gc(dry_run=True)
        assert (dry.partials, dry.partial_bytes) == (len(gone), 100 * len(gone))
        out = rung_cli("gc", "--json", cwd=ws.root)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["partials"] == len(gone)
        for what, name in files.items():
            assert (tmp / name).exists() is (what not in gone), what
    finally:
        sleeper.kill()
        sleeper.wait()
    # the live child is dead now: its partials go on the next gc, the grace notwithstanding
    assert ws.gc().partials == 2


def test_a_killed_data_add_is_swept_at_once_and_the_counts_are_right(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The tester's case: SIGKILL a big `data add` while its partial exists, then `rung gc`
    with the default grace within a second: the partial is freed and the referenced
    version's object is counted as referenced, not as young."""
    ws.data.add(pd.DataFrame({"a": range(100)}), name="small")
    big = tmp_path / "big.csv"
    with open(big, "w") as f:
        f.write("a,b\n")
        for i in range(400_000):
            f.write(f"{i},{i * 7 % 1000}\n")
    tmp = Path(ws.artifacts.base) / "tmp"
    killed = False
    for _ in range(5):
        proc = subprocess.Popen(
            [RUNG, "data", "add", str(big), "--name", "big"],
            cwd=ws.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if tmp.exists() and any(p.name.startswith(".partial-") for p in tmp.iterdir()):
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.001)
        proc.wait(timeout=60)
        if proc.returncode == -signal.SIGKILL:
            killed = True
            break
    assert killed, "the add finished before a partial was seen"
    assert [p for p in tmp.iterdir() if p.name.startswith(".partial-")]
    out = rung_cli("gc", "--json", cwd=ws.root)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["partials"] == 1 and report["partial_bytes"] > 0
    assert report["kept_referenced"] == 1 and report["kept_young"] == 0, report
    assert report["objects"] == 0
    assert not [p for p in tmp.iterdir() if p.name.startswith(".partial-")]
    assert rung_cli("verify", cwd=ws.root).returncode == 0
