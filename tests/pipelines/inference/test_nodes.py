"""Inference nodes on the stroke study: committed configuration, the default-size generated
sample, a synthesizer fitted by the synthetic-data nodes and a small champion model."""

from __future__ import annotations

import copy

import pytest
from pyspark.ml import Pipeline
from pyspark.ml.classification import LogisticRegression
from pyspark.sql import functions as F

from health_risk.core.columns import FEATURES, LABEL
from health_risk.core.errors import DataQualityError
from health_risk.core.estimators import preprocessing_stages
from health_risk.datasets.mlflow_models import ChampionModel
from health_risk.pipelines.inference.nodes import (
    RISK_TIER,
    build_batch_features,
    extract_batch_quarantine,
    measure_drift,
    score_batch,
    select_batch,
    summarise_batch,
    tier_edges,
    validate_batch,
)
from health_risk.pipelines.modeling.nodes import build_model_input, build_reference_profile
from health_risk.pipelines.synthetic_data.nodes import (
    fit_synthesizer,
    sample_synthetic_batch,
    select_synthesizer_rows,
)


@pytest.fixture(scope="module")
def champion(stroke_tables):
    fe = stroke_tables.params["feature_engineering"]
    spec = {"task": "classification", "numeric_features": fe["numeric_features"],
            "categorical_features": fe["categorical_features"]}
    modeling = {**stroke_tables.params["modeling"], "class_weighting": "none"}
    model_input = build_model_input(stroke_tables.features, spec, modeling).localCheckpoint()
    stages = [*preprocessing_stages(spec["numeric_features"], spec["categorical_features"],
                                    True),
              LogisticRegression(featuresCol=FEATURES, labelCol=LABEL, maxIter=20)]
    model = Pipeline(stages=stages).fit(model_input.filter(F.col("split") == "train"))
    profile = build_reference_profile(model, model_input, spec, modeling)
    return ChampionModel(model=model, name="health_risk_stroke", version="3", alias="champion",
                         run_id="test-run", tags={"threshold": "0.1", "task": "classification"},
                         reference_profile=profile)


@pytest.fixture(scope="module")
def synthesizer(stroke_tables):
    blocks = _blocks(stroke_tables)
    training, _ = select_synthesizer_rows(stroke_tables.primary, stroke_tables.features,
                                          *blocks)
    return fit_synthesizer(training, *blocks)


def _blocks(tables, shift: bool = False):
    params = copy.deepcopy(tables.params)
    params["synthetic_data"]["shift"]["enabled"] = shift
    return params["synthetic_data"], params["ingestion"], params["feature_engineering"]


def _batch(spark, tables, synthesizer, shift=False, edit=None):
    frame = sample_synthetic_batch(synthesizer, *_blocks(tables, shift))
    if edit is not None:
        frame = edit(frame)
    frame = frame.astype(object).where(frame.notna(), None)
    return spark.createDataFrame(frame).withColumn("batch_created_at",
                                                   F.to_timestamp("batch_created_at"))


def _score(tables, champion, batches, written_quarantine=None, **inference):
    """The inference nodes in pipeline order; ``written_quarantine(quarantine)`` stands in for
    what the catalog wrote (default: exactly the extracted rows)."""
    params = {**tables.params["inference"], **inference}
    ingestion, fe = tables.params["ingestion"], tables.params["feature_engineering"]
    batch, info = select_batch(batches, params)
    flagged, audit = validate_batch(batch, ingestion, fe, params)
    quarantine = extract_batch_quarantine(flagged, info, ingestion, fe)
    features = build_batch_features(flagged, fe)
    predictions = score_batch(features, champion, info, fe, params).localCheckpoint()
    written = quarantine if written_quarantine is None else written_quarantine(quarantine)
    report, metrics = summarise_batch(flagged, predictions, written, champion, info, audit,
                                      params)
    drift, drift_metrics, monitoring = measure_drift(features, predictions, champion, info,
                                                     report, params)
    return {"predictions": predictions, "quarantine": quarantine, "report": report,
            "metrics": metrics, "drift": drift, "drift_metrics": drift_metrics,
            "monitoring": monitoring}


def test_unshifted_batch_is_scored_in_full_and_nothing_drifts(spark, stroke_tables, champion,
                                                              synthesizer):
    out = _score(stroke_tables, champion, _batch(spark, stroke_tables, synthesizer))
    report, predictions = out["report"], out["predictions"]
    assert report["rows_in"] == report["rows_scored"] == 1000
    assert report["rows_quarantined"] == 0 and out["quarantine"].count() == 0
    assert out["drift"]["drifted_features"] == []
    assert not out["drift"]["score"]["drifted"]
    row = predictions.first()
    assert (row["model_name"], row["model_version"]) == ("health_risk_stroke", "3")
    assert row["predicted_label"] == float(row["score"] >= 0.1)
    assert {r[RISK_TIER] for r in predictions.select(RISK_TIER).distinct().collect()} == \
        {"low", "medium", "high"}
    # The batch carries labels, so performance is measured (its level reflects how much of the
    # label's dependence the copula kept, not the model).
    assert report["labelled_rows"] == 1000 and 0.0 <= report["performance"]["roc_auc"] <= 1.0
    assert out["metrics"]["model_version"] == {"value": 3.0, "step": 0}
    assert "drift.psi.age" in out["monitoring"] and out["monitoring"]["rows_scored"] == 1000


