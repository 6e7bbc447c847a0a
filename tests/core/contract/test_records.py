"""Parity of the in-memory row contract (``decode_records``, the serving engine) with the Spark
one (``normalise_columns`` + ``flag_invalid_rows``): the same rows through both engines, compared
column by column (values, null-ness, types) and reason by reason (record, field, rule, value).

Rows reach Spark typed as a source would type them: text like a CSV (every column a string),
numbers like an XPT file (doubles) or a JSON integer (bigint). The records engine gets the same
cells as a pandas frame, as a request's JSON would give them.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import types as T

from health_risk.core.contract import records as records_module
from health_risk.core.contract import rows as spark_rows
from health_risk.core.contract.config import IngestionConfig
from health_risk.core.contract.records import (
    PASSED_THROUGH,
    RecordViolation,
    code_text,
    decode_records,
    java_double_text,
    parse_double,
)
from health_risk.core.contract.rows import flag_invalid_rows, normalise_columns
from health_risk.core.errors import DataQualityError

SOURCE = "data/01_raw/parity/table.csv"
# Rules comparing a table's rows with each other: a request's records are not a table.
TABLE_RULES = ("unique", "duplicate_row")
SPARK_TO_PANDAS = {"int": "Int64", "double": "float64", "string": "object"}
TEXT, BIGINT, DOUBLE, BOOLEAN = T.StringType(), T.LongType(), T.DoubleType(), T.BooleanType()

CONTRACT = {
    "study": "parity",
    "rename": {"Old Code": "code"},
    "personal_columns": ["full_name"],
    "columns": {
        "seqno": {"type": "string", "required": True, "nullable": False},
        "code": {"type": "int", "missing_codes": [7, 9], "allowed": [1, 2, 3]},
        "days": {"type": "int", "missing_codes": [77, 99], "zero_codes": [88], "range": [0, 30]},
        "bmi": {"type": "double", "implied_decimals": 2, "range": [10, 99.99]},
        "weight": {"type": "double", "nullable": False, "missing_codes": ["N/A", "NA", 999],
                   "range": [0, 500]},
        "sex": {"type": "string", "allowed": ["female", "male"], "missing_codes": ["U", 9]},
        "idate": {"type": "string", "pattern": "^[0-9]{8}$"},
        "grade": {"type": "int", "nullable": False, "pattern": "^[1-4]$"},
        "ratio": {"type": "double", "allowed": [0.5, 1, 1.5], "pattern": "\\.5$"},
        "note": {"type": "string"},
        "optional": {"type": "int", "nullable": False},  # never in the source
        "tenths": {"type": "double", "implied_decimals": 1, "range": [0, 100]},
    },
}
# Raw headers as a source writes them: normalised, renamed, personal and undeclared dropped.
HEADERS = ["SEQNO", "Old Code", "Days ", "BMI", "Weight", "Sex", "IDATE", "grade", "ratio",
           "Note", "Full Name", "extra", "TENTHS"]

TEXT_ROWS = [
    # every value valid
    ["1", "1", "12", "2345", "150.5", "female", "20230115", "2", "0.5", "hello", "Jane", "x",
     "250"],
    # blanks (Spark trims spaces only), a missing text code with spaces around it, nulls
    ["2", "", "  ", "", " N/A ", "", "", "", "", "", None, None, "25"],
    # missing and zero codes, out of range, disallowed, pattern broken
    ["3", "7", "88", "999999", "999", "U", "2023011", "5", "2", " padded ", "a", "b", ""],
    # type errors: text, non-integral int, text in a double, NaN
    ["4", "x", "2.5", "abc", "heavy", "MALE", "2023-01-15", "1.5", "nan", "", "a", "b", "x"],
    # Java's double grammar: suffixes, hex, exponent; a tab (not trimmed by Spark's trim)
    ["5", "5d", " 0x1p1 ", "+2.5e3", "\t150", "9", "00000000", "3", "Infinity", "n", "a", "b",
     "1000"],
    # Python-only number forms are text; damaged encoding; negative implied decimals
    ["6", "1_000", "1e1", "-5", "1,5", "fem\ufffdale", "\ufffd", "0", "1.50", "x", "a", "b",
     "5"],
    # an int beyond 32 bits (a type error), -0, infinity, "NA"
    ["7", "3000000000", "-0", "1e400", "NA", "male", "20231231", "4", "1", "x", "a", "b",
     "1001"],
    # a missing id, NaN in an int column (type and range), a numeric code text of a string
    [None, " 9 ", "NaN", "1000", "0", "9.0", "12345678", "07", "1.0", "7", "a", "b", "-10"],
    # digits that are not ASCII are text; signs; -0.0 is not an allowed 0.5
    ["   ", "٣", "99", "１", "500", "female", "1234567８", "+4", "-0.0", None, "a", "b", " 70 "],
]


# -- the two engines ---------------------------------------------------------------------------
def spark_engine(spark, headers, types, rows, params):
    """(values by column, reasons, Spark types) of the Spark contract on these rows."""
    normalised, _ = normalise_columns(raw_frame(spark, headers, types, rows), params)
    flagged = flag_invalid_rows(normalised, params)
    try:
        return spark_contract(flagged, params)
    finally:
        flagged.unpersist()


def raw_frame(spark, headers, types, rows):
    """The rows as a Spark reader gives them: typed columns and the lineage columns."""
    schema = T.StructType([T.StructField(h, t) for h, t in zip(headers, types, strict=True)]
                          + [T.StructField("_source_file", TEXT),
                             T.StructField("_source_row", BIGINT)])
    return spark.createDataFrame([(*row, SOURCE, i) for i, row in enumerate(rows)], schema)


def spark_contract(flagged, params):
    """(values by column, reasons, types) of ``flag_invalid_rows``' output, in reader order."""
    collected = sorted(flagged.collect(), key=lambda r: r["_source_row"])
    names = list(IngestionConfig.model_validate(params).columns)
    values = {c: [plain(r[c]) for r in collected] for c in names}
    reasons = [(i, x["column"], x["rule"], x["value"])
               for i, r in enumerate(collected) for x in r["_quarantine_reasons"]
               if x["rule"] not in TABLE_RULES]
    return values, reasons, {c: SPARK_TO_PANDAS[t] for c, t in flagged.dtypes if c in names}


