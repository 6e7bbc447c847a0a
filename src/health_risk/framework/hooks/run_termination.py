"""A run stopped by a signal ends its MLflow runs as KILLED."""

from __future__ import annotations

import signal
import threading
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl

from health_risk.framework.hooks.mlflow_runs import end_mlflow_runs_as_killed
from health_risk.framework.study_runs import STUDY_RUNS


class RunTerminationHooks:
    """A run stopped by SIGTERM (a scheduler, ``kill``) or SIGINT (Ctrl-C) ends its MLflow runs
    as KILLED, the kedro run's and its tuning children alike, instead of leaving them RUNNING
    forever. Outputs are written whole or not at all (Spark overwrites, the XPT staging marker
    comes last), so nothing half-written blocks the next run."""

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._run: tuple[str, str] | None = None  # (run id, experiment id)

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:

        active = mlflow.active_run()
        self._run = (active.info.run_id, active.info.experiment_id) if active else None
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be installed from the main thread
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum, frame) -> None:

        end_mlflow_runs_as_killed(self._run)
        STUDY_RUNS.finish("KILLED")  # those between two of their nodes too, not only RUNNING ones
        self._restore()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        self._restore()

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        self._restore()