def test_shifted_batch_flags_the_shifted_features(spark, stroke_tables, champion, synthesizer):
    out = _score(stroke_tables, champion,
                 _batch(spark, stroke_tables, synthesizer, shift=True))
    drifted = set(out["drift"]["drifted_features"])
    # age +15 years and a 45 % smoking share (conf/base/studies/stroke/parameters.yml)
    assert {"age", "age_group", "smoking"} <= drifted
    assert not {"sex", "residence", "bmi_category"} & drifted
    assert out["drift"]["features"]["age"]["ks"] > 0.2
    assert out["drift_metrics"]["features_drifted"]["value"] == len(drifted)


def test_unknown_category_and_null_required_value_are_quarantined_not_scored(
        spark, stroke_tables, champion, synthesizer):
    def edit(frame):
        frame.loc[0, "gender"] = "Nonbinary"  # not an allowed code
        frame.loc[1, "age"] = None  # age is required to be non-null
        return frame

    out = _score(stroke_tables, champion, _batch(spark, stroke_tables, synthesizer, edit=edit))
    report = out["report"]
    assert (report["rows_in"], report["rows_scored"], report["rows_quarantined"]) == \
        (1000, 998, 2)
    rules = {(v["rule"], v["column"]) for v in report["violations"]}
    assert rules == {("allowed_values", "gender"), ("not_null", "age")}
    quarantined = {r["_source_row"]: r["first_rule"] for r in out["quarantine"].collect()}
    assert quarantined == {0: "allowed_values", 1: "not_null"}
    scored_ids = {r["id"] for r in out["predictions"].select("id").collect()}
    assert "1" not in scored_ids and "2" not in scored_ids  # sequence ids of rows 0 and 1
    # A quarantine that lost a row on the way to disk stops the summary.
    with pytest.raises(DataQualityError, match="holds 1 rows, but 2 were flagged"):
        _score(stroke_tables, champion, _batch(spark, stroke_tables, synthesizer, edit=edit),
               written_quarantine=lambda quarantine: quarantine.limit(1))


def test_missing_column_is_a_clear_error(spark, stroke_tables, champion, synthesizer):
    batch = _batch(spark, stroke_tables, synthesizer).drop("avg_glucose_level")
    with pytest.raises(DataQualityError, match=r"synthetic://stroke/.*\['avg_glucose_level'\]"):
        _score(stroke_tables, champion, batch)


def test_unlabelled_batch_is_scored_without_performance(spark, stroke_tables, champion,
                                                        synthesizer):
    batch = _batch(spark, stroke_tables, synthesizer).drop("stroke")
    out = _score(stroke_tables, champion, batch)
    assert out["report"]["rows_scored"] == 1000 and out["report"]["performance"] == {}


def test_too_many_bad_rows_refuse_the_batch(spark, stroke_tables, champion, synthesizer):
    def edit(frame):
        frame.loc[:600, "gender"] = "?"
        return frame

    with pytest.raises(DataQualityError, match="not scored"):
        _score(stroke_tables, champion, _batch(spark, stroke_tables, synthesizer, edit=edit))


def test_latest_batch_is_chosen_and_unknown_batch_named(spark, stroke_tables, champion,
                                                        synthesizer):
    first = _batch(spark, stroke_tables, synthesizer)
    second = _batch(spark, stroke_tables, synthesizer)
    both = first.unionByName(second)
    _, info = select_batch(both, stroke_tables.params["inference"])
    assert info["batch_id"] == second.first()["batch_id"] and info["rows"] == 1000
    with pytest.raises(DataQualityError, match="batch 'nope' not found"):
        select_batch(both, {**stroke_tables.params["inference"], "batch_id": "nope"})


def test_risk_tiers_cut_at_reference_quantiles(champion):
    from health_risk.core.risk_tiers import RiskTierConfig

    quantiles = champion.reference_profile["columns"]["score"]["quantiles"]
    edges = tier_edges(RiskTierConfig(edges=[0.5, 0.9], labels=["a", "b", "c"]),
                       champion.reference_profile)
    assert edges == [quantiles["0.5"], quantiles["0.9"]]
    fixed = RiskTierConfig(cut="score", edges=[0.3], labels=["low", "high"])
    assert tier_edges(fixed, champion.reference_profile) == [0.3]
    with pytest.raises(ValueError, match="steps of 0.01"):
        RiskTierConfig(edges=[0.505], labels=["a", "b"])
