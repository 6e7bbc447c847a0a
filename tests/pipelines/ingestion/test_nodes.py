"""Unit tests of the ingestion nodes on small hand-made Spark DataFrames."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pyspark.sql import types as T

from health_risk.core.contract.config import IngestionConfig, normalise_name
from health_risk.core.contract.rows import extract_quarantine, flag_invalid_rows, normalise_columns
from health_risk.core.errors import DataQualityError
from health_risk.pipelines.ingestion.nodes import build_validation_report, publish_validated_table
from health_risk.pipelines.ingestion.schemas import SchemaValidationError

SOURCE = "data/01_raw/test/table.csv"

SURVEY = {
    "study": "survey",
    "unique": ["seqno"],
    "max_quarantine_share": 0.5,
    "columns": {
        "seqno": {"type": "string", "required": True, "nullable": False},
        "GENHLTH": {"type": "int", "missing_codes": [7, 9], "allowed": [1, 2, 3, 4, 5]},
        "PHYSHLTH": {"type": "int", "missing_codes": [77, 99], "zero_codes": [88],
                     "range": [0, 30]},
        "_BMI5": {"type": "double", "implied_decimals": 2, "range": [10, 99.99]},
        "sex": {"type": "string", "allowed": ["female", "male"]},
    },
}


def _text_frame(spark, rows, columns):
    schema = T.StructType([T.StructField(c, T.StringType()) for c in columns]
                          + [T.StructField("_source_file", T.StringType()),
                             T.StructField("_source_row", T.LongType())])
    data = [tuple(r) + (SOURCE, i) for i, r in enumerate(rows)]
    return spark.createDataFrame(data, schema)


def _flag(spark, rows, params=SURVEY):
    raw = _text_frame(spark, rows, ["SEQNO", "GenHlth", "PHYSHLTH", "_BMI5", "Sex"])
    normalised, audit = normalise_columns(raw, params)
    return normalised, audit, flag_invalid_rows(normalised, params)


def _reasons(flagged):
    return {r["seqno"]: [(x["rule"], x["column"], x["value"]) for x in r["_quarantine_reasons"]]
            for r in flagged.collect()}


def test_normalise_name_matches_real_headers():
    assert normalise_name("Residence_type") == "residence_type"
    assert normalise_name(" Full Name ") == "full_name"
    assert normalise_name("_BMI5") == "_bmi5"
    assert normalise_name("Avg Glucose-Level") == "avg_glucose_level"


def test_codes_decode_to_null_zero_and_implied_decimals(spark):
    _, _, flagged = _flag(spark, [["1", "7", "88", "2345", "female"],
                                  ["2", "4", "12", "", "male"],
                                  ["3", "9", "99", "3012", "male"]])
    rows = {r["seqno"]: r for r in flagged.collect()}
    assert rows["1"]["genhlth"] is None and rows["1"]["physhlth"] == 0
    assert rows["1"]["_bmi5"] == pytest.approx(23.45)
    assert rows["2"]["genhlth"] == 4 and rows["2"]["physhlth"] == 12
    assert rows["2"]["_bmi5"] is None  # blank = not asked
    assert rows["3"]["genhlth"] is None and rows["3"]["physhlth"] is None
    assert all(r["_quarantine_reasons"] == [] for r in rows.values())
    assert dict(flagged.dtypes)["genhlth"] == "int"


def test_out_of_range_code_and_wrong_type_are_quarantined_with_their_rule(spark):
    _, _, flagged = _flag(spark, [["1", "6", "31", "2345", "female"],
                                  ["2", "x", "5", "23.4.5", "MALE"]])
    reasons = _reasons(flagged)
    assert ("allowed_values", "genhlth", "6") in reasons["1"]
    assert ("range:[0,30]", "physhlth", "31") in reasons["1"]
    assert ("type:int", "genhlth", "x") in reasons["2"]
    assert ("type:double", "_bmi5", "23.4.5") in reasons["2"]
    assert ("allowed_values", "sex", "MALE") in reasons["2"]


def test_non_integer_value_in_int_column_is_a_type_error(spark):
    _, _, flagged = _flag(spark, [["1", "2.5", "3", "2345", "male"]])
    assert ("type:int", "genhlth", "2.5") in _reasons(flagged)["1"]


def test_duplicate_ids_keep_the_first_and_quarantine_the_rest(spark):
    _, _, flagged = _flag(spark, [["1", "1", "1", "2345", "male"],
                                  ["1", "2", "2", "2345", "male"],
                                  ["2", "3", "3", "2345", "male"]])
    by_row = {r["_source_row"]: [x["rule"] for x in r["_quarantine_reasons"]]
              for r in flagged.collect()}
    assert by_row == {0: [], 1: ["unique"], 2: []}


def test_every_later_occurrence_of_a_key_is_quarantined_and_nothing_else_changes(spark):
    """Keys are ranked on a narrow projection and the later occurrences joined back by row id
    (not ranked over whole rows): the first occurrence is kept, every later one quarantined
    under each key it repeats, a key with a null part is not a key, and the flagged table keeps
    its columns in their order."""
    rows = [["1", "1", "1", "2345", "male"], ["1", "2", "2", "2345", "male"],
            ["1", "1", "3", "2345", "male"], ["2", "1", "4", "2345", "male"],
            ["2", None, "5", "2345", "male"], ["2", None, "6", "2345", "male"],
            ["1", "1", "7", "2345", "male"]]
    params = dict(SURVEY, unique=[["seqno"], ["seqno", "genhlth"]])
    _, _, flagged = _flag(spark, rows, params)
    by_row = {r["_source_row"]: [(x["column"], x["value"]) for x in r["_quarantine_reasons"]
                                 if x["rule"] == "unique"] for r in flagged.collect()}
    assert by_row == {0: [], 1: [("seqno", "1")],
                      2: [("seqno", "1"), ("seqno+genhlth", "1|1")], 3: [],
                      4: [("seqno", "2")], 5: [("seqno", "2")],
                      6: [("seqno", "1"), ("seqno+genhlth", "1|1")]}
    _, _, plain = _flag(spark, rows, dict(params, unique=[]))
    assert flagged.columns == plain.columns
    assert flagged.count() == len(rows)


def test_exact_duplicate_rows_are_quarantined_when_configured(spark):
    params = dict(SURVEY, unique=[], duplicate_rows="quarantine")
    _, _, flagged = _flag(spark, [["1", "1", "1", "2345", "male"],
                                  ["1", "1", "1", "2345", "male"]], params)
    by_row = {r["_source_row"]: [x["rule"] for x in r["_quarantine_reasons"]]
              for r in flagged.collect()}
    assert by_row == {0: [], 1: ["duplicate_row"]}


def test_non_utf8_bytes_are_quarantined_as_encoding_errors(spark):
    # Spark decodes an invalid UTF-8 byte as U+FFFD; the row must not pass silently.
    _, _, flagged = _flag(spark, [["1", "1", "1", "2345", "f\ufffdmale"]])
    assert ("encoding", "sex", "f\ufffdmale") in _reasons(flagged)["1"]


def test_missing_required_column_names_file_column_and_rule(spark):
    raw = _text_frame(spark, [["1", "2"]], ["GENHLTH", "PHYSHLTH"])
    with pytest.raises(DataQualityError) as err:
        normalise_columns(raw, SURVEY)
    message = str(err.value)
    assert SOURCE in message and "seqno" in message and "required_column" in message


def test_personal_and_undeclared_columns_are_dropped_and_audited(spark):
    params = dict(SURVEY, personal_columns=["Full Name", "phone_number"])
    raw = _text_frame(spark, [["Ann Example", "555-0100", "1", "2", "3", "2345", "male", "x"]],
                      ["Full Name", "Phone Number", "SEQNO", "GENHLTH", "PHYSHLTH", "_BMI5",
                       "Sex", "extra"])
    normalised, audit = normalise_columns(raw, params)
    assert "full_name" not in normalised.columns and "phone_number" not in normalised.columns
    assert audit["dropped_personal_columns"] == ["full_name", "phone_number"]
    assert audit["dropped_undeclared_columns"] == ["extra"]


def test_optional_column_absent_from_a_release_becomes_null(spark):
    raw = _text_frame(spark, [["1", "2", "3", "male"]], ["SEQNO", "GENHLTH", "PHYSHLTH", "sex"])
    normalised, audit = normalise_columns(raw, SURVEY)
    assert audit["absent_optional_columns"] == ["_bmi5"]
    flagged = flag_invalid_rows(normalised, SURVEY)
    assert flagged.collect()[0]["_bmi5"] is None


def test_report_accounts_for_every_row_by_rule(spark):
    normalised, audit, flagged = _flag(spark, [["1", "6", "1", "2345", "male"],
                                               ["2", "1", "1", "2345", "male"],
                                               ["3", "6", "45", "2345", "male"]])
    quarantine = extract_quarantine(flagged, SURVEY)
    report = build_validation_report(normalised, flagged, quarantine, audit, SURVEY)
    assert (report["rows_read"], report["rows_passed"], report["rows_quarantined"]) == (3, 1, 2)
    assert report["accounting_balanced"] is True
    counts = {(v["rule"], v["column"]): v["rows"] for v in report["violations"]}
    assert counts == {("allowed_values", "genhlth"): 2, ("range:[0,30]", "physhlth"): 1}
    row = quarantine.filter("_source_row = 2").collect()[0]
    assert row["first_rule"] == "allowed_values" and row["_source_file"] == SOURCE
    assert '"physhlth":"45"' in row["raw_record"]


def test_publish_refuses_when_quarantine_share_exceeds_limit(spark):
    params = dict(SURVEY, max_quarantine_share=0.1)
    normalised, audit, flagged = _flag(spark, [["1", "6", "1", "2345", "male"],
                                               ["2", "1", "1", "2345", "male"]], params)
    report = build_validation_report(normalised, flagged, extract_quarantine(flagged, params),
                                        audit, params)
    with pytest.raises(DataQualityError, match="max_quarantine_share") as err:
        publish_validated_table(flagged, report, params)
    assert "allowed_values on 'genhlth'" in str(err.value) and SOURCE in str(err.value)


def test_publish_refuses_unbalanced_accounting(spark):
    normalised, audit, flagged = _flag(spark, [["1", "1", "1", "2345", "male"]])
    report = build_validation_report(normalised, flagged, extract_quarantine(flagged, SURVEY),
                                        audit, SURVEY)
    report = dict(report, rows_read=2, accounting_balanced=False)
    with pytest.raises(DataQualityError, match="rows read 2"):
        publish_validated_table(flagged, report, SURVEY)


def test_publish_refuses_an_empty_table(spark):
    normalised, audit, flagged = _flag(spark, [])
    report = build_validation_report(normalised, flagged, extract_quarantine(flagged, SURVEY),
                                        audit, SURVEY)
    with pytest.raises(DataQualityError, match="min_rows"):
        publish_validated_table(flagged, report, SURVEY)


def test_publish_returns_only_valid_rows_with_typed_columns(spark):
    normalised, audit, flagged = _flag(spark, [["1", "6", "1", "2345", "male"],
                                               ["2", "1", "1", "2345", "male"]])
    report = build_validation_report(normalised, flagged, extract_quarantine(flagged, SURVEY),
                                        audit, SURVEY)
    valid = publish_validated_table(flagged, report, SURVEY)
    assert [r["seqno"] for r in valid.collect()] == ["2"]
    assert "_quarantine_reasons" not in valid.columns
    assert dict(valid.dtypes)["_bmi5"] == "double"


def test_pandera_catches_a_table_that_breaks_the_contract(spark):
    # A decoded table whose genhlth is text (e.g. a decoding bug) must not be published.
    bad = spark.createDataFrame(
        [("1", "one", 0, 23.4, "male", SOURCE, 0, [], "{}")],
        "seqno string, genhlth string, physhlth int, _bmi5 double, sex string, "
        "_source_file string, _source_row long, "
        "_quarantine_reasons array<struct<rule:string,column:string,value:string>>, "
        "_raw_record string",
    )
    report = {"rows_read": 1, "rows_passed": 1, "rows_quarantined": 0, "quarantined_share": 0.0,
              "accounting_balanced": True, "violations": [], "sources": [SOURCE]}
    with pytest.raises(SchemaValidationError, match="genhlth"):
        publish_validated_table(bad, report, SURVEY)


def test_a_schema_only_check_leaves_nulls_to_the_row_contract():
    """pandera's nullable check is a Spark job per column even at SCHEMA_ONLY; the row contract
    has quarantined those nulls already (not_null), so the schema-only check skips it."""
    from health_risk.pipelines.ingestion.schemas import build_schema

    full = build_schema(IngestionConfig.model_validate(SURVEY))
    schema_only = build_schema(IngestionConfig.model_validate(
        dict(SURVEY, pandera_depth="SCHEMA_ONLY")))
    assert full.columns["seqno"].nullable is False
    assert schema_only.columns["seqno"].nullable is True
    assert str(schema_only.columns["seqno"].dtype) == str(full.columns["seqno"].dtype)


def test_config_rejects_unknown_keys_and_bad_rules():
    with pytest.raises(ValidationError):
        IngestionConfig.model_validate(dict(SURVEY, max_quarantine_share=2))
    with pytest.raises(ValidationError):
        IngestionConfig.model_validate(
            {"study": "x", "columns": {"a": {"type": "string", "range": [0, 1]}}})
    with pytest.raises(ValidationError):
        IngestionConfig.model_validate(
            {"study": "x", "columns": {"a": {"type": "int", "typo": 1}}})
