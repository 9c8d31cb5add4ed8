"""``rung verify`` and ``rung gc`` on both backends, through the library and the real CLI.

Damage of each kind (a flipped byte, a deleted object, a truncated file) to objects of each kind
of referent (a folder dataset's file, a model version, an evaluation input, a step input) is
reported with its referrers and exit 1; gc sweeps only old unreferenced objects and stale
partials, and is safe while other processes add data and run pipelines.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import RUNG, rung_cli
from model_project import TRAIN, frame
from rung.core.errors import IntegrityError
from rung.store.lease import Lease

DAY = 86400.0


@pytest.fixture
def project(ws):  # type: ignore[no-untyped-def]
    """A workspace holding every kind of referent, and one object of each to damage."""
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(300, 1), name="train")
    holdout = ws.data.add(frame(100, 2), name="holdout")
    photos = ws.root / "photos"
    photos.mkdir()
    for i in range(3):
        (photos / f"{i}.txt").write_text(f"picture {i}\n" * 50)
    folder = ws.data.add(photos, name="photos")
    run = ws.run("train.py:train")
    model = ws.models.register(str(run.id), "trend")
    ws.evaluate("trend@1", ["holdout@1"], label="y")
    manifest = json.loads(ws.artifacts.get_bytes(folder.hash))
    targets = {
        manifest["files"][1]["hash"]: "dataset photos@1 file 1.txt",
        model.hash: "model trend@1",
        holdout.hash: "evaluation 1 input holdout@1",
        ws.data.get("train@1").hash: f"run {run.id} step fit input frame",
    }
    return ws, targets


def _damage(path: str, how: str) -> None:
    if how == "delete":
        os.unlink(path)
    elif how == "truncate":
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
    else:
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 2)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0x01]))


def test_a_clean_store_verifies(project) -> None:  # type: ignore[no-untyped-def]
    ws, _ = project
    seen: list[tuple[int, int]] = []
    report = ws.verify(progress=lambda done, total: seen.append((done, total)))
    assert report.ok, report.problems
    assert len(seen) == report.objects and seen[-1] == (report.bytes, report.bytes)
    assert (report.objects, report.referenced) == (7, 7)  # 2 tables, a manifest, 3 files, a model
    done = rung_cli("verify", cwd=ws.root)
    assert done.returncode == 0, done.stderr
    assert ": ok" in done.stdout


@pytest.mark.parametrize("how", ["flip", "delete", "truncate"])
def test_each_damaged_object_is_reported_with_its_referrers(project, how) -> None:  # type: ignore[no-untyped-def]
    ws, targets = project
    for digest in targets:
        _damage(ws.artifacts.path(digest), how)
    report = ws.verify()
    expected = "missing" if how == "delete" else "corrupt"
    found = {p.hash: p for p in report.problems}
    assert set(found) == set(targets)
    for digest, referrer in targets.items():
        assert found[digest].kind == expected
        assert referrer in found[digest].referrers, found[digest].referrers

    done = rung_cli("verify", "--json", cwd=ws.root)
    assert done.returncode == 1
    body = json.loads(done.stdout)
    assert body["ok"] is False and len(body["problems"]) == len(targets)
    text = rung_cli("verify", cwd=ws.root)
    assert text.returncode == 1 and "Traceback" not in text.stderr
    assert "referred by  model trend@1" in text.stdout


def test_a_reference_without_an_artifact_row_is_a_database_problem(project) -> None:  # type: ignore[no-untyped-def]
    ws, _ = project
    with ws.store.write() as tx:
        step = tx.scalar("SELECT MIN(id) FROM step_runs")
        tx.insert(
            "step_io",
            {
                "step_run_id": step,
                "direction": "out",
                "name": "ghost",
                "artifact_hash": "f" * 64,
                "dataset_id": None,
            },
        )
    kinds = {(p.kind, p.hash) for p in ws.verify().problems}
    assert ("database", "f" * 64) in kinds  # no artifacts row
    assert ("missing", "f" * 64) in kinds  # and no object


def test_a_schema_behind_the_head_migration_is_a_database_problem(ws) -> None:  # type: ignore[no-untyped-def]
    from rung.store.metadata import HEAD_REVISION

    with ws.store.write() as tx:
        tx.execute("UPDATE alembic_version SET version_num = '0003'")
    try:
        messages = [p.message for p in ws.verify().problems]
    finally:
        with ws.store.write() as tx:
            tx.execute("UPDATE alembic_version SET version_num = :v", {"v": HEAD_REVISION})
    assert messages == [
        f"the metadata schema is at revision 0003, this rung expects {HEAD_REVISION}"
    ]


def test_a_damaged_sqlite_page_is_reported_not_a_traceback(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    ws = sqlite_ws
    kept = ws.data.add(frame(50, 1), name="train")
    with ws.start_run("many") as run:
        pass
    rows = [
        {
            "run_id": run.id,
            "step_run_id": None,
            "key": f"metric {i % 40}",
            "value": float(i),
            "step": i,
            "timestamp": 0.0,
        }
        for i in range(4000)
    ]
    with ws.store.write() as tx:
        tx.insert_many("metrics", rows)
    path = str(ws.config.state_dir / "rung.db")
    with ws.store.write() as tx:
        pages = [
            r["pageno"]
            for r in tx.all(
                "SELECT pageno FROM dbstat WHERE name = 'ix_metrics_run_key' AND pagetype = 'leaf'"
            )
        ]
        size = tx.scalar("PRAGMA page_size")
    ws.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert len(pages) > 2
    with open(path, "r+b") as f:
        f.seek((pages[len(pages) // 2] - 1) * size + 200)
        f.write(b"\xff" * 64)
    done = rung_cli("verify", "--json", cwd=ws.root)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    body = json.loads(done.stdout)
    assert any(p["kind"] == "database" for p in body["problems"])
    assert kept.hash not in {p["hash"] for p in body["problems"]}


def _age(ws, seconds: float) -> None:  # type: ignore[no-untyped-def]
    then = time.time() - seconds
    for folder, _, names in os.walk(Path(ws.artifacts.base) / "objects"):
        for n in names:
            os.utime(os.path.join(folder, n), (then, then))


def test_gc_sweeps_old_unreferenced_objects_and_stale_partials_only(project) -> None:  # type: ignore[no-untyped-def]
    ws, targets = project
    old_orphan = ws.artifacts.put_bytes(b"left by a killed write" * 100)
    partial = Path(ws.artifacts.path(old_orphan)).with_name(".partial-killed")
    partial.write_bytes(b"x" * 1000)
    _age(ws, 2 * DAY)
    young_orphan = ws.artifacts.put_bytes(b"being written right now")
    young_partial = Path(ws.artifacts.path(young_orphan)).with_name(".partial-writing")
    young_partial.write_bytes(b"y" * 10)
    before = sorted(Path(ws.artifacts.base).rglob("*"))

    dry = ws.gc(dry_run=True)
    assert (dry.objects, dry.bytes, dry.partials, dry.partial_bytes) == (1, 2200, 1, 1000)
    assert sorted(Path(ws.artifacts.base).rglob("*")) == before  # a dry run removes nothing

    done = rung_cli("gc", "--json", cwd=ws.root)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["objects"], report["bytes"], report["partials"]) == (1, 2200, 1)
    assert not ws.artifacts.exists(old_orphan) and not partial.exists()
    assert ws.artifacts.exists(young_orphan) and young_partial.exists()
    assert all(ws.artifacts.exists(d) for d in targets)
    assert ws.verify().ok
    again = ws.gc()
    assert (again.objects, again.partials) == (0, 0)
    # a shorter grace lets the young ones go too
    text = rung_cli("gc", "--grace", "0", cwd=ws.root)
    assert text.returncode == 0 and text.stdout.startswith("freed "), text.stdout
    assert not ws.artifacts.exists(young_orphan) and not young_partial.exists()
    assert ws.verify().ok


def test_gc_waits_for_no_one_and_refuses_while_another_runs(ws) -> None:  # type: ignore[no-untyped-def]
    with Lease(ws.store, "gc", ttl=60) as held:
        assert held.held
        with pytest.raises(IntegrityError, match="another rung gc is running"):
            ws.gc()
        assert ws.gc(dry_run=True).objects == 0  # a dry run deletes nothing: no lease needed
    assert ws.gc().objects == 0


@pytest.mark.parametrize("grace", ["soon", "-5", "1y"])
def test_a_bad_grace_is_one_line(ws, grace: str) -> None:  # type: ignore[no-untyped-def]
    done = rung_cli("gc", "--grace", grace, cwd=ws.root)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and grace in done.stderr


PIPE = """
import pandas as pd
from rung import pipeline, step

