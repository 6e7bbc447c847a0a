"""One run per study at a time: the run's study locks (``framework.run_lock``) are taken before
the JVM starts and any dataset is written, and released when the run ends.

Two hook objects share the locks, because ``RUN_ORDER`` is one order for every hook point:
``RunLockHooks`` takes them early in ``before_pipeline_run`` (after parameter validation, before
the Spark session), and its ``release_hooks`` (``RunLockReleaseHooks``), last in ``RUN_ORDER``,
releases them only when every other hook has finished the run (``after_pipeline_run``,
``on_pipeline_error``): nothing another hook writes at the end of a run (a publication switch,
the MLflow runs) happens while a second run of the study could already start."""

from __future__ import annotations

import logging
from pathlib import Path

from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl

from health_risk.framework.config_loader import CONFIG_LOADER_ARGS, StudyConfigLoader
from health_risk.framework.hooks.mlflow_runs import fail_mlflow_runs
from health_risk.framework.run_lock import StudyRunLock, holder_info, lock_folder, run_studies

logger = logging.getLogger(__name__)


def _data_root(config_loader) -> str | None:
    """``globals:data_root`` as the run's config loader resolves it (None: the default)."""
    try:
        return (config_loader["globals"] or {}).get("data_root")
    except (KeyError, MissingConfigException):
        return None


class RunLockHooks:
    """Refuse a run, before its first node, when another run holds the lock of one of its
    studies (the first component of a node's namespace; un-namespaced nodes take none), with
    a ``StudyBusyError`` naming that run. The locks are released by ``release_hooks`` when
    the run ends or fails, and by the kernel when its process dies."""

    def __init__(self) -> None:
        self._folder: Path | None = None
        self._lock: StudyRunLock | None = None
        self.release_hooks = RunLockReleaseHooks(self)

    @hook_impl
    def after_context_created(self, context) -> None:
        # The run's own globals (--env, HEALTH_RISK_DATA_ROOT), relative to its project.
        self._folder = lock_folder(_data_root(context.config_loader), context.project_path)

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        # A run of this process refused by a later pre-run check reaches neither
        # after_pipeline_run nor on_pipeline_error: its locks are released here.
        self.release()
        studies = run_studies(pipeline.nodes)
        if not studies:
            return
        lock = StudyRunLock(self._folder or self._fallback_folder(run_params))
        try:
            locked = lock.acquire(studies, holder_info(run_params, studies))
        except Exception:
            fail_mlflow_runs()
            raise
        self._lock = lock
        if locked:
            logger.info("Locked studies %s for this run (%s)", ", ".join(locked), lock.folder)

    @property
    def studies(self) -> list[str]:
        """The studies this run holds locked."""
        return self._lock.studies if self._lock is not None else []

    def release(self) -> None:
        """Release the run's locks (none held: nothing to do)."""
        lock, self._lock = self._lock, None
        if lock is not None:
            studies = lock.studies
            lock.release()
            logger.debug("Released the locks of studies %s", ", ".join(studies))

    @staticmethod
    def _fallback_folder(run_params) -> Path:
        """Without a context (a hook called outside a session): the project's own globals."""
        project = Path((run_params or {}).get("project_path") or Path.cwd())
        loader = StudyConfigLoader(conf_source=str(project / "conf"),
                                   env=(run_params or {}).get("env"), **CONFIG_LOADER_ARGS)
        return lock_folder(_data_root(loader), project)


class RunLockReleaseHooks:
    """Release the locks ``RunLockHooks`` took when the run has ended or failed: placed last in
    ``RUN_ORDER``, after every other hook's end of the run."""

    def __init__(self, lock_hooks: RunLockHooks) -> None:
        self._lock_hooks = lock_hooks

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        self._lock_hooks.release()

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        self._lock_hooks.release()
