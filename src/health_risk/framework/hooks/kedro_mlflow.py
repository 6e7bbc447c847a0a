"""kedro-mlflow's hook, logging each parameter value once per run."""

from __future__ import annotations

import threading
from typing import Any

from kedro_mlflow.framework.hooks import MlflowHook


class KedroMlflowHook(MlflowHook):
    """kedro-mlflow's ``MlflowHook``, except that a parameter already logged to the run with the
    same value is not logged again.

    kedro-mlflow logs every ``params:`` input of every node, one ``mlflow.log_param`` (a new
    ``MlflowClient``, a Spark-session lookup for the registry URI, a store write) per flattened
    key, so a study's block read by ten nodes is written ten times. In the end-to-end test's run
    that was 26 s of 241 s of the main thread (py-spy, 2026-12-06). MLflow accepts a repeated
    identical value and refuses a changed one, so skipping repeats changes nothing that is
    stored; a changed value still reaches MLflow, which refuses it as before.
    """

    def __init__(self) -> None:
        super().__init__()
        self._logged: set[tuple[str | None, str, str]] = set()
        self._logged_lock = threading.Lock()  # nodes of a ThreadRunner log side by side

    def _log_param(self, name: str, value: Any) -> None:
        key = (self.run_id, name, str(value))
        with self._logged_lock:
            if key in self._logged:
                return None
            self._logged.add(key)
        return super()._log_param(name, value)
