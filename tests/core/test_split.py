"""The study's one split (``core.split``), assigned once by feature engineering and read, row
for row, by every consumer: feature selection's sample, modeling's model input, the
cross-validation folds, the synthetic-data utility check's real rows and the synthesizer's
training rows and privacy holdout."""

from __future__ import annotations

import copy
from collections import Counter

import pandas as pd
import pytest
from pyspark.sql import functions as F

from health_risk.core.columns import ID, LABEL, SPLIT
from health_risk.core.features.config import FeatureEngineeringConfig
from health_risk.core.features.table import build_feature_table
from health_risk.core.split import assign_split, train_fraction_expr
from health_risk.core.studies import BLOCKS, PIPELINES
from health_risk.pipelines.feature_engineering.selection import training_sample
from health_risk.pipelines.modeling.cross_validation import FOLD, cv_rows, with_folds
from health_risk.pipelines.modeling.nodes import build_model_input
from health_risk.pipelines.synthetic_data.nodes import select_synthesizer_rows
from health_risk.pipelines.synthetic_data.schema import batch_schema
from health_risk.pipelines.synthetic_data.utility import real_rows

from ..committed_config import committed_registry
from ..pipelines.study_tables import build_study_tables


def test_split_rule_is_the_documented_sql_expression(spark):
    ids = spark.range(2000).select(F.col("id").cast("string").alias("id"))
    ours = ids.select("id", train_fraction_expr("id", 42).alias("u"))
    sql = ids.selectExpr("id", "pmod(xxhash64(cast(id as string), 42), 1000000) / 1e6 AS u")
    assert ours.orderBy("id").collect() == sql.orderBy("id").collect()
    assert 0.55 < ours.filter("u < 0.6").count() / 2000 < 0.65
    other = ids.select("id", train_fraction_expr("id", 7).alias("u"))
    assert {r["id"] for r in ours.filter("u < 0.6").collect()} != {
        r["id"] for r in other.filter("u < 0.6").collect()}


def _ids(df) -> set[str]:
    return {r[ID] for r in df.select(ID).collect()}


def _rows(frame: pd.DataFrame) -> Counter:
    """A multiset of rows, comparable whatever the order (the synthesizer's frames have no id:
    identifiers are never synthesised)."""
    return Counter(map(tuple, frame.astype(str).itertuples(index=False)))


@pytest.fixture(scope="module", params=["stroke", "insurance"])  # stratified / not stratified
def study(request, spark, tmp_path_factory):
    name = request.param
    tables = build_study_tables(spark, name, 400, tmp_path_factory.mktemp(f"split_{name}"))
    fe, split = tables.params["feature_engineering"], tables.params["split"]
    # What modeling assigned before the split moved to feature engineering (its old
    # split_dataset): the rule applied to the feature table, stratified for classification.
    stratify = LABEL if fe["task"] == "classification" else None
    modeled = assign_split(build_feature_table(tables.primary, fe), ID, stratify, split["seed"],
                           split["train"], split["validation"])
    expected = {r[ID]: r[SPLIT] for r in modeled.select(ID, SPLIT).collect()}
    assert len(expected) == modeled.count() > 300
    return tables, expected, stratify


def _part(expected: dict[str, str], *names: str) -> set[str]:
    return {i for i, part in expected.items() if part in names}


def test_every_consumer_reads_the_split_modeling_assigns(study):
    tables, expected, stratify = study
    fe, params = tables.params["feature_engineering"], tables.params
    assert set(expected.values()) == {"train", "validation", "test"}
    # Feature engineering writes it: the feature table's split is modeling's, row for row.
    assert {r[ID]: r[SPLIT] for r in tables.features.collect()} == expected
    # Modeling reads it unchanged.
    spec = {"task": fe["task"], "numeric_features": fe["numeric_features"],
            "categorical_features": fe["categorical_features"]}
    model_input = build_model_input(tables.features, spec, params["modeling"]).cache()
    assert {r[ID]: r[SPLIT] for r in model_input.collect()} == expected
    # Feature selection samples TRAIN rows only (all of them with a large enough sample).
    config = FeatureEngineeringConfig.model_validate(
        {**fe, "selection": {**fe.get("selection", {}), "sample_rows": 10_000}})
    assert set(training_sample(tables.features, config, params["split"]["seed"])[ID]) == \
        _part(expected, "train")
    # Cross-validation folds train + validation, never test.
    folded = with_folds(cv_rows(model_input), 3, 11, stratify)
    assert _ids(folded) == _part(expected, "train", "validation")
    assert {r[FOLD] for r in folded.select(FOLD).distinct().collect()} == {0, 1, 2}
    # The utility check trains on real TRAIN rows and scores the real test split.
    real_train, real_test = real_rows(model_input, 10_000, 3)
    assert _ids(real_train) == _part(expected, "train")
    assert _ids(real_test) == _part(expected, "test")
    bounded, _ = real_rows(model_input, 50, 3)
    assert len(_ids(bounded)) == 50 and _ids(bounded) <= _part(expected, "train")
    model_input.unpersist()


def test_synthesizer_fits_on_train_rows_and_holds_out_only_the_others(study):
    tables, expected, _ = study
    params = copy.deepcopy(tables.params)
    blocks = [params["synthetic_data"], params["ingestion"], params["feature_engineering"]]
    _, schema = batch_schema(*blocks)

    def primary_rows(ids: set[str]) -> Counter:
        rows = tables.primary.filter(F.col(ID).isin(sorted(ids))).select(*schema.synthesised)
        return _rows(schema.typed(rows.toPandas()))

    train, others = _part(expected, "train"), _part(expected, "validation", "test")
    # Large enough limits: every TRAIN row is a training row, every other row a holdout row.
    blocks[0].update(fit_rows=10_000, privacy={**blocks[0]["privacy"], "dcr_rows": 10_000})
    training, holdout = select_synthesizer_rows(tables.primary, tables.features, *blocks)
    assert _rows(training) == primary_rows(train)
    assert _rows(holdout) == primary_rows(others)
    # Bounded samples stay inside their side; a row the feature table leaves out is in neither.
    blocks[0].update(fit_rows=60, privacy={**blocks[0]["privacy"], "dcr_rows": 40})
    left_out = set(sorted(expected)[::5])
    kept = tables.features.filter(~F.col(ID).isin(sorted(left_out)))
    training, holdout = select_synthesizer_rows(tables.primary, kept, *blocks)
    assert len(training) == 60 and len(holdout) == 40
    assert not _rows(training) - primary_rows(train - left_out)
    assert not _rows(holdout) - primary_rows(others - left_out)


def test_only_feature_engineering_reads_the_split_block():
    """The registry's BLOCKS say which pipeline reads ``params:<study>.split``: the one that
    assigns it."""
    import importlib

    registry = committed_registry()
    readers = set()
    for name in PIPELINES:
        module = importlib.import_module(f"health_risk.pipelines.{name}.pipeline")
        pipeline = module.create_pipeline(studies=registry)
        if any(i.startswith("params:") and i.endswith(".split")
               for node in pipeline.nodes for i in node.inputs):
            readers.add(name)
    assert readers == {p for p, blocks in BLOCKS.items() if "split" in blocks} == {
        "feature_engineering"}