@step
def make(n: int):
    return pd.DataFrame({"x": range(n)})

@step
def double(frame):
    return frame * 2

@pipeline
def pipe(n: int = 10):
    return double(make(n))
"""


def test_gc_is_safe_while_other_processes_add_data_and_run_pipelines(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "pipe.py").write_text(PIPE)
    # orphans of killed writes: some will be added again while gc runs (a writer reuses an
    # object gc is about to sweep), the others are garbage
    reuse = tmp_path / "reuse"
    reuse.mkdir()
    for i in range(150):
        (reuse / f"{i}.txt").write_text(f"row {i}\n")
    reused = [s.digest for s in ws.artifacts.put_files([str(p) for p in sorted(reuse.iterdir())])]
    garbage = [ws.artifacts.put_bytes(f"garbage {i}".encode()) for i in range(60)]
    single = tmp_path / "single.csv"
    single.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(500)))
    ws.artifacts.put_file(single)
    _age(ws, 2 * DAY)

    gc_loop = ["sh", "-c", f"for i in 1 2 3 4 5; do {RUNG} gc --grace 1h --json; done"]
    writers = [
        [RUNG, "data", "add", str(reuse), "--name", "reuse"],
        [RUNG, "data", "add", str(single), "--name", "single"],
        ["sh", "-c", f"for n in 3 4 5 6; do {RUNG} run pipe.py:pipe -p n=$n || exit 1; done"],
    ]
    commands = [gc_loop, *writers, gc_loop]  # two collectors: the lease lets one at a time
    procs = [
        subprocess.Popen(c, cwd=ws.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    outcomes = [(c, p, *p.communicate(timeout=600)) for c, p in zip(commands, procs, strict=True)]
    swept = 0
    for c, p, out, err in outcomes:
        if c is gc_loop:
            refused = [line for line in err.splitlines() if line]
            assert all("another rung gc is running" in line for line in refused), err
            swept += out.count('"objects"')
        else:
            assert p.returncode == 0, (c, out, err)
    assert swept >= 1

    done = rung_cli("verify", cwd=ws.root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(ws.artifacts.exists(d) for d in reused)  # in dataset reuse@1 now
    # the garbage goes once it is past the grace period (a gc that overlapped a writer's
    # freshening may have kept some young)
    _age(ws, 2 * DAY)
    ws.gc()
    assert not any(os.path.exists(ws.artifacts.path(d)) for d in garbage)
    assert ws.verify().ok


def test_verify_reads_a_remote_store_and_gc_refuses_it(store_url, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """fsspec's memory:// stands in for object storage."""
    import uuid

    from rung import Workspace
    from rung.core.errors import InvalidInput

    monkeypatch.setenv("RUNG_STORE_URL", store_url)
    monkeypatch.setenv("RUNG_ARTIFACT_ROOT", f"memory://rung-{uuid.uuid4().hex}")
    with Workspace.init(tmp_path / "remote") as ws:
        kept = ws.data.add(frame(50, 1), name="train")
        broken = ws.data.add(frame(60, 2), name="holdout")
        assert ws.verify().ok
        ws.artifacts.fs.pipe_file(ws.artifacts.path(broken.hash), b"not the bytes")
        problems = ws.verify().problems
        assert [(p.kind, p.hash, p.referrers) for p in problems] == [
            ("corrupt", broken.hash, ["dataset holdout@1"])
        ]
        assert kept.hash not in {p.hash for p in problems}
        with pytest.raises(InvalidInput, match="local artifact stores only"):
            ws.gc()


