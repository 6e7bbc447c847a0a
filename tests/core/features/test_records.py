"""Parity of the in-memory derivations and feature table (``derive_records``,
``feature_frame``: the serving engine) with the Spark ones (``apply_steps``,
``derive_primary`` + ``feature_columns``): the same decoded rows through both engines, every
step type, compared column by column (order, type, values and null-ness); and each committed
study's raw rows from the contract to the feature table.
"""

from __future__ import annotations

import json
import math
from io import StringIO

import numpy as np
import pandas as pd
import pytest
import yaml
from pyspark.sql import functions as F
from pyspark.sql import types as T

from health_risk.core.columns import ID, LABEL, WEIGHT
from health_risk.core.contract.config import IngestionConfig
from health_risk.core.contract.records import code_text, decode_records
from health_risk.core.contract.rows import flag_invalid_rows, normalise_columns
from health_risk.core.errors import HealthRiskError
from health_risk.core.features import derivations as spark_derivations
from health_risk.core.features.config import FeatureEngineeringConfig
from health_risk.core.features.records import (
    DerivationError,
    derive_records,
    feature_frame,
    strict_log,
)
from health_risk.core.features.table import derive_primary, feature_columns

from ...committed_config import PARAMETERS, committed_params
from ..contract.test_records import (
    assert_same,
    plain,
    raw_frame,
    records_engine,
    spark_contract,
)

SPARK_TO_PANDAS = {"int": "Int64", "double": "float64", "string": "object", "boolean": "bool"}
INT, DOUBLE, TEXT = T.IntegerType(), T.DoubleType(), T.StringType()

# Decoded rows, typed as the contract types them (int, double, string; nulls everywhere).
DECODED = {
    "id": (INT, [1, 2, 3, 4, 5, 6, 7, 8]),
    "code": (INT, [1, 2, 3, 7, None, 3, 1, 12]),
    "score": (DOUBLE, [0.0, 18.4, 18.5, 24.99, 30.0, None, -3.5, 12345678.0]),
    "answer": (TEXT, ["yes", "no", None, "1", "maybe", "2", "yes", ""]),
    "sex": (TEXT, ["m", "f", "f", None, "x", "m", "f", "m"]),
    "month": (INT, [1, 12, 6, 0, 13, None, 3, 9]),
    "a1": (INT, [1, 2, None, 1, None, 2, 1, 9]),
    "a2": (INT, [1, 1, None, 2, 2, None, 1, 9]),
    "a3": (INT, [2, None, None, 1, 1, 1, None, 9]),
    "fips": (INT, [1, 2, 99, None, 6, 1, 2, 6]),
    "fips_text": (TEXT, ["1", "2", "99", None, "6", "01", " 2", "6"]),
    "fips_d": (DOUBLE, [1.0, 2.0, 99.0, None, 6.0, 1.5, 2.0, 6.0]),
    "outcome": (INT, [0, 1, 0, 1, 0, 1, None, 0]),
}
REFERENCE = {  # a reference table (one key never matched, a null key, null values)
    "state_fips": (INT, [1, 2, 6, None, 40]),
    "rate": (DOUBLE, [10.5, None, 12.25, 3.0, 7.0]),
    "name": (TEXT, ["Alabama", "Alaska", None, "nowhere", "Oklahoma"]),
}
STEPS = [
    {"step": "bin", "input": "score", "output": "bmi_class", "edges": [18.5, 25.0, 30.0],
     "labels": ["under", "normal", "over", "obese"]},
    {"step": "bin", "input": "code", "output": "code_band", "edges": [2, 3],
     "labels": ["low", "mid", "high"]},
    {"step": "recode", "input": "code", "output": "code_label", "default": "other",
     "mapping": {1: "one", 2: "two", "3": "three", 3: "not reached"}},
    {"step": "recode", "input": "score", "output": "score_text", "keep_unmapped": True,
     "mapping": {18.5: "edge", 0: "zero"}},
    {"step": "recode", "input": "code", "output": "code_text", "keep_unmapped": True,
     "mapping": {1: "one"}},
    {"step": "recode", "columns": {"answer": "answer_code", "sex": "sex_label"},
     "mapping": {"yes": "Y", 1: "one", "m": "male", "f": "female"}},
    {"step": "indicator", "input": "answer", "output": "answer_yes", "values": ["yes", 1]},
    {"step": "indicator", "input": "code", "output": "code_low", "values": [1, "2"]},
    {"step": "indicator", "input": "score", "output": "score_zero", "values": [0]},
    {"step": "log", "input": "score", "output": "log_score", "offset": 1.0},
    {"step": "scale", "input": "code", "output": "code_scaled", "factor": 2.5, "offset": -1},
    {"step": "count_equal", "inputs": ["a1", "a2", "a3"], "values": [1], "output": "n_yes",
     "missing_output": "n_unknown"},
    {"step": "count_equal", "inputs": ["a1", "a2"], "values": [2, "9"], "output": "n_two",
     "null_when_all_missing": False},
    {"step": "product", "inputs": ["code", "score"], "output": "code_x_score"},
    {"step": "product", "inputs": ["answer_yes", "score", "code_low"], "output": "yes_x_score"},
    {"step": "season", "input": "month", "sin_output": "month_sin", "cos_output": "month_cos",
     "season_output": "season"},
    {"step": "season", "input": "month", "sin_output": "m_sin", "cos_output": "m_cos",
     "seasons": {"dry": [11, 12, 1, 2, 3, 4], "wet": [5, 6, 7, 8, 9, 10]}},
    {"step": "join", "table": "ref", "left_on": "fips", "right_on": "state_fips",
     "columns": {"rate": "state_rate", "name": "state_name"}},
    {"step": "join", "table": "ref", "left_on": "fips_text", "right_on": "state_fips",
     "columns": {"rate": "rate_by_text"}, "match_flag": "_text_matched"},
    {"step": "join", "table": "ref", "left_on": "fips_d", "right_on": "state_fips",
     "columns": {"name": "sex"}, "match_flag": "_double_matched"},  # replaces `sex`
    {"step": "scale", "input": "score", "output": "month"},  # replaces `month` in place
    {"step": "bin", "input": "_matched_ref", "output": "matched_band", "edges": [0.5],
     "labels": ["no", "yes"]},
]
CONFIG = {
    "study": "parity", "task": "classification", "id_column": "id",
    "target": {"column": "outcome"}, "derivations": STEPS, "leakage_columns": [],
    "numeric_features": ["code", "score", "n_yes", "code_x_score", "_matched_ref", "log_score",
                         "month_sin", "state_rate"],
    "categorical_features": ["code_label", "code_band", "answer_code", "fips", "fips_d",
                             "bmi_class"],
    "subgroup_columns": ["bmi_class", "season", "sex_label"],
}


