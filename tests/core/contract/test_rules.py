"""The Spark decoding of int columns (``rules.decode_column``) through a whole ingestion: a cell
that is not a valid INT quarantines its row as ``type:int``; it neither fails the job nor
becomes a silent null."""

from __future__ import annotations

from pyspark.sql import types as T

from health_risk.core.contract.rows import extract_quarantine, flag_invalid_rows, normalise_columns
from health_risk.core.contract.rules import INT_RANGE
from health_risk.pipelines.ingestion.nodes import build_validation_report, publish_validated_table

SOURCE = "data/01_raw/ints/table.csv"
PARAMS = {
    "study": "ints",
    "max_quarantine_share": 1.0,
    "columns": {
        "seqno": {"type": "string", "required": True, "nullable": False},
        "count": {"type": "int", "nullable": False, "missing_codes": [99]},
        "days": {"type": "int", "range": [0, 30]},
    },
}
ROWS = [
    ["1", "12", "3"],
    ["2", "1e20", "4"],  # beyond a long: floor() of it once failed the whole job (ANSI)
    ["3", "Infinity", "5"],
    ["4", "3000000000", "6"],  # beyond INT: once a null without a reason, on a non-null column
    ["5", "2147483647", "-1e19"],
    ["6", "99", "NaN"],  # a missing code on a non-null column; NaN is no int, and out of range
    ["7", "-2147483648", "2.5"],
]


def test_int_range_is_sparks_int():
    assert INT_RANGE == (float(-(2 ** 31)), float(2 ** 31 - 1))


def test_cells_that_are_no_int_are_quarantined_and_the_rest_published(spark):
    schema = T.StructType([T.StructField(c, T.StringType()) for c in ("SEQNO", "count", "days")]
                          + [T.StructField("_source_file", T.StringType()),
                             T.StructField("_source_row", T.LongType())])
    raw = spark.createDataFrame([(*r, SOURCE, i) for i, r in enumerate(ROWS)], schema)
    normalised, audit = normalise_columns(raw, PARAMS)
    flagged = flag_invalid_rows(normalised, PARAMS)
    quarantine = extract_quarantine(flagged, PARAMS)
    report = build_validation_report(normalised, flagged, quarantine, audit, PARAMS)
    valid = publish_validated_table(flagged, report, PARAMS)

    assert [(r["seqno"], r["count"], r["days"]) for r in valid.orderBy("seqno").collect()] == [
        ("1", 12, 3)]
    assert dict(valid.dtypes)["count"] == "int" and dict(valid.dtypes)["days"] == "int"
    reasons = {r["seqno"]: [(x["rule"], x["column"], x["value"])
                            for x in r["_quarantine_reasons"]] for r in flagged.collect()}
    assert reasons == {
        "1": [],
        "2": [("type:int", "count", "1e20")],
        "3": [("type:int", "count", "Infinity")],
        "4": [("type:int", "count", "3000000000")],
        "5": [("type:int", "days", "-1e19"), ("range:[0,30]", "days", "-1e19")],
        "6": [("not_null", "count", "99"), ("type:int", "days", "NaN"),
              ("range:[0,30]", "days", "NaN")],
        "7": [("type:int", "days", "2.5")],
    }
    assert (report["rows_read"], report["rows_passed"], report["rows_quarantined"]) == (7, 1, 6)
    counts = {(v["rule"], v["column"]): v["rows"] for v in report["violations"]}
    assert counts[("type:int", "count")] == 3 and counts[("type:int", "days")] == 3
    firsts = {r["_source_row"]: r["first_rule"] for r in quarantine.collect()}
    assert firsts[1] == firsts[2] == firsts[3] == "type:int"
