"""End to end through KedroSession with ``--env test``: sample raw files in their real formats,
then the default pipeline (ingestion -> feature engineering -> modeling -> synthetic data ->
inference), in a scratch copy of the project so the repository's data/ and MLflow store are
untouched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
STUDIES = ("brfss", "census", "stroke", "insurance")


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(PROJECT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    (root / "src").mkdir()  # the package itself is installed; bootstrap wants the folder
    shutil.copy(PROJECT / "pyproject.toml", root / "pyproject.toml")
    shutil.copy(PROJECT / ".telemetry", root / ".telemetry")
    return root


def _run(root: Path, pipeline: str, monkeypatch) -> None:
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    monkeypatch.chdir(root)
    bootstrap_project(root)
    with KedroSession.create(project_path=root, env="test") as session:
        session.run(pipeline_names=[pipeline])


@pytest.mark.slow
def test_sample_data_then_ingestion_writes_every_layer_and_mlflow_run(
    spark, project_copy, monkeypatch
):
    _run(project_copy, "sample_data", monkeypatch)
    raw = project_copy / "data" / "01_raw"
    assert (raw / "brfss" / "LLCP2023.XPT").read_bytes().startswith(b"HEADER RECORD*******")
    assert (raw / "census" / "est22us.xls").stat().st_size > 0
    assert (raw / "insurance" / "insurance.db").stat().st_size > 0
    header = (raw / "stroke" / "healthcare-dataset-stroke-data.csv").read_text().splitlines()[0]
    assert header.startswith("Full Name,")  # conf/test asks for the personal columns

    _run(project_copy, "__default__", monkeypatch)
    for study in STUDIES:
        intermediate = project_copy / "data" / "02_intermediate" / study
        assert list((intermediate / "validated").glob("*.parquet")), study
        assert (intermediate / "quarantine" / "_SUCCESS").exists(), study
        report = json.loads(
            (project_copy / "data" / "08_reporting" / study / "validation_report.json").read_text()
        )
        assert report["rows_read"] == report["rows_passed"] + report["rows_quarantined"]
    stroke = spark.read.parquet(str(project_copy / "data/02_intermediate/stroke/validated"))
    assert stroke.count() == 1500
    assert not {"full_name", "phone_number", "address", "admission_date"} & set(stroke.columns)
    assert spark.read.parquet(
        str(project_copy / "data/02_intermediate/brfss/validated")).count() == 3000

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project_copy / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("health_risk")
    runs = client.search_runs([experiment.experiment_id])
    top = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.run_name for r in top] == ["__default__"]  # sample_data is not tracked
    run = top[0]
    metrics = run.data.metrics
    assert metrics["brfss.ingestion.rows_read"] == 3000
    assert metrics["insurance.ingestion.rows_quarantined"] == 1  # the duplicate record
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id, "ingestion/stroke")]
    assert artifacts == ["ingestion/stroke/validation_report.json"]
    # Personal identifiers never reach MLflow.
    logged = json.dumps(run.data.params) + json.dumps(run.data.tags)
    assert "Phone" not in logged and "555-01" not in logged

    # Modeling: every study has test metrics, artifacts and a champion in the registry.
    for study, metric in (("brfss", "roc_auc"), ("stroke", "roc_auc"), ("insurance", "r2")):
        assert f"{study}.test.{metric}" in metrics, study
        version = client.get_model_version_by_alias(f"health_risk_{study}", "champion")
        assert version.tags["study"] == study
        modeling = {a.path for a in client.list_artifacts(run.info.run_id, f"modeling/{study}")}
        assert {f"modeling/{study}/subgroup_metrics.csv", f"modeling/{study}/shap_plot.png",
                f"modeling/{study}/gate_decision.json"} <= modeling, study
    assert (project_copy / "data" / "08_reporting" / "brfss" / "feature_ranking.csv").exists()

    # Synthetic batches scored by the champion: every row scored or quarantined, reports and
    # metrics on the run, one monitoring run per study.
    reporting = project_copy / "data" / "08_reporting"
    monitoring = client.get_experiment_by_name("health_risk_monitoring")
    monitored = {r.data.tags["health_risk.monitoring"]
                 for r in client.search_runs([monitoring.experiment_id])}
    assert monitored == {"brfss", "stroke", "insurance"}
    for study in ("brfss", "stroke", "insurance"):
        synthetic = json.loads((reporting / study / "synthetic_report.json").read_text())
        assert synthetic["accepted"] and synthetic["privacy"]["exact_copies"] == 0
        inference = json.loads((reporting / study / "inference_report.json").read_text())
        assert inference["batch_id"] == synthetic["batch_id"]
        assert inference["rows_in"] == synthetic["rows"] == \
            inference["rows_scored"] + inference["rows_quarantined"]
        champion = client.get_model_version_by_alias(f"health_risk_{study}", "champion")
        assert inference["model"]["version"] == str(champion.version)
        assert metrics[f"{study}.inference.model_version"] == float(champion.version)
        assert f"{study}.drift.features_drifted" in metrics
        drift = json.loads((reporting / study / "drift_report.json").read_text())
        assert drift["features"] and "psi" in drift["score"]
        predictions = spark.read.parquet(
            str(project_copy / "data" / "07_model_output" / study / "predictions"))
        assert predictions.filter(predictions.batch_id == synthetic["batch_id"]).count() == \
            inference["rows_scored"]
