"""The Workspace: the one object that the library, the CLI, the tests and the server drive.

It finds or creates the workspace folder, reads its configuration, opens the stores lazily
and hands out the features built on them (``ws.data``, ``ws.run``, ``ws.runs``, …). Nothing
is global: two workspaces in one process do not interfere.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rung.config import CONFIG_FILE, STATE_DIR, TEMPLATE, Config, load_config
from rung.core.errors import InvalidInput, RungError, StoreUnavailable, WorkspaceNotFound

if TYPE_CHECKING:
    from rung.automation.loop import Automation
    from rung.data.datasets import Datasets
    from rung.evaluation.evaluator import Evaluation, Evaluator
    from rung.monitoring.monitor import Monitor
    from rung.pipelines.history import Runs
    from rung.pipelines.runner import Progress, RunResult
    from rung.pipelines.steps import Pipeline
    from rung.pipelines.tracking import TrackingRun
    from rung.registry.gate import Acceptance
    from rung.registry.models import Registry
    from rung.store.artifacts import ArtifactStore
    from rung.store.maintenance import GcReport, ProgressFn, VerifyReport
    from rung.store.metadata import MetadataStore
    from rung.store.statcache import StatCache


def explain(exc: BaseException) -> RungError | None:
    """A failure of the machine beneath rung — a full disk, a database file that is not one,
    an optional dependency not installed, a path that cannot be read or written — as its
    one-line RungError; None for anything else (a bug, which keeps its traceback). For the
    CLI's ``main``."""
    from rung.store.failures import explain as explain_failure

    return explain_failure(exc, paths=True)


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding ``rung.toml``."""
    env = os.environ.get("RUNG_WORKSPACE")
    here = Path(env) if env else (start or Path.cwd())
    here = here.resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise WorkspaceNotFound(
        f"no rung workspace at or above {str(here)!r}",
        "run `rung init` to create one, or cd into a workspace",
    )


class Workspace:
    """A rung workspace: configuration plus stores, and everything that hangs off them."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.config: Config = load_config(self.root)

    # -- construction ------------------------------------------------------------------

    @classmethod
    def init(cls, path: str | os.PathLike[str] = ".") -> Workspace:
        """Create a workspace at ``path`` (idempotent) and open it."""
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        config = root / CONFIG_FILE
        if not config.exists():
            config.write_text(TEMPLATE)
        state = root / STATE_DIR
        state.mkdir(exist_ok=True)
        (state / ".gitignore").write_text("*\n")
        ws = cls(root)
        ws.store  # noqa: B018 - create the database and apply migrations now
        return ws

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> Workspace:
        """Open the workspace at ``path``, or the nearest one above the current directory."""
        return cls(find_root(Path(path) if path is not None else None))

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.close()
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            # a write into the stores found no space: name where (an artifact write's OSError
            # carries no file name) and how much is free, in one line
            from rung.store.failures import disk_full

            raise disk_full(exc.filename or self.config.artifact_root) from exc
        if isinstance(exc, sqlite3.Error):  # the stat cache's own SQLite file
            from rung.store.failures import explain as explain_failure

            cache = self.config.state_dir / "cache" / "stat.sqlite"
            known = explain_failure(exc, str(cache))
            if isinstance(known, StoreUnavailable):  # not a database, cannot open
                known.hint = f"it is only a cache of file hashes: delete {cache} to rebuild it"
            if known is not None:
                raise known from exc

    def close(self) -> None:
        """Release the stores' connections and files."""
        if "store" in self.__dict__:
            self.store.close()
        if "stat_cache" in self.__dict__:
            self.stat_cache.close()

    def __repr__(self) -> str:
        return f"<Workspace {self.root}>"

    # -- stores (opened on first use) -----------------------------------------------------

    @cached_property
    def store(self) -> MetadataStore:
        from rung.store.metadata import MetadataStore

        if self.config.store_url.startswith("sqlite:///"):
            self.config.state_dir.mkdir(exist_ok=True)
        return MetadataStore(self.config.store_url)

    @cached_property
    def artifacts(self) -> ArtifactStore:
        from rung.store.artifacts import ArtifactStore

        return ArtifactStore(
            self.config.artifact_root,
            describe=self._describe_artifact,
            cache_dir=str(self.config.state_dir / "cache" / "objects"),
        )

    @cached_property
    def stat_cache(self) -> StatCache:
        from rung.store.statcache import StatCache

        return StatCache(self.config.state_dir / "cache" / "stat.sqlite")

    def _describe_artifact(self, digest: str) -> str:
        return self.runs.describe_artifact(digest)

    # -- features ----------------------------------------------------------------------

    @cached_property
    def data(self) -> Datasets:
        """Versioned datasets: ``ws.data.add(...)``, ``ws.data.get("NAME@3")``."""
        from rung.data.datasets import Datasets

        return Datasets(
            self.store,
            self.artifacts,
            lambda: self.stat_cache,
            self.config.state_dir / "checkout",
            (self.config.state_dir,),
        )

    @cached_property
    def runs(self) -> Runs:
        """Recorded runs: listing, details, lineage and reproduction."""
        from rung.pipelines.history import Runs

        return Runs(self._stores())

    def _stores(self) -> Any:
        from rung.pipelines.runner import Stores

        return Stores(self.store, self.artifacts, self.data, self.root)

    def run(
        self,
        pipeline: Pipeline | str,
        params: dict[str, Any] | None = None,
        *,
        trigger: str = "manual",
        cache: bool = True,
        progress: Progress | None = None,
    ) -> RunResult:
        """Run a pipeline (an object or a ``file.py:function`` / configured name)."""
        from rung.pipelines.loader import load_pipeline, target_of
        from rung.pipelines.runner import run_pipeline

        target: str | None
        if isinstance(pipeline, str):
            target = self.config.pipelines.get(pipeline, pipeline)
            pipe = load_pipeline(target, self.root, self.config.pipelines)
        else:
            pipe, target = pipeline, target_of(pipeline, self.root)
        return run_pipeline(
            self._stores(),
            pipe,
            params,
            target=target,
            trigger=trigger,
            use_cache=cache,
            progress=progress,
        )

    @cached_property
    def acceptance(self) -> Acceptance:
        """The project's declared acceptance criteria and datasets (``[eval]``, and
        ``[automate]`` for the automated model): what the registry's gate judges every alias
        move by. See :mod:`rung.registry.gate`."""
        from rung.registry.gate import Acceptance

        return Acceptance.from_settings(self.config.settings)

    @cached_property
    def models(self) -> Registry:
        """The model registry: ``ws.models.register(...)``, ``promote``, ``rollback``, ``history``."""
        from rung.registry.models import Registry

        return Registry(self._stores(), self.acceptance)

    @cached_property
    def evals(self) -> Evaluator:
        """Recorded evaluations: ``ws.evals.list()``, ``ws.evals.get(ID)``."""
        from rung.evaluation.evaluator import Evaluator

        return Evaluator(self._stores(), self.config.settings.section("eval"), self.acceptance)

    def evaluate(self, model: str, on: list[str] | tuple[str, ...], **options: Any) -> Evaluation:
        """Evaluate a model on several dataset versions at once; see :class:`Evaluator`."""
        return self.evals.evaluate(model, on, **options)

    @cached_property
    def monitor(self) -> Monitor:
        """Monitoring: ``ws.monitor.check("NAME@ALIAS", "1000")`` computes, stores and alerts on
        one window; ``ws.monitor.windows(NAME)`` is the stored time series. See
        :mod:`rung.monitoring.monitor`."""
        from rung.monitoring.monitor import Monitor

        return Monitor(
            self._stores(),
            self.models,
            self.config.settings.section("monitor"),
            self.config.settings.eval.label,
        )

    @cached_property
    def automations(self) -> dict[str, Automation]:
        """The continuous-training loop of every automated model, by name: ``[automate]``'s
        ``model`` and each ``[automate.models.NAME]`` (see :mod:`rung.automation.loop`)."""
        settings = self.config.settings
        return {
            name: self._automation(section)
            for name, section in settings.automate.per_model().items()
        }

    @property
    def automation(self) -> Automation:
        """The loop of the one automated model: ``ws.automation.tick()``, ``history()``,
        ``approve(NAME, VERSION)``. With none configured its ``require()`` says what to set;
        with several, :class:`InvalidInput` — use :meth:`automation_of`."""
        loops = self.automations
        if len(loops) == 1:
            return next(iter(loops.values()))
        if not loops:
            section = self.config.settings.section("automate")
            section.pop("models", None)
            return self._automation(section)
        raise InvalidInput(
            f"{len(loops)} models are automated ({', '.join(sorted(loops))}): name one",
            "ws.automation_of(NAME) in Python, --model NAME at the CLI",
        )

    def automation_of(self, model: str) -> Automation:
        """The loop of automated ``model``; NotFound (with the nearest names) otherwise."""
        from rung.core.suggest import unknown

        loops = self.automations
        if model not in loops:
            raise unknown(
                "automated model",
                model,
                loops,
                "models are automated by [automate] model or [automate.models.NAME] in rung.toml",
            )
        return loops[model]

    def _automation(self, section: dict[str, Any]) -> Automation:
        from rung.automation.loop import Automation

        settings = self.config.settings
        if not section.get("datasets"):  # the acceptance datasets, as the gate has them
            section = {**section, "datasets": list(settings.eval.datasets)}
        return Automation(
            self._stores(),
            section,
            self.models,
            self.evals,
            self.monitor,
            self.run,
            section.get("label") or settings.eval.label,
            list(settings.eval.criteria),
        )

    # -- maintenance -------------------------------------------------------------------

    def verify(self, progress: ProgressFn | None = None) -> VerifyReport:
        """Re-hash every stored object and check the metadata database; the report lists each
        missing or corrupt object with what refers to it. See :mod:`rung.store.maintenance`."""
        from rung.store.maintenance import verify

        return verify(self.store, self.artifacts, progress)

    def gc(self, *, dry_run: bool = False, grace: float | None = None) -> GcReport:
        """Sweep unreferenced objects and stale ``.partial-*`` files older than ``grace``
        seconds (default one day); safe while other processes write (see
        :mod:`rung.store.maintenance`); and apply the prediction log's retention when
        ``[serve]`` configures one (:mod:`rung.serving.retention`)."""
        from rung.serving.retention import prune
        from rung.store.maintenance import DEFAULT_GRACE, gc

        report = gc(
            self.store,
            self.artifacts,
            dry_run=dry_run,
            grace=DEFAULT_GRACE if grace is None else grace,
        )
        # the prediction log's retention ([serve] retention, max_log_rows), if configured
        log = prune(self.store, self.config.settings, dry_run=dry_run)
        report.prediction_log = log.to_dict() if log is not None else None
        report.prediction_log_line = log.line() if log is not None else None
        return report

    @contextmanager
    def start_run(self, name: str, params: dict[str, Any] | None = None) -> Iterator[TrackingRun]:
        """A tracking run outside pipelines, like ``mlflow.start_run``; metrics go to it."""
        from rung.pipelines.tracking import tracking_run

        with tracking_run(self.store, self.root, name, params or {}) as run:
            yield run
