"""MLflow datasets for inference: the champion model (read from the MLflow model registry) with
its metadata, and a monitoring run that collects one step per scored batch.

Both talk to whatever tracking and model-registry URIs kedro-mlflow configured for the run
(``conf/*/mlflow.yml``); nothing here names a path or a server. Nothing here writes to the
model registry: ``pipelines/modeling/promotion.py`` is the one place that does.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

# The registered-model version tag that names the run artifact holding the reference profile.
PROFILE_TAG = "reference_profile"
MONITORING_TAG = "health_risk.monitoring"
SEQUENCE_METRIC = "batch_sequence"


@dataclass
class ChampionModel:
    """A registered model version resolved from an alias, loaded once with its metadata."""

    model: Any
    name: str
    version: str
    alias: str
    run_id: str
    tags: dict[str, str] = field(default_factory=dict)
    reference_profile: dict[str, Any] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def threshold(self) -> float | None:
        value = self.tags.get("threshold")
        return None if value in (None, "", "None") else float(value)


class ChampionModelDataset(AbstractDataset):
    """The study's champion: saved by the modeling gate, loaded by inference.

    ``save`` takes the gate's record of this run (``{"model_name", "version", ...}``: which
    version is champion after the gate, promoted or kept); it writes nothing to the model
    registry (the gate sets the alias itself, ``modeling/promotion.py``). The edge gate ->
    inference is what orders scoring after promotion under any runner. ``load`` returns that
    exact version when the gate ran in this run, and otherwise resolves
    ``models:/<model_name>@<alias>`` to one version; the model, its tags (threshold, task,
    features) and its reference profile are loaded together, once per run (every consumer gets
    the same object).
    """

    def __init__(self, model_name: str, alias: str = "champion",
                 metadata: dict[str, Any] | None = None) -> None:
        self._model_name = model_name
        self._alias = alias
        self.metadata = metadata
        self._decided: dict[str, Any] | None = None  # the gate's record, when it ran in this run
        self._loaded: ChampionModel | None = None

    def _resolve(self, client: MlflowClient):
        try:
            return client.get_model_version_by_alias(self._model_name, self._alias)
        except MlflowException as exc:
            raise DatasetError(
                f"No '{self._alias}' version of registered model '{self._model_name}' in the "
                f"MLflow model registry at {mlflow.get_registry_uri()}. Train and promote one "
                "first: kedro run --pipelines ingestion,feature_engineering,modeling") from exc

    def _version(self, client: MlflowClient):
        if self._decided is None:
            return self._resolve(client)
        wanted = self._decided.get("version")
        if wanted is None:
            raise DatasetError(
                f"'{self._model_name}' has no champion: the gate of this run refused version "
                f"{self._decided.get('gate_version')} ({'; '.join(self._decided.get('reasons', []))})"
                " and no earlier version holds the alias; nothing is scored")
        return client.get_model_version(self._model_name, str(wanted))

    def load(self) -> ChampionModel:
        import mlflow.spark

        client = MlflowClient()
        version = self._version(client)
        if self._loaded is not None and self._loaded.version == str(version.version):
            return self._loaded
        tags = dict(version.tags)
        uri = f"models:/{self._model_name}/{version.version}"
        model = mlflow.spark.load_model(uri)
        profile_path = tags.get(PROFILE_TAG)
        if not profile_path:
            raise DatasetError(f"{uri} has no '{PROFILE_TAG}' tag: it was registered before "
                               "reference profiles existed; retrain to register a new version")
        with tempfile.TemporaryDirectory() as folder:
            local = mlflow.artifacts.download_artifacts(run_id=version.run_id,
                                                        artifact_path=profile_path,
                                                        dst_path=folder)
            profile = json.loads(Path(local).read_text())
        self._loaded = ChampionModel(model=model, name=self._model_name,
                                     version=str(version.version), alias=self._alias,
                                     run_id=version.run_id, tags=tags, reference_profile=profile)
        return self._loaded

    def save(self, data: dict[str, Any]) -> None:
        if data.get("model_name") != self._model_name:
            raise DatasetError(f"gate record for '{data.get('model_name')}' saved into the "
                               f"champion of '{self._model_name}'")
        self._decided, self._loaded = dict(data), None

    def _exists(self) -> bool:
        return self._decided is not None

    def _describe(self) -> dict[str, Any]:
        return {"model_name": self._model_name, "alias": self._alias}


class MonitoringMetricsDataset(AbstractDataset):
    """Append ``{metric: value}`` as the next step of a long-lived monitoring run.

    Each ``kedro run`` is its own MLflow run, so metrics logged there cannot form a series
    across batches. This dataset finds (or creates) one run per ``run_name`` in
    ``experiment_name``, tagged ``health_risk.monitoring``, and logs every save at step
    ``n`` = the number of batches already logged: successive batches form one time series per
    metric in the MLflow UI. ``load`` returns that history as a table.
    """

    def __init__(self, experiment_name: str, run_name: str,
                 metadata: dict[str, Any] | None = None) -> None:
        self._experiment_name = experiment_name
        self._run_name = run_name
        self.metadata = metadata

    def _run_id(self, client: MlflowClient, create: bool) -> str | None:
        experiment = client.get_experiment_by_name(self._experiment_name)
        if experiment is None:
            if not create:
                return None
            experiment_id = client.create_experiment(self._experiment_name)
        else:
            experiment_id = experiment.experiment_id
        runs = client.search_runs(
            [experiment_id], filter_string=f"tags.`{MONITORING_TAG}` = '{self._run_name}'",
            max_results=1, order_by=["attributes.start_time ASC"])
        if runs:
            return runs[0].info.run_id
        if not create:
            return None
        run = client.create_run(experiment_id, run_name=f"monitoring-{self._run_name}",
                                tags={MONITORING_TAG: self._run_name})
        return run.info.run_id

    def save(self, data: dict[str, float]) -> None:
        from mlflow.entities import Metric

        if not data:  # nothing was scored: no batch, no step of the series
            return
        client = MlflowClient()
        run_id = self._run_id(client, create=True)
        step = len(client.get_metric_history(run_id, SEQUENCE_METRIC))
        timestamp = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
        values = {SEQUENCE_METRIC: float(step), **{k: float(v) for k, v in data.items()}}
        metrics = [Metric(key, value, timestamp, step) for key, value in values.items()]
        for start in range(0, len(metrics), 1000):  # MLflow's batch limit
            client.log_batch(run_id, metrics=metrics[start:start + 1000])

    def load(self) -> pd.DataFrame:
        """One row per (step, metric) logged so far, oldest first."""
        client = MlflowClient()
        run_id = self._run_id(client, create=False)
        if run_id is None:
            return pd.DataFrame(columns=["step", "metric", "value", "timestamp"])
        keys = client.get_run(run_id).data.metrics
        rows = [{"step": m.step, "metric": key, "value": m.value, "timestamp": m.timestamp}
                for key in keys for m in client.get_metric_history(run_id, key)]
        return pd.DataFrame(rows).sort_values(["step", "metric"], ignore_index=True)

    def _describe(self) -> dict[str, Any]:
        return {"experiment_name": self._experiment_name, "run_name": self._run_name}


__all__ = ["ChampionModel", "ChampionModelDataset", "MonitoringMetricsDataset"]
