"""CSV and SQL raw sources become Spark DataFrames of text with lineage columns."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DatasetError

from health_risk.datasets import SparkFromPandasDataset, SparkSourceDataset


def test_csv_is_read_as_text_with_header_case_kept_and_lineage(spark, tmp_path):
    path = tmp_path / "stroke.csv"
    path.write_text("id,Gender,bmi\r\n9046,Male,36.6\r\n51676,Female,N/A\r\n")
    df = SparkSourceDataset(filepath=str(path)).load()
    assert df.columns == ["id", "Gender", "bmi", "_malformed_record", "_source_file",
                          "_source_row"]
    rows = df.orderBy("_source_row").collect()
    assert [r["bmi"] for r in rows] == ["36.6", "N/A"]
    assert [r["_source_row"] for r in rows] == [0, 1]
    assert dict(df.dtypes)["id"] == "string"


def test_records_with_extra_or_missing_fields_keep_their_raw_line(spark, tmp_path):
    path = tmp_path / "insurance.csv"
    path.write_text('age,sex\n19,female\n18,male,EXTRA\n28\n"33",male\n')
    dataset = SparkSourceDataset(filepath=str(path))
    rows = {r["_source_row"]: r["_malformed_record"] for r in dataset.load().collect()}
    assert rows == {0: None, 1: "18,male,EXTRA", 2: "28", 3: None}
    # The source is named by the frame itself, even when it has no rows.
    path.write_text("age,sex\n")
    empty = dataset.load()
    assert empty.count() == 0
    from health_risk.datasets.lineage import sources_of

    assert sources_of(empty.select("age", "_source_file")) == [str(path)]


def test_the_field_count_holds_when_a_query_selects_only_some_columns(spark, tmp_path):
    """Spark's CSV column pruning would judge a record by the selected columns alone: a query
    that keeps `age` (the contract dropping `name`) must still see the bad lines."""
    path = tmp_path / "pruned.csv"
    path.write_text("age,name,sex\n19,Ann,female\n18,Bo,male,EXTRA\n28,Cy\n33,Di,male\n")
    kept = SparkSourceDataset(filepath=str(path)).load().select("age", "_malformed_record",
                                                                "_source_row")
    rows = {r["_source_row"]: (r["age"], r["_malformed_record"]) for r in kept.collect()}
    assert rows == {0: ("19", None), 1: ("18", "18,Bo,male,EXTRA"), 2: ("28", "28,Cy"),
                    3: ("33", None)}


def test_non_utf8_csv_shows_replacement_characters_for_the_validator(spark, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("id,gender\n1,f\xe9male\n".encode("latin-1"))
    row = SparkSourceDataset(filepath=str(path)).load().collect()[0]
    assert "\ufffd" in row["gender"]  # quarantined by the 'encoding' rule downstream


def test_empty_and_missing_csv_are_errors_naming_the_file(spark, tmp_path):
    path = tmp_path / "insurance.csv"
    with pytest.raises(DatasetError, match="not found"):
        SparkSourceDataset(filepath=str(path)).load()
    path.write_text("")
    with pytest.raises(DatasetError, match=r"insurance\.csv.*empty"):
        SparkSourceDataset(filepath=str(path)).load()


def test_sql_table_is_loaded_through_the_catalog_definition(spark, tmp_path):
    con = f"sqlite:///{tmp_path / 'insurance.db'}"
    table = pd.DataFrame({"age": [19, 18], "sex": ["female", "male"], "charges": [16884.924,
                                                                                  1725.5523]})
    definition = {"type": "pandas.SQLTableDataset", "table_name": "insurance_charges",
                  "credentials": {"con": con}, "save_args": {"index": False}}
    dataset = SparkFromPandasDataset(dataset=definition)
    dataset.save(table)
    query = SparkFromPandasDataset(
        dataset={"type": "pandas.SQLQueryDataset", "credentials": {"con": con},
                 "sql": "SELECT age, sex, charges FROM insurance_charges"},
        source_label="sql table insurance_charges")
    rows = query.load().orderBy("_source_row").collect()
    assert [(r["age"], r["sex"], r["charges"]) for r in rows] == [
        ("19", "female", "16884.924"), ("18", "male", "1725.5523")]
    assert rows[0]["_source_file"] == "sql table insurance_charges"


def test_unreadable_sql_source_is_a_clear_error(spark, tmp_path):
    dataset = SparkFromPandasDataset(dataset={
        "type": "pandas.SQLQueryDataset", "sql": "SELECT * FROM missing_table",
        "credentials": {"con": f"sqlite:///{tmp_path / 'empty.db'}"}})
    with pytest.raises(DatasetError, match="Cannot read raw source 'sql=SELECT"):
        dataset.load()