def test_gc_reclaims_what_killed_data_adds_leave(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL `rung data add` as soon as it has written into the store: the orphans and
    .partial files it leaves are what gc frees; afterwards the store verifies clean."""
    import signal

    objects = Path(ws.artifacts.base)
    killed = 0
    for attempt in range(6):
        folder = tmp_path / f"big{attempt}"
        folder.mkdir()
        for i in range(400):
            (folder / f"{i}.bin").write_bytes(os.urandom(20_000) + bytes([attempt]))
        before = set(objects.rglob("*"))
        proc = subprocess.Popen([RUNG, "data", "add", str(folder), "--name", "big"], cwd=ws.root)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if any(p.is_file() for p in set(objects.rglob("*")) - before):
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
        proc.wait(timeout=60)
        killed += proc.returncode == -signal.SIGKILL
        if killed >= 3:
            break
    assert killed >= 3
    recorded = json.loads(rung_cli("data", "list", "--json", cwd=ws.root).stdout)
    leftovers = [p for p in objects.rglob("*") if p.is_file()]
    assert leftovers  # killed mid-write: objects nothing refers to, or .partial files

    done = rung_cli("gc", "--grace", "0", "--json", cwd=ws.root)
    assert done.returncode == 0, done.stderr
    freed = json.loads(done.stdout)
    assert freed["objects"] + freed["partials"] > 0
    assert not [p for p in objects.rglob(".partial-*")]
    assert rung_cli("verify", cwd=ws.root).returncode == 0
    assert json.loads(rung_cli("data", "list", "--json", cwd=ws.root).stdout) == recorded
    again = ws.gc(grace=0)
    assert (again.objects, again.partials) == (0, 0)


def test_an_applications_evaluation_refers_to_no_object_of_its_own(ws) -> None:  # type: ignore[no-untyped-def]
    """An Application's recorded model hash is a hash of its components, not a stored object:
    verify does not report it missing."""
    import rung
    from test_evaluation import APP_TRAIN, chat, entities, respond

    (ws.root / "chat_train.py").write_text(APP_TRAIN)
    ws.data.add(chat(300, 1), name="chat")
    ws.data.add(chat(100, 2), name="clientA")
    run_id = ws.run("chat_train.py:train").id
    app = rung.Application(
        "assistant",
        [
            rung.Component("language", f"{run_id}:fit_both.language", label="lang"),
            rung.Component("intent", f"{run_id}:fit_both.intent", label="intent"),
            rung.Component("entities", entities),
            rung.Component("response", respond),
        ],
    )
    ws.evaluate(app, ["clientA@1"], label="response")
    report = ws.verify()
    assert report.ok, report.problems
