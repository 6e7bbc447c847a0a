"""One MLflow run per study, nested under the run kedro-mlflow opens for the ``kedro run``.

kedro-mlflow tracks a ``kedro run`` as one MLflow run and re-opens it in every node's thread.
If the studies shared it they would be told apart only by metric prefixes, and the MLflow UI
could not compare stroke with stroke across runs. ``StudyRuns`` gives each study a child run
(run name = the study, tag ``study``, ``mlflow.parentRunId`` = the kedro run's run). While a
node of the study's namespace runs and saves its outputs, that child is the thread's active run,
so every artifact, metric, tuning trial and model version the study logs lands in it.

MLflow keeps the active run per thread, so this works under ``ThreadRunner``. A study run is
RUNNING while one of its nodes runs. It is ended when the node's last output is saved, and it
gets its final status with the kedro run's (FINISHED, or FAILED if any node failed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Param
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH

logger = logging.getLogger(__name__)

STUDY_TAG = "study"
KIND_TAG = "kind"
STUDY_KIND = "study"
PARENT_TAG = "mlflow.parentRunId"


def flatten_params(name: str, value: Any, sep: str = ".") -> dict[str, str]:
    """``{"a": {"b": 1}}`` under ``name`` -> ``{"name.a.b": "1"}``, values cut to MLflow's limit
    (the same flattening kedro-mlflow applies to the kedro run's parameters)."""
    if isinstance(value, Mapping):
        flat: dict[str, str] = {}
        for key, item in value.items():
            flat.update(flatten_params(f"{name}{sep}{key}" if name else str(key), item, sep))
        return flat
    return {name: str(value)[:MAX_PARAM_VAL_LENGTH]}


def study_params(inputs: Mapping[str, Any], study: str) -> dict[str, str]:
    """A node's parameter inputs (``params:<study>.modeling``) keyed without the study prefix:
    the study run's parameters read ``modeling.tuning.seed``, comparable across runs."""
    prefix = f"params:{study}."
    flat: dict[str, str] = {}
    for name, value in inputs.items():
        if name.startswith(prefix):
            flat.update(flatten_params(name[len(prefix):], value))
    return flat


class StudyRuns:
    """The study runs of the kedro run(s) of this process; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, str], str] = {}  # (kedro run's run id, study) -> run id
        self._logged: dict[str, set[str]] = {}  # run id -> parameter keys already logged
        self._open = threading.local()  # this thread's (study run id, outputs still to save)

    def run_id(self, study: str) -> str | None:
        """The run of ``study`` under the thread's active run, created on first use; None when
        nothing is tracked (no active run: tracking is off for the pipeline)."""
        active = mlflow.active_run()
        if active is None:
            return None
        parent = active.info.run_id
        with self._lock:
            for (kedro_run, name), run_id in self._runs.items():
                if run_id == parent:  # already inside a study run: use its parent's
                    parent = kedro_run
                    break
            run_id = self._runs.get((parent, study))
            if run_id is None:
                run_id = MlflowClient().create_run(
                    active.info.experiment_id, run_name=study,
                    tags={PARENT_TAG: parent, STUDY_TAG: study, KIND_TAG: STUDY_KIND},
                ).info.run_id
                self._runs[(parent, study)] = run_id
                logger.info("MLflow run '%s' (%s) for study %s", study, run_id, study)
        return run_id

    def enter(self, study: str, outputs: Iterable[str], params: Mapping[str, str]) -> None:
        """Make the study's run this thread's active run until ``outputs`` are saved."""
        run_id = self.run_id(study)
        if run_id is None:
            return
        self._log_params(run_id, params)
        mlflow.start_run(run_id=run_id, nested=True)
        self._open.value = (run_id, set(outputs))
        if not self._open.value[1]:
            self.leave()

    def saved(self, dataset_name: str) -> None:
        """An output of the thread's current node was saved; leave after the last one."""
        current = getattr(self._open, "value", None)
        if current is None:
            return
        current[1].discard(dataset_name)
        if not current[1]:
            self.leave()

    def leave(self) -> None:
        """End the thread's study run (kept open only while its nodes run)."""
        current = getattr(self._open, "value", None)
        self._open.value = None
        active = mlflow.active_run()
        if current is not None and active is not None and active.info.run_id == current[0]:
            mlflow.end_run()

    def finish(self, status: str) -> list[str]:
        """Give every study run of this process its final status; return their ids."""
        with self._lock:
            ids = list(self._runs.values())
            self._runs.clear()
            self._logged.clear()
        client = MlflowClient()
        for run_id in ids:
            client.set_terminated(run_id, status)
        return ids

    def _log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        with self._lock:
            logged = self._logged.setdefault(run_id, set())
            new = {k: v for k, v in params.items() if k not in logged}
            logged.update(new)
        items = [Param(k, v) for k, v in new.items()]
        client = MlflowClient()
        for start in range(0, len(items), MAX_PARAMS_TAGS_PER_BATCH):
            client.log_batch(run_id, params=items[start:start + MAX_PARAMS_TAGS_PER_BATCH])


# One per process: kedro-mlflow's run is per process too.
STUDY_RUNS = StudyRuns()
