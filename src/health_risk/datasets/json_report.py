"""A JSON report (or metrics table) on disk that is also logged to the active MLflow run.

kedro-mlflow's metric datasets write to MLflow only and cannot be read back outside the run that
logged them, so a report that wants to show a study's metrics could not consume them. This
dataset keeps the figures as a JSON file (readable by any later run: the study's report section
lists them) and logs them to the run being tracked: as an artifact (``artifact_path``) and/or as
metrics (``metrics_prefix``), either every entry of a ``{name: {"value", "step"}}`` metrics
table or the named top-level numbers of a report (``metric_keys``).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import mlflow
from kedro.io import AbstractDataset
from kedro_datasets.json import JSONDataset


class JsonReportDataset(AbstractDataset):
    def __init__(self, filepath: str, artifact_path: str | None = None,
                 metrics_prefix: str | None = None, metric_keys: list[str] | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        self._json = JSONDataset(filepath=filepath)
        self._filepath = filepath
        self._artifact_path = artifact_path
        self._prefix = metrics_prefix
        self._keys = metric_keys
        self.metadata = metadata

    def _metrics(self, data: dict[str, Any]) -> dict[str, tuple[float, int]]:
        if self._keys is None:  # a metrics table: {name: {"value", "step"}}
            items = {k: (v["value"], int(v.get("step", 0))) for k, v in data.items()}
        else:  # named numbers of a report
            items = {k: (data[k], 0) for k in self._keys if k in data}
        return {f"{self._prefix}.{k}": (float(v), step) for k, (v, step) in items.items()
                if isinstance(v, (int, float)) and not math.isnan(float(v))}

    def save(self, data: dict[str, Any]) -> None:
        self._json.save(data)
        run = mlflow.active_run()
        if run is None:
            return
        if self._artifact_path:
            with tempfile.TemporaryDirectory() as folder:
                local = Path(folder) / Path(self._filepath).name
                JSONDataset(filepath=str(local)).save(data)
                mlflow.log_artifact(str(local), self._artifact_path)
        if self._prefix:
            from mlflow.entities import Metric

            now = mlflow.utils.time.get_current_time_millis()
            metrics = [Metric(key, value, now, step)
                       for key, (value, step) in self._metrics(data).items()]
            client = mlflow.MlflowClient()
            for start in range(0, len(metrics), 1000):  # MLflow's batch limit
                client.log_batch(run.info.run_id, metrics=metrics[start:start + 1000])

    def load(self) -> dict[str, Any]:
        return self._json.load()

    def _exists(self) -> bool:
        return self._json.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "artifact_path": self._artifact_path,
                "metrics_prefix": self._prefix, "metric_keys": self._keys}
