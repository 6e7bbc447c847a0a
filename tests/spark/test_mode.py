"""Classic Spark or Spark Connect: what a Connect client sends, and what is refused before a run
over Connect (the real server is exercised by the standalone-cluster test)."""

from __future__ import annotations

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node

from health_risk.framework.hooks.spark import refuse_classic_only_nodes
from health_risk.pipeline_registry import register_pipelines
from health_risk.spark.mode import (
    CLASSIC_SPARK,
    FITS_CANDIDATES,
    ClassicSparkRequired,
    classic_only_components,
    connect_settings,
    is_connect,
    remote_url,
)

from ..pipelines.modeling.toy_features import modeling_params


def test_a_connect_client_sends_runtime_sql_settings_only(monkeypatch):
    conf = {"spark.master": "local[*]", "spark.driver.memory": "4g",
            "spark.sql.shuffle.partitions": 8, "spark.sql.execution.arrow.pyspark.enabled": True,
            "spark.sql.warehouse.dir": "/tmp/w", "health_risk.log_level": "WARN",
            "spark.ui.enabled": None}
    sent, left = connect_settings(conf)
    assert sent == {"spark.sql.shuffle.partitions": "8",
                    "spark.sql.execution.arrow.pyspark.enabled": "true"}
    assert left == ["spark.master", "spark.driver.memory", "spark.sql.warehouse.dir"]
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    assert remote_url(conf) is None
    assert remote_url({"spark.remote": "sc://h:15002"}) == "sc://h:15002"
    monkeypatch.setenv("SPARK_REMOTE", "sc://127.0.0.1:15002")
    assert remote_url({}) == "sc://127.0.0.1:15002"


def test_the_classic_test_session_is_not_connect(spark):
    assert not is_connect(spark) and not is_connect(spark.range(1))


def test_registration_scoring_and_xgboost_fits_are_the_classic_only_nodes():
    nodes = register_pipelines()["__default__"].nodes
    blockers = dict(classic_only_components(nodes, xgboost_studies={"insurance"}))
    for study in ("brfss", "stroke", "insurance"):
        assert "mlflow.spark" in blockers[f"{study}.register_model"]
        assert "mlflow.spark" in blockers[f"{study}.score_batch"]
    for fitting in ("train_candidates", "cross_validate_winner", "measure_synthetic_utility"):
        assert "xgboost" in blockers[f"insurance.{fitting}"]
        assert f"stroke.{fitting}" not in blockers
    ingestion = register_pipelines()["ingestion"].nodes + register_pipelines()[
        "feature_engineering"].nodes
    assert classic_only_components(ingestion, {"brfss", "stroke", "insurance"}) == []


def test_a_run_over_connect_is_refused_before_its_nodes_naming_each(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARK_REMOTE", "sc://127.0.0.1:15002")
    params = modeling_params("regression", candidates_to_run="linear+xgboost")
    params["candidates"]["xgboost"] = {"n_trials": 1, "fixed": {"n_estimators": 5}}
    catalog = DataCatalog(datasets={"params:toy.modeling": MemoryDataset(params)})
    pipeline = Pipeline([node(lambda x: x, "a", "b", name="train_candidates", namespace="toy",
                              tags=[FITS_CANDIDATES]),
                         node(lambda x: x, "b", "c", name="split_dataset", namespace="toy")])
    with pytest.raises(ClassicSparkRequired) as refused:
        refuse_classic_only_nodes(pipeline, catalog)
    message = str(refused.value)
    assert message.startswith("Spark Connect (SPARK_REMOTE=sc://127.0.0.1:15002) cannot run "
                              "toy.train_candidates: the xgboost candidate")
    assert "split_dataset" not in message and "unset SPARK_REMOTE" in message
    linear_only = DataCatalog(datasets={"params:toy.modeling": MemoryDataset(
        {**params, "candidates_to_run": "linear"})})
    refuse_classic_only_nodes(pipeline, linear_only)  # nothing classic-only: no error


def test_the_spark_hook_refuses_before_it_builds_a_connect_session(monkeypatch):
    from health_risk.framework.hooks.spark import SparkHooks

    monkeypatch.setenv("SPARK_REMOTE", "sc://127.0.0.1:1")  # nothing listens: never reached
    pipeline = Pipeline([node(lambda x: x, "a", "b", name="register_model", namespace="toy",
                              tags=[CLASSIC_SPARK])])
    with pytest.raises(ClassicSparkRequired, match="toy.register_model: mlflow.spark"):
        SparkHooks().before_pipeline_run({}, pipeline, DataCatalog())