def spark_frame(spark, columns: dict):
    schema = T.StructType([T.StructField(name, kind) for name, (kind, _) in columns.items()])
    rows = list(zip(*[values for _, values in columns.values()], strict=True))
    return spark.createDataFrame(rows, schema)


def pandas_frame(columns: dict) -> pd.DataFrame:
    """The same rows as ``decode_records`` types them: Int64, float64 (NaN), object (None)."""
    out = {}
    for name, (kind, values) in columns.items():
        if kind == INT:
            out[name] = pd.array(values, dtype="Int64")
        elif kind == DOUBLE:
            out[name] = np.array([np.nan if v is None else v for v in values], dtype=float)
        else:
            out[name] = np.array(values, dtype=object)
    return pd.DataFrame(out)


def assert_same_frames(spark_df, frame: pd.DataFrame, order_by: str | None = None):
    """Same columns in the same order, Spark's types, and equal values (exactly: the same
    floating-point operations run in the JVM and in numpy)."""
    assert list(frame.columns) == [c for c in spark_df.columns if c != order_by]
    assert {c: str(t) for c, t in frame.dtypes.items()} == {
        c: SPARK_TO_PANDAS[t] for c, t in spark_df.dtypes if c != order_by}
    rows = spark_df.collect()
    if order_by:
        rows = sorted(rows, key=lambda r: r[order_by])
    for column in frame.columns:
        expected = [plain(r[column]) for r in rows]
        assert [plain(v) for v in frame[column].tolist()] == expected, column


@pytest.fixture(scope="module")
def decoded(spark):
    return spark_frame(spark, DECODED), pandas_frame(DECODED)


@pytest.fixture(scope="module")
def reference(spark):
    return spark_frame(spark, REFERENCE), pandas_frame(REFERENCE)


