"""MLflow datasets: the champion resolved from an alias, and the monitoring time series."""

from __future__ import annotations

import mlflow
import pytest
from kedro.io import DatasetError

from health_risk.datasets import ChampionModelDataset, MonitoringMetricsDataset


@pytest.fixture
def tracking(tmp_path):
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    yield
    mlflow.set_tracking_uri(previous)


def test_monitoring_metrics_append_one_step_per_batch(tracking):
    dataset = MonitoringMetricsDataset(experiment_name="monitoring", run_name="stroke")
    assert dataset.load().empty
    dataset.save({"drift.psi.age": 0.01, "rows_scored": 1000})
    dataset.save({"drift.psi.age": 0.35, "rows_scored": 990})
    history = dataset.load()
    age = history[history.metric == "drift.psi.age"]
    assert age.step.tolist() == [0, 1] and age.value.tolist() == [0.01, 0.35]
    # one run per study, found again rather than duplicated
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("monitoring")
    assert len(client.search_runs([experiment.experiment_id])) == 1
    MonitoringMetricsDataset(experiment_name="monitoring", run_name="brfss").save({"x": 1.0})
    assert len(client.search_runs([experiment.experiment_id])) == 2


def test_champion_without_a_registered_model_names_the_fix(tracking):
    with pytest.raises(DatasetError, match="No 'champion' version of registered model "
                                           "'health_risk_nothing'.*kedro run"):
        ChampionModelDataset(model_name="health_risk_nothing").load()
    # The gate's record of another model is refused; a gate that left no champion says why.
    with pytest.raises(DatasetError, match="gate record for 'y'"):
        ChampionModelDataset(model_name="x").save({"model_name": "y", "version": "1"})
    refused = ChampionModelDataset(model_name="health_risk_nothing")
    refused.save({"model_name": "health_risk_nothing", "version": None, "gate_version": "1",
                  "reasons": ["validation roc_auc 0.5 fails threshold >= 0.65"]})
    assert refused.exists()
    with pytest.raises(DatasetError, match="no champion: the gate of this run refused version "
                                           "1 .validation roc_auc 0.5 fails"):
        refused.load()
