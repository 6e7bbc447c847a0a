"""Unit tests of the feature-engineering config, derivation steps and nodes on small frames."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError
from pyspark.sql import functions as F
from pyspark.sql import types as T

from health_risk.core.errors import DataQualityError, ParameterError
from health_risk.core.features.config import FeatureEngineeringConfig
from health_risk.core.features.derivations import DerivationError, apply_steps
from health_risk.core.features.table import build_feature_table, derive_primary
from health_risk.core.split import assign_split
from health_risk.framework.validation import validate_parameters
from health_risk.pipelines.feature_engineering.nodes import (
    build_feature_report,
    build_feature_table_with_split,
)
from health_risk.pipelines.feature_engineering.selection import rank_features, training_sample

from ...committed_config import committed_params, committed_registry, studies_running

SURVEY_SCHEMA = T.StructType([
    T.StructField("seqno", T.StringType()),
    T.StructField("_state", T.IntegerType()),
    T.StructField("_rfhlth", T.IntegerType()),
    T.StructField("genhlth", T.IntegerType()),
    T.StructField("_llcpwt", T.DoubleType()),
    T.StructField("sexvar", T.IntegerType()),
    T.StructField("_bmi5", T.DoubleType()),
    T.StructField("imonth", T.IntegerType()),
    T.StructField("cvdinfr4", T.IntegerType()),
    T.StructField("asthma3", T.IntegerType()),
])
SURVEY_ROWS = [
    ("a1", 1, 2, 4, 100.0, 2, 17.0, 12, 1, 1),
    ("a2", 1, 1, 1, 200.0, 1, 18.5, 1, 2, None),
    ("a3", 6, None, None, 300.0, 1, 25.0, 6, None, None),  # target unknown -> excluded
    ("a4", 72, 1, 2, 400.0, 2, None, 13, 1, 2),  # territory: not in the census table
    ("a5", 6, 3, 3, 500.0, 2, 31.2, None, 2, 2),  # code outside the mapping -> excluded
]
CENSUS_SCHEMA = T.StructType([
    T.StructField("state_fips", T.IntegerType()),
    T.StructField("postal_code", T.StringType()),
    T.StructField("poverty_pct_all_ages", T.DoubleType()),
    T.StructField("median_household_income", T.DoubleType()),
])
CENSUS_ROWS = [(0, "US", 12.5, 75000.0), (1, "AL", 15.1, 60000.0), (6, "CA", 12.0, 90000.0)]


def survey_params(**overrides) -> dict:
    params = {
        "study": "survey",
        "task": "classification",
        "id_column": ["_state", "seqno"],
        "target": {"column": "_rfhlth", "mapping": {2: 1, 1: 0}},
        "weight_column": "_llcpwt",
        "derivations": [
            {"step": "recode", "input": "sexvar", "output": "sex",
             "mapping": {1: "male", 2: "female"}},
            {"step": "scale", "input": "_bmi5", "output": "bmi"},
            {"step": "bin", "input": "bmi", "output": "bmi_category",
             "edges": [18.5, 25, 30], "labels": ["under", "normal", "over", "obese"]},
            {"step": "count_equal", "inputs": ["cvdinfr4", "asthma3"], "values": [1],
             "output": "conditions", "missing_output": "conditions_unknown"},
            {"step": "season", "input": "imonth", "sin_output": "month_sin",
             "cos_output": "month_cos", "season_output": "season"},
            {"step": "join", "table": "census", "left_on": "_state", "right_on": "state_fips",
             "columns": {"poverty_pct_all_ages": "state_poverty_pct"}},
        ],
        "numeric_features": ["bmi", "conditions", "month_sin", "state_poverty_pct"],
        "categorical_features": ["sex", "bmi_category", "season"],
        "subgroup_columns": ["sex"],
        "leakage_columns": ["genhlth", "_rfhlth"],
    }
    params.update(overrides)
    return params


@pytest.fixture(scope="module")
def survey(spark):
    return spark.createDataFrame(SURVEY_ROWS, SURVEY_SCHEMA)


@pytest.fixture(scope="module")
def census(spark):
    return spark.createDataFrame(CENSUS_ROWS, CENSUS_SCHEMA)


@pytest.fixture(scope="module")
def survey_run(survey, census):
    """The three table nodes run once on the survey frame: (primary rows, features, report)."""
    params = survey_params()
    primary = derive_primary(survey, params, census=census)
    features = build_feature_table(primary, params)
    return _rows(primary), features, build_feature_report(primary, features, params)


def _rows(df, key="seqno"):
    return {r[key]: r.asDict() for r in df.collect()}


def _step(df, **step):
    config = survey_params(derivations=[step], numeric_features=["_bmi5"],
                           categorical_features=[], subgroup_columns=[])
    return apply_steps(df, FeatureEngineeringConfig.model_validate(config).derivations[:1], "t")


# --- target, id, weight -----------------------------------------------------------------------

def test_target_mapping_excludes_unknown_and_unmapped_rows_and_the_report_counts_them(
        survey_run):
    rows, features, report = survey_run
    assert rows["a1"]["label"] == 1.0 and rows["a2"]["label"] == 0.0
    assert rows["a1"]["id"] == "1-a1" and rows["a1"]["survey_weight"] == 100.0
    assert rows["a3"]["excluded_reason"] == "target_missing" and rows["a3"]["label"] is None
    assert rows["a5"]["excluded_reason"] == "target_unmapped"
    assert rows["a1"]["excluded_reason"] is None
    assert sorted(r["id"] for r in features.collect()) == ["1-a1", "1-a2", "72-a4"]
    assert report["rows_in"] == 5 and report["rows_out"] == 3
    assert report["excluded_rows_by_reason"]["target_missing"] == 1
    assert report["excluded_rows_by_reason"]["target_unmapped"] == 1
    assert report["excluded_target_rows"] == 2 and report["accounting_balanced"]
    assert report["label"] == {"positives": 1, "positive_share": pytest.approx(1 / 3, abs=1e-5)}


def test_target_as_is_weight_default_and_id_exclusion(spark):
    schema = T.StructType([T.StructField("row", T.LongType()), T.StructField("x", T.DoubleType()),
                           T.StructField("y", T.DoubleType())])
    df = spark.createDataFrame([(0, 1.0, 5.0), (1, 2.0, None), (None, 3.0, 7.0)], schema)
    params = {"study": "cost", "task": "regression", "id_column": "row",
              "target": {"column": "y"}, "numeric_features": ["x"], "leakage_columns": ["y"]}
    primary = derive_primary(df, params)
    reasons = {r["x"]: (r["excluded_reason"], r["survey_weight"]) for r in primary.collect()}
    assert reasons == {1.0: (None, 1.0), 2.0: ("target_missing", 1.0), 3.0: ("id_missing", 1.0)}
    features = build_feature_table(primary, params)
    assert features.columns == ["id", "label", "survey_weight", "x"]
    assert [(r["id"], r["label"]) for r in features.collect()] == [("0", 5.0)]


# --- derivation steps ---------------------------------------------------------------------------

def test_bin_uses_left_closed_edges_and_keeps_null(survey):
    out = _rows(_step(survey, step="bin", input="_bmi5", output="c", edges=[18.5, 25, 30],
                      labels=["under", "normal", "over", "obese"]))
    assert {k: v["c"] for k, v in out.items()} == {
        "a1": "under", "a2": "normal", "a3": "over", "a4": None, "a5": "obese"}


def test_recode_maps_codes_default_and_keep_unmapped(survey):
    out = _rows(_step(survey, step="recode", columns={"_rfhlth": "r", "_state": "s"},
                      mapping={1: "one", 2: "two", "6": "six"}))
    assert [out[k]["r"] for k in sorted(out)] == ["two", "one", None, "one", None]
    assert [out[k]["s"] for k in sorted(out)] == ["one", "one", "six", None, "six"]
    kept = _rows(_step(survey, step="recode", input="_state", output="s",
                       mapping={1: "AL"}, keep_unmapped=True))
    assert [kept[k]["s"] for k in sorted(kept)] == ["AL", "AL", "6", "72", "6"]
    fallback = _rows(_step(survey, step="recode", input="seqno", output="s",
                           mapping={"a1": "first"}, default="other"))
    assert [fallback[k]["s"] for k in sorted(fallback)] == ["first"] + ["other"] * 4


def test_count_equal_counts_nulls_apart_and_is_null_when_nothing_was_answered(survey):
    out = _rows(_step(survey, step="count_equal", inputs=["cvdinfr4", "asthma3"], values=[1],
                      output="n", missing_output="unknown"))
    assert {k: (v["n"], v["unknown"]) for k, v in out.items()} == {
        "a1": (2.0, 0.0), "a2": (0.0, 1.0), "a3": (None, 2.0), "a4": (1.0, 0.0),
        "a5": (0.0, 0.0)}


def test_indicator_log_scale_and_product(survey):
    df = _step(survey, step="indicator", input="sexvar", output="female", values=[2])
    df = _step(df, step="log", input="_bmi5", output="log_bmi", offset=-18.5)
    df = _step(df, step="scale", input="_bmi5", output="bmi10", factor=10.0, offset=1.0)
    df = _step(df, step="product", inputs=["female", "_bmi5"], output="female_x_bmi")
    out = _rows(df)
    assert [out[k]["female"] for k in sorted(out)] == [1.0, 0.0, 0.0, 1.0, 1.0]
    assert out["a1"]["log_bmi"] is None and out["a2"]["log_bmi"] is None  # <= 0 after offset
    assert out["a3"]["log_bmi"] == pytest.approx(math.log(6.5))
    assert out["a1"]["bmi10"] == pytest.approx(171.0)
    assert out["a1"]["female_x_bmi"] == pytest.approx(17.0) and out["a2"]["female_x_bmi"] == 0
    assert out["a4"]["female_x_bmi"] is None  # a null factor


def test_season_is_cyclic_and_rejects_invalid_months(survey):
    out = _rows(_step(survey, step="season", input="imonth", sin_output="s", cos_output="c",
                      season_output="season"))
    assert out["a1"]["season"] == "winter" and out["a2"]["season"] == "winter"
    assert out["a3"]["season"] == "summer"
    december, january = np.array([out["a1"]["s"], out["a1"]["c"]]), \
        np.array([out["a2"]["s"], out["a2"]["c"]])
    assert np.linalg.norm(december - january) == pytest.approx(2 * math.sin(math.pi / 12))
    assert out["a4"]["s"] is None and out["a4"]["season"] is None  # month 13
    assert out["a5"]["c"] is None


def test_census_join_keeps_unmatched_rows_null_and_the_report_counts_them(survey_run):
    rows, _, report = survey_run
    assert len(rows) == 5  # a left join: nobody added or lost
    assert rows["a1"]["state_poverty_pct"] == 15.1 and rows["a3"]["state_poverty_pct"] == 12.0
    assert rows["a4"]["state_poverty_pct"] is None and rows["a4"]["_matched_census"] is False
    assert report["unmatched_joins"] == [{
        "table": "census", "left_on": "_state", "right_on": "state_fips",
        "rows_unmatched": 1, "unmatched_keys": {"72": 1}}]
    assert report["null_counts"]["state_poverty_pct"] == 1


def test_join_fails_clearly_on_missing_lookup_or_repeated_key(survey, census):
    with pytest.raises(DerivationError, match="reference table 'census'"):
        derive_primary(survey, survey_params())
    with pytest.raises(DerivationError, match="repeats key 'state_fips'"):
        derive_primary(survey, survey_params(), census=census.unionByName(census))


def test_missing_source_or_feature_column_is_named(survey, census):
    bad_step = survey_params(derivations=[{"step": "log", "input": "glucose", "output": "g"}],
                             numeric_features=["g"], categorical_features=[],
                             subgroup_columns=[])
    with pytest.raises(DerivationError, match="derivations\\[0\\] \\(log\\): column 'glucose'"):
        derive_primary(survey, bad_step)
    with pytest.raises(DerivationError, match="'income'"):
        build_feature_table(survey.withColumn("sex", F.lit("f")),
                            survey_params(numeric_features=["_bmi5"],
                                          categorical_features=["sex", "income"]))


# --- leakage -------------------------------------------------------------------------------------

def test_leakage_column_listed_as_feature_stops_with_a_clear_message(survey, census):
    with pytest.raises(ValueError, match="leakage in study 'survey'.*genhlth"):
        derive_primary(survey, survey_params(numeric_features=["bmi", "genhlth"]), census=census)
    derived = survey_params(
        derivations=[{"step": "recode", "input": "genhlth", "output": "health_label",
                      "mapping": {1: "excellent"}}],
        numeric_features=["_bmi5"], categorical_features=["health_label"], subgroup_columns=[])
    with pytest.raises(ValueError, match="health_label \\(derived from genhlth\\)"):
        FeatureEngineeringConfig.model_validate(derived)
    with pytest.raises(ValueError, match="leakage"):  # the target source is always leakage
        build_feature_table(survey, survey_params(numeric_features=["bmi", "_rfhlth"]))


def test_no_leakage_column_in_the_output_table(survey_run):
    _, features, _ = survey_run
    tainted = set(FeatureEngineeringConfig.model_validate(survey_params()).tainted_columns())
    assert tainted == {"genhlth", "_rfhlth"}
    assert not tainted & set(features.columns)
    assert features.columns == ["id", "label", "survey_weight", "sex", "bmi", "conditions",
                                "month_sin", "state_poverty_pct", "bmi_category", "season"]


# --- selection -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def selection_frame(spark):
    features, train = _selection_frame(spark)
    return features.localCheckpoint(eager=True), train


def _selection_frame(spark, n=600, seed=42):
    """A feature table with its split (stratified by label, as feature engineering assigns
    it): `signal` predicts the label on TRAIN rows only; `holdout_copy` equals the label on the
    rows modeling holds out and is noise on TRAIN rows."""
    rng = np.random.default_rng(7)
    labels = [float(rng.integers(0, 2)) for _ in range(n)]
    schema = T.StructType([T.StructField("id", T.StringType()),
                           T.StructField("label", T.DoubleType())])
    split = assign_split(spark.createDataFrame([(str(i), labels[i]) for i in range(n)], schema),
                         "id", "label", seed, 0.6, 0.2)
    by_id = {r["id"]: r["split"] for r in split.collect()}
    train = {i for i, part in by_id.items() if part == "train"}
    rows = []
    for i in range(n):
        label, noise = labels[i], str(int(rng.integers(0, 2)))
        in_train = str(i) in train
        signal = label + rng.normal(0, 0.2) if in_train else rng.normal(0, 1)
        rows.append((str(i), label, 1.0, float(signal),
                     noise if in_train else str(int(label)), by_id[str(i)]))
    schema = T.StructType([*schema.fields,
                           T.StructField("survey_weight", T.DoubleType()),
                           T.StructField("signal", T.DoubleType()),
                           T.StructField("holdout_copy", T.StringType()),
                           T.StructField("split", T.StringType())])
    return spark.createDataFrame(rows, schema), train


SPLIT_PARAMS = {"seed": 42, "train": 0.6, "validation": 0.2}


def _selection_params(**selection):
    return {"study": "sel", "task": "classification", "id_column": "id",
            "target": {"column": "y"}, "numeric_features": ["signal"],
            "categorical_features": ["holdout_copy"], "leakage_columns": ["y"],
            "selection": {"sample_rows": 1000, **selection}}


def test_mutual_information_is_computed_on_training_rows_only(selection_frame):
    features, train = selection_frame
    config = FeatureEngineeringConfig.model_validate(_selection_params(sample_rows=100))
    sample = training_sample(features, config, 42)
    assert len(sample) == 100 and set(sample["id"]) <= train
    assert sample["id"].tolist() == training_sample(features, config, 42)["id"].tolist()
    ranking, _ = rank_features(features, _selection_params(), SPLIT_PARAMS)
    mi = dict(zip(ranking["feature"], ranking["mutual_information"]))
    assert ranking["feature"].tolist()[0] == "signal" and mi["signal"] > 0.3
    # On all rows holdout_copy would be the stronger feature; on TRAIN rows it is noise.
    assert mi["holdout_copy"] < 0.02
    assert ranking.columns.tolist() == ["feature", "kind", "mutual_information", "rank", "kept"]


def test_training_sample_is_the_train_rows_of_the_split_column(selection_frame):
    features, train = selection_frame
    config = FeatureEngineeringConfig.model_validate(_selection_params())
    sample = training_sample(features, config, 42)
    assert set(sample["id"]) == train  # sample_rows (1000) exceeds the TRAIN rows: all of them
    with pytest.raises(DataQualityError, match="sel: the features table has no 'split'"):
        training_sample(features.drop("split"), config, 42)


def test_the_feature_table_gets_the_stratified_split_once(survey, census):
    params = survey_params()
    primary = derive_primary(survey, params, census=census)
    features = build_feature_table_with_split(primary, params, SPLIT_PARAMS)
    assert features.columns == [*build_feature_table(primary, params).columns, "split"]
    expected = assign_split(build_feature_table(primary, params), "id", "label", 42, 0.6, 0.2)
    assert sorted(map(tuple, features.select("id", "split").collect())) == sorted(
        map(tuple, expected.select("id", "split").collect()))
    report = build_feature_report(primary, features, params)
    assert "split" not in report["null_counts"]


def test_pruning_off_keeps_everything_on_keeps_top_k_or_above_threshold(selection_frame):
    features, _ = selection_frame
    ranking, spec = rank_features(features, _selection_params(), SPLIT_PARAMS)
    assert ranking["kept"].all()
    assert spec == {"task": "classification", "id_column": "id", "label_column": "label",
                    "weight_column": None, "numeric_features": ["signal"],
                    "categorical_features": ["holdout_copy"], "subgroup_columns": [],
                    "dropped_features": [], "partially_available_features": []}
    _, top1 = rank_features(features, _selection_params(prune=True, top_k=1), SPLIT_PARAMS)
    assert top1["numeric_features"] == ["signal"] and top1["categorical_features"] == []
    ranking, floor = rank_features(
        features, _selection_params(prune=True, min_mutual_information=0.1), SPLIT_PARAMS)
    assert floor["categorical_features"] == [] and ranking["kept"].tolist() == [True, False]


def test_a_feature_whose_source_no_year_has_is_left_out_of_the_spec_with_the_reason(
        selection_frame):
    features, _ = selection_frame
    report = {"years": {"2016": {"absent_optional_columns": ["holdout_copy"]},
                        "2017": {"absent_optional_columns": ["holdout_copy"]}}}
    ranking, spec = rank_features(features, _selection_params(), SPLIT_PARAMS, report)
    assert ranking["feature"].tolist() == ["signal"]
    assert spec["categorical_features"] == [] and spec["numeric_features"] == ["signal"]
    assert [d["feature"] for d in spec["dropped_features"]] == ["holdout_copy"]
    assert "absent from every year's file (2016, 2017)" in spec["dropped_features"][0]["reason"]


# --- configuration -------------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    ({"unknown_key": 1}, "Extra inputs are not permitted"),
    ({"task": "ranking"}, "classification"),
    ({"numeric_features": ["bmi"], "categorical_features": ["bmi"]}, "both numeric and"),
    ({"subgroup_columns": ["bmi"]}, "subgroup columns \\['bmi'\\] are numeric"),
    ({"target": {"column": "_rfhlth", "mapping": {2: 3}}}, "maps to 0/1 only"),
    ({"derivations": [{"step": "bin", "input": "a", "output": "label", "edges": [1],
                       "labels": ["x", "y"]}]}, "reserved"),
    ({"derivations": [{"step": "bin", "input": "a", "output": "b", "edges": [2, 1],
                       "labels": ["x", "y", "z"]}]}, "increase strictly"),
    ({"derivations": [{"step": "bin", "input": "a", "output": "b", "edges": [1],
                       "labels": ["x"]}]}, "needs len\\(edges\\) \\+ 1"),
    ({"derivations": [{"step": "recode", "input": "a", "output": "b",
                       "mapping": {True: "yes"}}]}, "quote YAML"),
    ({"derivations": [{"step": "recode", "input": "a", "mapping": {1: "x"}}]},
     "either 'input' and 'output'"),
    ({"derivations": [{"step": "square", "input": "a", "output": "b"}]}, "does not match"),
    ({"derivations": [{"step": "season", "input": "m", "sin_output": "s", "cos_output": "c",
                       "seasons": {"all": [1, 2, 3]}}]}, "each month 1-12"),
    ({"selection": {"prune": True}}, "top_k and/or min_mutual_information"),
])
def test_invalid_configuration_is_refused_naming_the_problem(change, message):
    with pytest.raises(ValidationError, match=message):
        FeatureEngineeringConfig.model_validate(survey_params(**change))


def test_committed_parameters_validate_and_a_bad_block_fails_before_the_run():
    params = committed_params()
    checked = validate_parameters(params, committed_registry())
    assert {f"{study}.feature_engineering"
            for study in studies_running("feature_engineering")} <= set(checked)
    params["stroke"]["feature_engineering"]["categorical_features"].append("stroke")
    with pytest.raises(ParameterError, match="(?s)stroke.feature_engineering.*leakage"):
        validate_parameters(params)