@pytest.fixture(scope="module")
def spark_derived(decoded, reference):
    """``apply_steps`` on the decoded rows, computed once (each Spark plan costs seconds)."""
    config = FeatureEngineeringConfig.model_validate(CONFIG)
    derived = spark_derivations.apply_steps(decoded[0], config.derivations, "parity",
                                            {"ref": reference[0]})
    return derived.localCheckpoint(eager=True)


def test_every_step_type_derives_what_spark_derives(decoded, reference, spark_derived):
    config = FeatureEngineeringConfig.model_validate(CONFIG)
    assert {s.step for s in config.derivations} == set(spark_derivations.COLUMN_STEPS) | {"join"}
    derived = derive_records(decoded[1], config, {"ref": reference[1]})
    assert_same_frames(spark_derived, derived)
    assert derived["_matched_ref"].tolist() == [True, True, False, False, True, True, True, True]


def test_the_feature_table_has_the_spark_columns_types_and_values(decoded, reference,
                                                                 spark_derived):
    config = FeatureEngineeringConfig.model_validate(CONFIG)
    primary = spark_derived.withColumns({ID: F.lit("x"), LABEL: F.lit(0.0), WEIGHT: F.lit(1.0)})
    expected = primary.select(*feature_columns(primary, config)).drop(ID, LABEL, WEIGHT)
    features = feature_frame(derive_records(decoded[1], config, {"ref": reference[1]}), config)
    assert_same_frames(expected, features)
    assert features["fips_d"].tolist()[:2] == ["1.0", "2.0"]  # a double's text, as Spark's


def test_one_record_at_a_time_derives_the_same_as_the_whole_request(decoded, reference):
    config = FeatureEngineeringConfig.model_validate(CONFIG)
    lookups = {"ref": reference[1]}
    whole = feature_frame(derive_records(decoded[1], config, lookups), config)
    for i in range(len(decoded[1])):
        one = decoded[1].iloc[[i]].reset_index(drop=True)
        alone = feature_frame(derive_records(one, config, lookups), config)
        pd.testing.assert_frame_equal(alone, whole.iloc[[i]].reset_index(drop=True))


def test_log_is_sparks_to_the_last_bit(spark):
    """Spark's log() is StrictMath's (fdlibm); the C library's log differs in the last bit
    for a few percent of inputs, so the records engine runs fdlibm's algorithm."""
    rng = np.random.default_rng(11)
    values = np.concatenate([rng.uniform(0, 10, 3000), np.exp(rng.uniform(-700, 700, 3000)),
                             rng.uniform(0.999, 1.001, 1000), [1.0, 2.0, 1e-310, 5e-324]])
    logged = spark.createDataFrame([(float(v),) for v in values], "x double").select(
        F.log("x").alias("log")).collect()
    assert strict_log(values).tolist() == [r["log"] for r in logged]
    assert (np.log(values) != strict_log(values)).any()  # why numpy's is not used


