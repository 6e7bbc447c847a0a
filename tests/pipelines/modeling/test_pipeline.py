"""The modeling template end to end for one study namespace, with a scratch MLflow store."""

from __future__ import annotations

import mlflow
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from health_risk.core.scoring import collect_scores
from health_risk.core.studies import parse_registry
from health_risk.datasets import ChampionModelDataset
from health_risk.pipelines.modeling.pipeline import create_pipeline

from .toy_features import (
    CATEGORICAL,
    NUMERIC,
    feature_engineering_params,
    feature_spec,
    ingestion_params,
    modeling_params,
)

# A study of its own: the template is the same for every registered study.
TOY = parse_registry({"studies": {"toy": {"task": "classification"}}})


class KeptDataset(MemoryDataset):
    def _release(self) -> None:  # keep outputs readable after the run
        pass


def _run(spark, features, params, tracking_uri):
    pipeline = create_pipeline(studies=TOY)
    datasets = {name: KeptDataset(copy_mode="assign") for name in pipeline.datasets()
                if not name.startswith("params:")}
    datasets["toy.features"] = MemoryDataset(features, copy_mode="assign")
    datasets["toy.feature_spec"] = MemoryDataset(feature_spec("classification"))
    datasets["params:toy.modeling"] = MemoryDataset(params)
    # What the portable scorer registered with each version freezes.
    datasets["params:toy.ingestion"] = MemoryDataset(ingestion_params())
    datasets["params:toy.feature_engineering"] = MemoryDataset(feature_engineering_params())
    datasets["params:toy.inference"] = MemoryDataset({})
    # What the model card reads from the study's ingestion and feature engineering.
    datasets["toy.validation_report"] = MemoryDataset({"sources": ["toy.csv"], "rows_read": 1200,
                                                       "rows_quarantined": 0})
    datasets["toy.feature_report"] = MemoryDataset({"rows_in": 1200, "rows_out": 1200,
                                                    "rows_excluded": 0})
    catalog = DataCatalog(datasets=datasets)
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(run_name="modeling"):
        SequentialRunner().run(pipeline, catalog)
    return catalog


@pytest.mark.slow
def test_modeling_registers_a_champion_then_keeps_it_against_a_weak_rerun(
    spark, classification_features, tmp_path
):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # Cross-validation has tests of its own (test_nodes.py, the end-to-end insurance run).
    params = modeling_params("classification", candidates_to_run="linear",
                             cross_validation={"enabled": False})
    params["candidates"]["linear"]["n_trials"] = 1
    try:
        catalog = _run(spark, classification_features, params, uri)
        decision = catalog.load("toy.gate_decision")
        assert decision["alias"] == "champion" and decision["version"] == "1"
        client = mlflow.MlflowClient()
        version = client.get_model_version_by_alias("health_risk_toy", "champion")
        assert float(version.tags["threshold"]) == catalog.load("toy.calibration")["threshold"]
        loaded = mlflow.spark.load_model("models:/health_risk_toy@champion")
        assert loaded.transform(classification_features.limit(5)).count() == 5
        # What inference loads: the same version, its threshold and its training profile.
        champion = ChampionModelDataset(model_name="health_risk_toy").load()
        assert champion.version == "1" and champion.threshold == float(version.tags["threshold"])
        assert champion.reference_profile == catalog.load("toy.reference_profile")
        assert {"score", *feature_spec("classification")["numeric_features"]} <= set(
            champion.reference_profile["columns"])
        # The same version served without Spark: its python_function flavour is the portable
        # scorer, and it scores the features' rows as Spark does.
        served = mlflow.pyfunc.load_model("models:/health_risk_toy@champion")
        assert served.metadata.flavors["python_function"]["loader_module"] == (
            "health_risk.core.serving.flavour")
        rows = classification_features.limit(20).toPandas()
        spark_scores = collect_scores(loaded, classification_features.limit(20), "classification",
                                      ["id"])["score"]
        results = served.predict(rows[[*NUMERIC, *CATEGORICAL]])
        assert max(abs(r["score"] - s) for r, s in zip(results, spark_scores, strict=True)) < 1e-6
        assert version.tags["serving"] == "python_function (float64)"

        # The rerun is about the gate.
        weak = modeling_params("classification", candidates_to_run="linear",
                               cross_validation={"enabled": False})
        weak["candidates"]["linear"].update(n_trials=1)
        weak["candidates"]["linear"]["fixed"].update(regParam=1000.0, elasticNetParam=1.0)
        catalog = _run(spark, classification_features, weak, uri)
        decision = catalog.load("toy.gate_decision")
        assert decision["alias"] == "challenger" and not decision["promoted"]
        assert client.get_model_version_by_alias("health_risk_toy", "champion").version == 1
        assert catalog.load("toy.gate_metrics") == {"promoted": {"value": 0.0, "step": 0}}
        assert {"roc_auc", "pr_auc", "brier", "f1"} <= set(catalog.load("toy.test_metrics"))
        card = catalog.load("toy.model_card")
        assert card.startswith("# Model card: health_risk_toy version 2")
        assert "alias `challenger`" in card and "| roc_auc |" in card
        runs = client.search_runs(client.get_experiment_by_name("Default").experiment_id)
        trials = [r for r in runs if r.data.tags.get("kind") == "tuning_trial"]
        assert trials and all(r.data.tags["mlflow.parentRunId"] for r in trials)
    finally:
        mlflow.set_tracking_uri(None)
