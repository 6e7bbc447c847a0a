"""Synthetic-data nodes on the stroke study (committed configuration, generated sample)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F
from scipy import stats

from health_risk.core.columns import BATCH_CREATED_AT, BATCH_ID
from health_risk.core.contract.config import ColumnRule
from health_risk.pipelines.modeling.nodes import build_model_input
from health_risk.pipelines.synthetic_data.conditional import StratifiedSynthesizer
from health_risk.pipelines.synthetic_data.config import ShiftConfig
from health_risk.pipelines.synthetic_data.marginals import EmpiricalMarginal
from health_risk.pipelines.synthetic_data.nodes import (
    assess_synthetic_batch,
    count_real_copies,
    fit_synthesizer,
    measure_synthetic_utility,
    publish_synthetic_batch,
    report_synthetic_batch,
    sample_synthetic_batch,
    sample_utility_rows,
    select_synthesizer_rows,
)
from health_risk.pipelines.synthetic_data.schema import SyntheticDataError, batch_schema
from health_risk.pipelines.synthetic_data.shift import apply_shift

NO_UTILITY = {"performed": False, "reason": "not measured in this test"}


def _blocks(tables, **synthetic):
    params = copy.deepcopy(tables.params)
    params["synthetic_data"].update(fit_rows=1500, batch_rows=400, **synthetic)
    return params["synthetic_data"], params["ingestion"], params["feature_engineering"]


@pytest.fixture(scope="module")
def fitted(stroke_tables):
    blocks = _blocks(stroke_tables)
    training, holdout = select_synthesizer_rows(stroke_tables.primary, stroke_tables.features,
                                                *blocks)
    return blocks, training, holdout, fit_synthesizer(training, *blocks)


def test_schema_refuses_synthesising_an_identifier(stroke_tables):
    sd, ingestion, fe = _blocks(stroke_tables, sequence_columns=[])
    with pytest.raises(SyntheticDataError, match="id column 'id'.*sequence_columns"):
        batch_schema(sd, ingestion, fe)


def test_schema_names_unknown_columns_and_invalid_shift_codes(stroke_tables):
    sd, ingestion, fe = _blocks(stroke_tables, exclude_columns=["glucose"])
    with pytest.raises(SyntheticDataError, match=r"exclude_columns: \['glucose'\]"):
        batch_schema(sd, ingestion, fe)
    sd, ingestion, fe = _blocks(stroke_tables)
    sd["shift"]["categorical"] = {"smoking_status": {"value": "vapes", "share": 0.5}}
    with pytest.raises(SyntheticDataError, match="'vapes' is not an allowed code"):
        batch_schema(sd, ingestion, fe)


def test_training_rows_are_bounded_typed_and_carry_no_identifier(fitted):
    (sd, _, _), training, holdout, _ = fitted
    assert len(training) == 1500 and len(holdout) == sd["privacy"]["dcr_rows"]
    assert "id" not in training.columns  # identifiers are never learnt
    assert str(training["hypertension"].dtype) == "Int64"


def test_numeric_shift_is_clipped_to_range_and_snapped_to_codes():
    rules = {"age": ColumnRule(type="double", range=(0, 120)),
             "band": ColumnRule(type="int", allowed=[1, 2, 3, 5])}
    frame = pd.DataFrame({"age": [30.0, 110.0, None], "band": [1, 3, 5]})
    shift = ShiftConfig(enabled=True, numeric={"age": {"add": 15}, "band": {"add": 1.2}})
    shifted = apply_shift(frame, shift, rules, np.random.default_rng(0))
    assert shifted["age"].tolist()[:2] == [45.0, 120.0] and pd.isna(shifted["age"][2])
    assert shifted["band"].tolist() == [2.0, 5.0, 5.0]
    assert apply_shift(frame, ShiftConfig(), rules, np.random.default_rng(0)) is frame


def test_categorical_shift_raises_the_share_of_a_value():
    rules = {"smoker": ColumnRule(type="string", allowed=["yes", "no"])}
    frame = pd.DataFrame({"smoker": ["no"] * 90 + ["yes"] * 10})
    shift = ShiftConfig(enabled=True, categorical={"smoker": {"value": "yes", "share": 0.5}})
    shifted = apply_shift(frame, shift, rules, np.random.default_rng(0))
    assert (shifted["smoker"] == "yes").sum() == 50


def test_empirical_marginal_keeps_a_two_humped_shape():
    rng = np.random.default_rng(3)
    values = pd.Series(np.concatenate([rng.normal(90, 10, 3000), rng.normal(210, 20, 700)]))
    marginal = EmpiricalMarginal.fit(values, integer=False)
    scores = marginal.to_normal(values)
    assert abs(scores.mean()) < 0.01 and abs(scores.std() - 1) < 0.02
    back = marginal.from_normal(pd.Series(rng.standard_normal(3000)))
    assert stats.ks_2samp(values, back).statistic < 0.05


def test_batch_has_the_validated_schema_fresh_ids_lineage_and_batch_columns(fitted):
    blocks, _, _, synthesizer = fitted
    batch = sample_synthetic_batch(synthesizer, *blocks)
    _, schema = batch_schema(*blocks)
    assert list(batch.columns) == [*schema.columns, "_source_file", "_source_row", BATCH_ID,
                                   BATCH_CREATED_AT]
    assert len(batch) == 400 and batch["id"].tolist() == list(range(1, 401))
    assert batch["_source_file"].iloc[0] == f"synthetic://stroke/{batch[BATCH_ID].iloc[0]}"
    assert batch[BATCH_ID].nunique() == 1 and batch[BATCH_ID].iloc[0].startswith("stroke-")
    assert set(batch["gender"].dropna()) <= {"Male", "Female", "Other"}
    assert batch["age"].between(0, 120).all()
    again = sample_synthetic_batch(synthesizer, *blocks)
    pd.testing.assert_frame_equal(batch[schema.columns], again[schema.columns])  # seeded


def test_assessment_reports_quality_and_distance_to_closest_record(fitted):
    blocks, training, holdout, synthesizer = fitted
    batch = sample_synthetic_batch(synthesizer, *blocks)
    assessment = assess_synthetic_batch(synthesizer, training, holdout, batch, *blocks)
    quality = assessment["quality"]
    assert 0.6 < quality["score"] <= 1.0
    assert set(quality["properties"]) == {"Column Shapes", "Column Pair Trends"}
    dcr = assessment["distance_to_closest_record"]
    assert dcr["computed"] and 0.0 <= dcr["closer_to_training_share"] <= 1.0
    assert dcr["median_dcr_synthetic_to_training"] > 0.0


def test_copies_of_rare_real_records_refuse_the_batch(spark, stroke_tables, fitted):
    """Stroke rows are near-unique (age, glucose, BMI): a copied row is a rare record."""
    blocks, training, holdout, synthesizer = fitted
    batch = sample_synthetic_batch(synthesizer, *blocks)
    _, schema = batch_schema(*blocks)
    real = stroke_tables.primary.select(*schema.synthesised).limit(3).toPandas()
    planted = batch.copy()
    for column in schema.synthesised:  # rows 0..2 become copies of three real people
        planted[column] = planted[column].astype(object)
        planted.loc[:2, column] = real[column].astype(object).to_numpy()
    planted = schema.typed(planted)
    candidate = spark.createDataFrame(planted.astype(object).where(planted.notna(), None))
    assert count_real_copies(candidate, stroke_tables.primary, schema.synthesised, 5) == {
        "exact_copies": 3, "rare_record_copies": 3}
    assessment = assess_synthetic_batch(synthesizer, training, holdout, planted, *blocks)
    report, published = publish_synthetic_batch(candidate, stroke_tables.primary, assessment,
                                                *blocks)
    assert not report["accepted"] and report["published_rows"] == 0
    assert report["decision"].startswith("refused: 3 rows copy a rare real record")
    assert published.count() == 0


def test_a_clean_batch_is_published_with_report_and_metrics(spark, stroke_tables, fitted):
    blocks, training, holdout, synthesizer = fitted
    batch = sample_synthetic_batch(synthesizer, *blocks)
    candidate = spark.createDataFrame(batch.astype(object).where(batch.notna(), None))
    assessment = assess_synthetic_batch(synthesizer, training, holdout, batch, *blocks)
    batch_report, published = publish_synthetic_batch(candidate, stroke_tables.primary,
                                                      assessment, *blocks)
    report, metrics = report_synthetic_batch(batch_report, NO_UTILITY)
    assert report["utility"] == NO_UTILITY and "tstr_roc_auc" not in metrics
    measured = {"performed": True, "tstr": {"roc_auc": 0.8}, "trtr": {"roc_auc": 0.82},
                "gap": {"roc_auc": -0.02}}
    _, with_utility = report_synthetic_batch(batch_report, measured)
    assert with_utility["tstr_roc_auc"] == {"value": 0.8, "step": 0}
    assert with_utility["utility_gap_roc_auc"] == {"value": -0.02, "step": 0}
    assert report["accepted"] and report["privacy"]["exact_copies"] == 0
    assert report["privacy"]["rare_record_copies"] == 0 and report["published_rows"] == 400
    assert report["privacy"]["compared_with_rows"] == stroke_tables.primary.count()
    assert metrics["exact_copies"] == {"value": 0.0, "step": 0}
    assert published.count() == 400
    assert dict(published.dtypes)[BATCH_CREATED_AT] == "timestamp"
    assert published.filter(F.col(BATCH_ID) != batch[BATCH_ID].iloc[0]).count() == 0


def test_the_default_synthesizer_keeps_the_outcome_and_its_dependence(fitted):
    """One copula per outcome value: the batch keeps the stroke prevalence of the training
    rows, and strokes stay concentrated in older people."""
    blocks, training, _, synthesizer = fitted
    assert isinstance(synthesizer, StratifiedSynthesizer)
    assert [s.label for s in synthesizer.strata] == ["stroke=0", "stroke=1"]
    batch = sample_synthetic_batch(synthesizer, *blocks)
    real_share = training["stroke"].astype(float).mean()
    assert abs(batch["stroke"].astype(float).mean() - real_share) < 1.5 / len(batch) + 1e-9
    gap = lambda t: (t[t.stroke == 1].age.astype(float).mean()
                     - t[t.stroke == 0].age.astype(float).mean())
    assert gap(batch) > 0.7 * gap(training)


def test_train_on_synthetic_scores_real_rows_close_to_train_on_real(spark, stroke_tables,
                                                                     fitted):
    """TSTR against TRTR with a logistic regression as the 'winning' configuration: both are
    scored on the real test split, and the synthetic rows keep most of the signal."""
    blocks, training, _, synthesizer = fitted
    params = stroke_tables.params
    fe = params["feature_engineering"]
    spec = {"task": "classification", "numeric_features": fe["numeric_features"],
            "categorical_features": fe["categorical_features"]}
    model_input = build_model_input(stroke_tables.features, spec,
                                    params["modeling"]).localCheckpoint()
    rows = sample_utility_rows(synthesizer, training, *blocks)
    assert len(rows) == len(training) and rows["id"].tolist()[:3] == [1, 2, 3]
    synthetic = spark.createDataFrame(rows.astype(object).where(rows.notna(), None))
    winner = {"candidate": "linear", "params": {"regParam": 0.01, "elasticNetParam": 0.0}}
    sd_params, _, fe_params = blocks
    report = measure_synthetic_utility(synthetic, model_input, spec, winner,
                                       params["modeling"], sd_params, fe_params)
    assert report["performed"] and report["synthetic_rows"] <= len(training)
    assert report["real_train_rows"] == report["synthetic_rows"]
    assert report["tstr"]["roc_auc"] - report["trtr"]["roc_auc"] == pytest.approx(
        report["gap"]["roc_auc"])
    assert report["trtr"]["roc_auc"] > 0.75
    assert report["tstr"]["roc_auc"] > report["trtr"]["roc_auc"] - 0.08
    assert set(report["targets"]) == {"roc_auc"}
    off, _, _ = _blocks(stroke_tables, utility={"enabled": False})
    disabled = measure_synthetic_utility(synthetic, model_input, spec, winner,
                                         params["modeling"], off, fe_params)
    assert disabled == {"performed": False, "reason": "utility.enabled is false"}