# -- the same errors ----------------------------------------------------------------------------
ERRORS = {
    "missing column": [{"step": "recode", "input": "nope", "output": "x", "mapping": {1: "a"}}],
    "text in a numeric step": [{"step": "bin", "input": "answer", "output": "x", "edges": [1],
                                "labels": ["a", "b"]}],
    "text code of a number": [{"step": "indicator", "input": "code", "output": "x",
                               "values": ["abc"]}],
    "unknown table": [{"step": "join", "table": "other", "left_on": "fips",
                       "right_on": "state_fips", "columns": {"rate": "x"}}],
    "lookup column": [{"step": "join", "table": "ref", "left_on": "fips",
                       "right_on": "state_fips", "columns": {"nope": "x"}}],
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_a_step_that_cannot_run_fails_with_the_spark_message(decoded, reference, case):
    config = FeatureEngineeringConfig.model_validate({**CONFIG, "derivations": ERRORS[case],
                                                      "numeric_features": ["code"],
                                                      "categorical_features": [],
                                                      "subgroup_columns": []})
    with pytest.raises(spark_derivations.DerivationError) as spark_error:
        spark_derivations.apply_steps(decoded[0], config.derivations, "parity: derivations",
                                      {"ref": reference[0]})
    with pytest.raises(DerivationError) as error:
        derive_records(decoded[1], config, {"ref": reference[1]})
    assert str(error.value) == str(spark_error.value)
    assert isinstance(error.value, HealthRiskError)


def test_a_repeated_lookup_key_is_refused_by_both(spark, decoded):
    repeated = {**REFERENCE, "state_fips": (INT, [1, 2, 6, 6, 40])}
    config = FeatureEngineeringConfig.model_validate(CONFIG)
    with pytest.raises(spark_derivations.DerivationError, match="repeats key 'state_fips'"):
        spark_derivations.apply_steps(decoded[0], config.derivations, "parity: derivations",
                                      {"ref": spark_frame(spark, repeated)})
    with pytest.raises(DerivationError, match=r"repeats key 'state_fips' \[6\]"):
        derive_records(decoded[1], config, {"ref": pandas_frame(repeated)})


def test_a_missing_or_text_feature_is_refused():
    config = FeatureEngineeringConfig.model_validate({**CONFIG, "derivations": []})
    with pytest.raises(DerivationError, match="neither in the validated table nor derived"):
        feature_frame(pandas_frame(DECODED), config)
    text = FeatureEngineeringConfig.model_validate({
        **CONFIG, "derivations": [], "numeric_features": ["answer"],
        "categorical_features": [], "subgroup_columns": []})
    with pytest.raises(DerivationError, match=r"numeric_features \['answer'\] are text"):
        feature_frame(pandas_frame(DECODED), text)


# -- every committed study, raw rows to features ----------------------------------------------
STUDIES = sorted(committed_params("ingestion", "feature_engineering").items())
FEATURE_STUDIES = [s for s, blocks in STUDIES if "feature_engineering" in blocks]
CONF = PARAMETERS.parent
PATTERN_POOL = ["20230115", "01152023", "AL", "NY", "ab", "A1", "12345678", "Hello"]


def writes_numbers(study: str) -> bool:
    """Whether the study's raw file holds numeric codes as numbers (a SAS transport file, as
    BRFSS's) rather than text (a CSV, a spreadsheet read as text)."""
    catalog = yaml.safe_load((CONF / "studies" / study / "catalog.yml").read_text())
    return catalog[f"{study}.raw_source@spark"]["type"].endswith("SasXportDataset")


def generated_rows(config: IngestionConfig, n: int, seed: int, as_text: bool = True):
    """Raw rows for a study's contract, drawn from its rules: mostly valid values (so the
    derivations have data), with missing and zero codes, blanks and broken values mixed in.
    ``as_text``: every cell a string (a CSV); else numeric rules get numbers (an XPT file)."""
    rng = np.random.default_rng(seed)
    columns = {name: [_draw(rule, rng, as_text) for _ in range(n)]
               for name, rule in config.columns.items()}
    return [[columns[name][i] for name in config.columns] for i in range(n)]


def _draw(rule, rng, as_text: bool):
    roll = rng.random()
    special = [*rule.missing_codes, *rule.zero_codes]
    if roll < 0.08:
        return "" if as_text else None
    if roll < 0.18 and special:
        code = special[int(rng.integers(len(special)))]
        return code if isinstance(code, str) or not as_text else code_text(code)
    if roll < 0.24:
        return _broken(rule, rng, as_text)
    value = _valid(rule, rng)
    if isinstance(value, str):
        return value
    return code_text(value) if as_text else float(value)


def _valid(rule, rng):
    if rule.allowed:
        return rule.allowed[int(rng.integers(len(rule.allowed)))]
    if rule.type == "string":
        pool = PATTERN_POOL if rule.pattern else ["alpha", "beta", "gamma"]
        return pool[int(rng.integers(len(pool)))]
    low, high = rule.range or (0.0, 100.0)
    value = rng.uniform(low, min(high, low + 1e6))
    value = math.floor(value) if rule.type == "int" else round(value, 2)
    return round(value * 10 ** rule.implied_decimals) if rule.implied_decimals else value


def _broken(rule, rng, as_text: bool):
    if rule.type == "string":
        return "zzz" if rng.random() < 0.5 else "bad\ufffd"
    if as_text and rng.random() < 0.4:
        return ["x", "1.5", "N/A", " 12 "][int(rng.integers(4))]
    high = rule.range[1] if rule.range else max(map(float, rule.allowed or [100]))
    value = (high + 1) * 10 ** rule.implied_decimals
    return code_text(value) if as_text else float(value)


def reference_tables(spark, config: FeatureEngineeringConfig | None):
    """A reference table for each join step: integer keys 1-59 (a few missing, so some rows
    stay unmatched) and a double for each brought column."""
    rng = np.random.default_rng(3)
    spark_tables, frames = {}, {}
    for step in config.join_steps if config else []:
        keys = [k for k in range(1, 60) if k % 7]
        columns = {step.right_on: (INT, keys)}
        columns.update({src: (DOUBLE, [round(float(v), 2) for v in
                                       rng.uniform(0, 100000, len(keys))])
                        for src in step.columns})
        spark_tables[step.table] = spark_frame(spark, columns)
        frames[step.table] = pandas_frame(columns)
    return spark_tables, frames


def compare_study(spark, params: dict, frame: pd.DataFrame, types: list,
                  broken: bool = False) -> None:
    """Raw records through both engines: the contract's decoded values and reasons, then (for
    a study with a feature block) the feature table, from one Spark plan."""
    ingestion = params["ingestion"]
    normalised, _ = normalise_columns(raw_frame(spark, list(frame.columns), types,
                                                [[plain(v) for v in row] for row in
                                                 frame.itertuples(index=False)]), ingestion)
    flagged = flag_invalid_rows(normalised, ingestion)
    try:
        contract = spark_contract(flagged, ingestion)
        assert_same(contract, records_engine(frame, ingestion))
        assert bool(contract[1]) or not broken, "the generated rows break some rules"
        if "feature_engineering" not in params:
            return
        config = FeatureEngineeringConfig.model_validate(params["feature_engineering"])
        spark_tables, frames = reference_tables(spark, config)
        primary = derive_primary(flagged, params["feature_engineering"], **spark_tables)
        expected = primary.select("_source_row", *feature_columns(primary, config)).drop(
            ID, LABEL, WEIGHT)
        decoded, _ = decode_records(frame, IngestionConfig.model_validate(ingestion))
        features = feature_frame(derive_records(decoded, config, frames), config)
        assert_same_frames(expected, features, "_source_row")
    finally:
        flagged.unpersist()


@pytest.mark.parametrize("study", [s for s, _ in STUDIES])
def test_committed_study_from_generated_raw_rows_to_features(spark, study):
    """Rows drawn from the study's own rules, written as its raw file writes them."""
    params = dict(STUDIES)[study]
    contract = IngestionConfig.model_validate(params["ingestion"])
    numbers = writes_numbers(study)
    rows = generated_rows(contract, 30, seed=len(study) + 1, as_text=not numbers)
    headers = [name.upper() for name in contract.columns]
    types = [DOUBLE if numbers and rule.type != "string" else TEXT
             for rule in contract.columns.values()]
    frame = pd.DataFrame(rows, columns=headers)
    if numbers:  # a JSON request: numbers (null for none), text as text
        frame = pd.DataFrame(json.loads(frame.to_json(orient="records")), columns=headers)
    compare_study(spark, params, frame, types, broken=True)


def _published_csv(study: str, n: int) -> tuple[pd.DataFrame, list]:
    """A CSV study as its file holds it (read as text, as Spark reads it: blank = null)."""
    from health_risk.pipelines.sample_data import table_generators

    spec = yaml.safe_load((PARAMETERS / "sample_data_tables_spec.yml").read_text())
    generate = {"stroke": table_generators.generate_stroke_patients,
                "insurance": table_generators.generate_insurance_charges}[study]
    text = generate(n, 5, spec[f"{study}_spec"]).to_csv(index=False)
    frame = pd.read_csv(StringIO(text), dtype=str, keep_default_na=False)
    return frame.astype(object).where(frame != "", None), [TEXT] * frame.shape[1]


# BRFSS's published format is checked end to end instead (tests/test_end_to_end.py: the sample
# XPT's rows served and batch-scored give the same scores); here it cost 23 s of Spark planning.
PUBLISHED = {"stroke": lambda: _published_csv("stroke", 40),
             "insurance": lambda: _published_csv("insurance", 40)}


@pytest.mark.parametrize("study", sorted(set(PUBLISHED) & set(FEATURE_STUDIES)))
def test_records_in_the_published_raw_format_give_the_spark_features(spark, study):
    """The sample-data generator's rows: the published file's own columns and codes."""
    frame, types = PUBLISHED[study]()
    compare_study(spark, dict(STUDIES)[study], frame, types)