def records_engine(frame, params):
    """(values by column, reasons, pandas dtypes) of the records contract on this frame; the
    same from both readers (cell by cell for a small request, column by column otherwise)."""
    config = IngestionConfig.model_validate(params)
    outputs = []
    for small in (len(frame), -1):
        with mock.patch.object(records_module, "SMALL_REQUEST", small):
            decoded, violations = decode_records(frame, config)
        values = {c: [plain(v) for v in decoded[c].tolist()] for c in decoded.columns}
        reasons = [(v.record, v.field, v.rule, v.value) for v in violations]
        outputs.append((values, reasons, {c: str(t) for c, t in decoded.dtypes.items()}))
    assert outputs[0] == outputs[1], "the two readers disagree"
    return outputs[0]


def plain(value):
    """None for every kind of null. NaN too: a decoded double is float64 (NaN = null), so a
    Spark NaN (from the text "NaN") reads as null here; its reasons are compared exactly."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def assert_same(spark_out, records_out):
    spark_values, spark_reasons, spark_types = spark_out
    values, reasons, types = records_out
    assert list(values) == list(spark_values)  # exactly the declared columns, in order
    assert types == spark_types
    for column, expected in spark_values.items():
        assert values[column] == expected, column
    assert reasons == spark_reasons


def text_frame(rows, headers=HEADERS):
    """A request whose every value is a JSON string (or null)."""
    return pd.DataFrame([dict(zip(headers, row, strict=True)) for row in rows], columns=headers)


# -- every rule kind, text path and number path --------------------------------------------------
def test_text_values_decode_and_break_the_same_rules_as_in_spark(spark):
    spark_out = spark_engine(spark, HEADERS, [TEXT] * len(HEADERS), TEXT_ROWS, CONTRACT)
    records_out = records_engine(text_frame(TEXT_ROWS), CONTRACT)
    assert_same(spark_out, records_out)
    rules = {rule for _, _, rule, _ in spark_out[1]}
    assert rules >= {"type:int", "type:double", "range:[0,30]", "range:[10,99.99]",
                     "allowed_values", "pattern", "not_null", "encoding"}


def test_one_record_at_a_time_gives_the_same_as_the_whole_request():
    whole = records_engine(text_frame(TEXT_ROWS), CONTRACT)
    for i, row in enumerate(TEXT_ROWS):
        values, reasons, _ = records_engine(text_frame([row]), CONTRACT)
        assert {c: v[0] for c, v in values.items()} == {c: v[i] for c, v in whole[0].items()}
        assert [(i, *r[1:]) for r in reasons] == [r for r in whole[1] if r[0] == i]


def test_sparks_surprises_are_kept():
    """What the parity above holds, spelled out: Spark's own behaviour, not the rules' intent
    (each is what ingestion wrote to the validated table and the quarantine)."""
    values, reasons, _ = records_engine(text_frame(TEXT_ROWS), CONTRACT)
    fields = {(i, field) for i, field, _, _ in reasons}
    # trim() strips spaces only, the cast to double strips any control character
    assert values["weight"][4] == 150.0 and (4, "weight") not in fields
    # Java's number grammar: "5d" is 5, "0x1p1" is 2
    assert values["days"][4] == 2 and (4, "code", "allowed_values", "5d") in {
        r[:4] for r in reasons}
    # a string column's numeric missing code is its text "9", not "9.0"
    assert values["sex"][4] is None and values["sex"][7] == "9.0"
    # the text "NaN" in an int column: a type error and out of range (NaN sorts above all)
    assert {r[2] for r in reasons if r[:2] == (7, "days")} == {"type:int", "range:[0,30]"}


NUMBER_TYPES = [TEXT, BIGINT, BIGINT, DOUBLE, DOUBLE, BIGINT, BIGINT, DOUBLE, DOUBLE, BOOLEAN,
                TEXT, DOUBLE, BIGINT]
NUMBER_ROWS = [
    ["1", 1, 12, 2345.0, 150.5, 1, 20230115, 2.0, 0.5, True, "a", 1.0, 250],
    ["2", 7, 88, None, 999.0, 9, None, None, None, False, "a", None, 25],
    ["3", None, 31, 999999.0, 501.0, 2, 1234567, 5.0, 2.0, None, "a", 2.0, None],
    ["4", 3000000000, 99, 1e20, -1.0, None, 12345678, 2.5, 1.0, True, "a", 3.0, 1000],
    ["5", 4, -1, 1000.0, 0.0, 3, 99999999, 1e10, 1.5, False, "a", 4.0, 1001],
]


def _number_frame():
    """The same cells as JSON numbers: an integer column with a null is object (Python ints
    and None), as pandas keeps it when told; a double column is float64 (NaN = null)."""
    columns = {}
    for j, (header, kind) in enumerate(zip(HEADERS, NUMBER_TYPES, strict=True)):
        cells = [row[j] for row in NUMBER_ROWS]
        dtype = "float64" if kind is DOUBLE else object
        columns[header] = pd.Series(cells, dtype=dtype)
    return pd.DataFrame(columns)


def test_json_numbers_take_the_number_path_as_typed_spark_columns_do(spark):
    spark_out = spark_engine(spark, HEADERS, NUMBER_TYPES, NUMBER_ROWS, CONTRACT)
    assert_same(spark_out, records_engine(_number_frame(), CONTRACT))
    shown = {(field, value) for _, field, _, value in spark_out[1]}
    # a bigint shows as 31, a double as 501.0; numbers in a string column as their text
    assert ("days", "31") in shown and ("weight", "501.0") in shown and ("sex", "3") in shown


def test_int64_and_float64_columns_read_without_per_cell_work(spark):
    headers = ["SEQNO", "Old Code", "Weight", "grade"]
    rows = [["1", 1, 150.5, 2.0], ["2", 3, 999.0, 7.0], ["3", 4, -2.0, 1.5]]
    types = [TEXT, BIGINT, DOUBLE, DOUBLE]
    frame = pd.DataFrame({h: [r[j] for r in rows] for j, h in enumerate(headers)})
    assert str(frame["Old Code"].dtype) == "int64" and str(frame["grade"].dtype) == "float64"
    spark_out = spark_engine(spark, headers, types, rows, CONTRACT)
    assert_same(spark_out, records_engine(frame, CONTRACT))


def test_a_cell_takes_the_path_of_its_own_json_type():
    """One record sends text where the others send numbers: the column is object, and each
    cell decodes as it would in a column of its own type (each of those is Spark's)."""
    numbers = _number_frame()
    texts = text_frame(TEXT_ROWS)
    mixed = pd.concat([numbers, texts], ignore_index=True)
    values, reasons, _ = records_engine(mixed, CONTRACT)
    alone = [records_engine(numbers, CONTRACT), records_engine(texts, CONTRACT)]
    offset = len(numbers)
    assert values == {c: alone[0][0][c] + alone[1][0][c] for c in values}
    assert reasons == alone[0][1] + [(i + offset, *r) for i, *r in alone[1][1]]


def test_pandas_nullable_columns_read_as_their_values():
    """A request frame with pandas' nullable dtypes decodes as the same values in plain
    columns (the records engine reads the cells, not the dtype)."""
    plain = pd.DataFrame({"SEQNO": pd.Series(["1", None, "3"], dtype=object),
                          "Old Code": pd.Series([1, None, 2], dtype=object),
                          "Weight": [150.5, np.nan, 600.0],
                          "grade": pd.Series([True, None, False], dtype=object),
                          "Note": pd.Series([[1, 2], {"a": 1}, None], dtype=object)})
    nullable = plain.astype({"SEQNO": "string", "Old Code": "Int64", "Weight": "Float64",
                             "grade": "boolean"})
    expected, got = records_engine(plain, CONTRACT), records_engine(nullable, CONTRACT)
    assert got[:2] == expected[:2]
    assert expected[0]["note"][:2] == ["[1, 2]", "{'a': 1}"]  # nested JSON: its text


def test_a_violation_reads_as_a_dict():
    assert RecordViolation(2, "bmi", "range:[10,99.99]", "999999").as_dict() == {
        "record": 2, "field": "bmi", "rule": "range:[10,99.99]", "value": "999999"}


# -- columns: names, absent, required, row-number key, clashes ----------------------------------
def test_decoded_frame_has_exactly_the_declared_columns_with_spark_types():
    decoded, _ = decode_records(text_frame(TEXT_ROWS[:1]), IngestionConfig.model_validate(
        CONTRACT))
    assert list(decoded.columns) == list(CONTRACT["columns"])
    assert str(decoded["code"].dtype) == "Int64" and decoded["bmi"].dtype == np.float64
    assert decoded["sex"].dtype == object and decoded["optional"].isna().all()


def test_an_absent_required_column_is_a_violation_of_every_record_where_spark_stops(spark):
    headers = [h for h in HEADERS if h != "SEQNO"]
    rows = [[v for h, v in zip(HEADERS, row, strict=True) if h != "SEQNO"]
            for row in TEXT_ROWS[:3]]
    with pytest.raises(DataQualityError, match="required column"):
        spark_engine(spark, headers, [TEXT] * len(headers), rows, CONTRACT)
    decoded, violations = decode_records(text_frame(rows, headers),
                                         IngestionConfig.model_validate(CONTRACT))
    seqno = [(v.record, v.rule, v.value) for v in violations if v.field == "seqno"]
    assert seqno == [(i, rule, None) for i in range(3) for rule in ("required", "not_null")]
    assert decoded["seqno"].isna().all()
    assert violations[0] == RecordViolation(0, "seqno", "required", None)


def test_a_key_absent_from_one_record_is_null_not_missing():
    frame = pd.DataFrame([{"SEQNO": "1", "grade": 2, "Weight": 3.0},
                          {"grade": 3, "Weight": 4.0}])
    _, violations = decode_records(frame, IngestionConfig.model_validate(CONTRACT))
    assert [(v.record, v.field, v.rule) for v in violations
            if v.field in ("seqno", "grade", "weight")] == [(1, "seqno", "not_null")]


def test_row_number_key_is_the_records_position_when_absent(spark):
    params = {"study": "keyed", "row_number_key": "id",
              "columns": {"id": {"type": "int", "required": True, "nullable": False},
                          "age": {"type": "double", "range": [0, 120]}}}
    rows = [["50"], ["130"], [""]]
    spark_out = spark_engine(spark, ["Age"], [TEXT], rows, params)
    records_out = records_engine(text_frame(rows, ["Age"]), params)
    assert_same(spark_out, records_out)
    assert records_out[0]["id"] == [0, 1, 2]


def test_columns_that_normalise_to_one_name_are_refused_by_both(spark):
    headers = ["SEQNO", "seqno "]
    with pytest.raises(DataQualityError, match="unique_column_names"):
        spark_engine(spark, headers, [TEXT, TEXT], [["1", "2"]], CONTRACT)
    with pytest.raises(DataQualityError, match="unique_column_names"):
        decode_records(text_frame([["1", "2"]], headers), IngestionConfig.model_validate(
            CONTRACT))


def test_lineage_columns_are_the_readers():
    assert PASSED_THROUGH == spark_rows.PASSED_THROUGH


# -- Spark's conversions ------------------------------------------------------------------------
def test_number_text_and_parsing_match_spark(spark):
    numbers = [0.1, 5.0, 23.45, 1e7, 9999999.0, 1e-3, 1e-4, 1e20, 1e-20, 123456789.0, -0.0,
               3e-5, 1234567.125, 100.0, 1 / 3, 2e22, -2.5, math.inf, -math.inf]
    cast = spark.createDataFrame([(n,) for n in numbers], "n double").selectExpr(
        "CAST(n AS STRING) AS s").collect()
    assert [java_double_text(n) for n in numbers] == [r["s"] for r in cast]
    texts = ["5d", "5F", " 5", "\t5", "5\x01", "0x1p3", "0X1P3", "0x.8p1", "0x10", "1_000",
             "inf", "-INF", "Infinity", "+Infinity", "-infinity", "NaN", "nan", "-NaN", "-nan",
             "+5", "1e400", ".5", "5.", "1e", "", ".", "+", "1.e2", "5 d", "1d5", "٥", "１",
             "\u00a05", "00012", "+.5e-3", "5L", "1,000", "0x1.8p1d", "\tinf", "inf\t", "iNf"]
    parsed = spark.createDataFrame([(t,) for t in texts], "t string").selectExpr(
        "try_cast(t AS DOUBLE) AS d").collect()
    assert [_text(parse_double(t)) for t in texts] == [_text(r["d"]) for r in parsed]


def _text(number: float | None) -> str | None:
    return None if number is None else repr(number)  # NaN == NaN as text


def test_code_text_is_the_rules_module_text():
    from health_risk.core.contract.rules import _as_text

    for number in [9, 9.0, 9.5, 1e-05, 77, 1e16, -3]:
        assert code_text(number) == _as_text(number)


# -- int columns: a value that is not a valid INT is a type error, in both engines ---------------
def _int_contract(nullable: bool) -> dict:
    return {"study": "ints", "columns": {
        "seqno": {"type": "string", "required": True, "nullable": False},
        "n": {"type": "int", "nullable": nullable},
        "m": {"type": "int", "nullable": nullable, "missing_codes": [7], "range": [0, 100]},
        "k": {"type": "int", "nullable": nullable, "allowed": [1, 2, 2147483647]}}}


INT_TEXTS = ["1e20", "Infinity", "-Infinity", "NaN", "3000000000", "-2147483649", "2147483647",
             "-2147483648", "2.5", "1.0", "-0", "x", "", "7", "2147483647.5", "-1e19"]
# Not valid INTs: shown as the quarantine shows them, each a type error (and NaN and values
# beyond the range also a range error of "m", whose range is checked on the number).
NOT_INT = {"1e20", "Infinity", "-Infinity", "NaN", "3000000000", "-2147483649", "2.5", "x",
           "2147483647.5", "-1e19"}


@pytest.mark.parametrize("nullable", [True, False])
def test_int_text_values_that_are_no_int_are_type_errors_in_both_engines(spark, nullable):
    params = _int_contract(nullable)
    headers = ["SEQNO", "n", "m", "k"]
    rows = [[str(i), t, t, t] for i, t in enumerate(INT_TEXTS)]
    spark_out = spark_engine(spark, headers, [TEXT] * 4, rows, params)
    assert_same(spark_out, records_engine(text_frame(rows, headers), params))
    values, reasons, types = spark_out
    assert types == {"seqno": "object", "n": "Int64", "m": "Int64", "k": "Int64"}
    by_cell = {}
    for i, field, rule, shown in reasons:
        assert shown == INT_TEXTS[i].strip() or (shown is None and INT_TEXTS[i] == "")
        by_cell.setdefault((INT_TEXTS[i], field), []).append(rule)
    for i, text in enumerate(INT_TEXTS):
        n_rules = by_cell.get((text, "n"), [])
        if text in NOT_INT:
            assert n_rules == ["type:int"], text  # never a silent null
            assert values["n"][i] is None and values["m"][i] is None and values["k"][i] is None
        elif text == "":
            assert n_rules == ([] if nullable else ["not_null"])
        else:
            assert n_rules == [] and values["n"][i] == int(float(text)), text
    assert by_cell[("NaN", "m")] == ["type:int", "range:[0,100]"]
    assert by_cell[("2.5", "m")] == ["type:int"]
    assert by_cell[("2147483647", "m")] == ["range:[0,100]"]
    assert by_cell.get(("2147483647", "k")) is None and values["k"][6] == 2147483647
    assert by_cell[("-2147483648", "k")] == ["allowed_values"]
    assert by_cell.get(("7", "m"), []) == ([] if nullable else ["not_null"])  # a missing code


@pytest.mark.parametrize("nullable", [True, False])
def test_int_json_numbers_that_are_no_int_are_type_errors_in_both_engines(spark, nullable):
    """JSON numbers: a float (Spark double) and an integer (Spark bigint) column."""
    params = _int_contract(nullable)
    headers = ["SEQNO", "n", "m"]
    doubles = [2.5, 1e20, math.inf, -1e19, 3e9, 2147483647.0, -2147483648.0, 1.0, None]
    longs = [3000000000, -2147483649, 2147483647, -2147483648, 2, 7, None, 0, 1]
    rows = [[str(i), d, b] for i, (d, b) in enumerate(zip(doubles, longs, strict=True))]
    spark_out = spark_engine(spark, headers, [TEXT, DOUBLE, BIGINT], rows, params)
    frame = pd.DataFrame({"SEQNO": [r[0] for r in rows],
                          "n": pd.Series(doubles, dtype="float64"),
                          "m": pd.Series(longs, dtype=object)})
    assert_same(spark_out, records_engine(frame, params))
    values, reasons, _ = spark_out
    type_errors = {(i, field, shown) for i, field, rule, shown in reasons if rule == "type:int"}
    assert type_errors == {(0, "n", "2.5"), (1, "n", "1.0E20"), (2, "n", "Infinity"),
                           (3, "n", "-1.0E19"), (4, "n", "3.0E9"), (0, "m", "3000000000"),
                           (1, "m", "-2147483649")}
    assert values["n"][5:8] == [2147483647, -2147483648, 1]
    assert values["m"][2:5] == [2147483647, -2147483648, 2]


def test_a_cell_beyond_a_long_is_quarantined_not_a_failed_job(spark):
    """``floor()`` of a double beyond a long overflows a BIGINT under ANSI: the int check once
    used it, and one such cell failed the whole Spark job. It is a type error of its row."""
    rows = [["1", "1e20", "1", "", "1", "", "", "1", "", "", ""]]
    headers = ["SEQNO", "Old Code", "Days", "BMI", "Weight", "Sex", "IDATE", "grade", "ratio",
               "Note", "Tenths"]
    spark_out = spark_engine(spark, headers, [TEXT] * len(headers), rows, CONTRACT)
    assert_same(spark_out, records_engine(text_frame(rows, headers), CONTRACT))
    assert (0, "code", "type:int", "1e20") in spark_out[1]
    _, violations = decode_records(text_frame(rows, headers), IngestionConfig.model_validate(
        CONTRACT))
    assert RecordViolation(0, "code", "type:int", "1e20") in violations


def test_an_int_column_with_implied_decimals_is_refused():
    with pytest.raises(ValueError, match="an int column cannot have implied_decimals.*double"):
        IngestionConfig.model_validate({"study": "x", "columns": {
            "tenths": {"type": "int", "implied_decimals": 1}}})
    config = IngestionConfig.model_validate({"study": "x", "columns": {
        "tenths": {"type": "int", "implied_decimals": 0},
        "bmi": {"type": "double", "implied_decimals": 2}}})
    assert config.columns["bmi"].implied_decimals == 2


# -- the engine does not need Spark ------------------------------------------------------------
def test_the_records_engines_import_without_pyspark():
    script = textwrap.dedent("""
        import sys
        import health_risk.core.contract.records
        import health_risk.core.features.records
        loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j'))
        assert not loaded, loaded
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False, cwd=Path(__file__).resolve().parents[3], timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
