"""Bad inputs a user drops into data/01_raw: each is a clear error naming the source, column
and rule, or a quarantine row with its reason; rows read always equal passed + quarantined."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from health_risk.core.contract.rows import extract_quarantine, flag_invalid_rows, normalise_columns
from health_risk.core.errors import DataQualityError
from health_risk.datasets import SparkSourceDataset
from health_risk.pipelines.ingestion.nodes import build_validation_report, publish_validated_table
from health_risk.pipelines.sample_data.table_generators import (
    generate_insurance_charges,
    generate_stroke_patients,
)

from ...committed_config import PARAMETERS, committed_params


def _ingest(path, params):
    raw = SparkSourceDataset(filepath=str(path)).load()
    normalised, audit = normalise_columns(raw, params)
    flagged = flag_invalid_rows(normalised, params)
    quarantine = extract_quarantine(flagged, params).localCheckpoint()
    report = build_validation_report(normalised, flagged, quarantine, audit, params)
    assert report["rows_read"] == report["rows_passed"] + report["rows_quarantined"]
    return report, quarantine, publish_validated_table(flagged, report, params)


def _spec(name):
    return yaml.safe_load((PARAMETERS / "sample_data_tables_spec.yml").read_text())[name]


@pytest.fixture()
def params():
    return committed_params("ingestion")


def test_extra_fields_are_quarantined_with_the_raw_line_not_dropped(spark, tmp_path, params):
    path = tmp_path / "insurance.csv"
    generate_insurance_charges(60, 3, _spec("insurance_spec")).to_csv(path, index=False)
    lines = path.read_text().splitlines()
    lines[5] += ",999,unexpected"  # two values more than the header
    path.write_text("\n".join(lines) + "\n")
    report, quarantine, _ = _ingest(path, params["insurance"]["ingestion"])
    assert report["rows_read"] == 60
    rows = quarantine.filter("first_rule = 'field_count'").collect()
    assert len(rows) == 1 and rows[0]["raw_record"].endswith(",999,unexpected")
    assert rows[0]["_source_row"] == 4  # the 5th record after the header


def test_a_header_only_file_stops_naming_the_file(spark, tmp_path, params):
    path = tmp_path / "healthcare-dataset-stroke-data.csv"
    generate_stroke_patients(5, 1, _spec("stroke_spec")).head(0).to_csv(path, index=False)
    with pytest.raises(DataQualityError, match=rf"stroke \({path}\): 0 rows read.*min_rows"):
        _ingest(path, params["stroke"]["ingestion"])


def test_the_stroke_copy_without_an_id_is_keyed_by_row_number(spark, tmp_path, params):
    # Title-Case headers, personal columns, no id column: as the original AWS pipeline's copy.
    frame = generate_stroke_patients(200, 2, _spec("stroke_spec"), personal_columns=True)
    frame = frame.drop(columns=[c for c in frame.columns if c.lower() == "id"])
    path = tmp_path / "stroke.csv"
    frame.to_csv(path, index=False)
    report, _, validated = _ingest(path, params["stroke"]["ingestion"])
    assert report["key_from_row_number"] == "id" and report["rows_passed"] == 200
    assert report["dropped_personal_columns"] == ["address", "admission_date", "full_name",
                                                  "phone_number"]
    ids = [r["id"] for r in validated.orderBy("_source_row").select("id").collect()]
    assert ids == list(range(200))


def test_an_expected_record_count_catches_a_partial_file(spark, tmp_path, params):
    path = tmp_path / "insurance.csv"
    generate_insurance_charges(40, 3, _spec("insurance_spec")).to_csv(path, index=False)
    contract = {**params["insurance"]["ingestion"], "expected_rows": 1338}
    with pytest.raises(DataQualityError, match=r"insurance\.csv\): 40 rows read, the source "
                                               r"should hold 1338 \(rule: expected_rows\)"):
        _ingest(path, contract)


def test_an_all_blank_column_is_reported(spark, tmp_path, params):
    path = tmp_path / "stroke.csv"
    frame = generate_stroke_patients(120, 4, _spec("stroke_spec"))
    frame["bmi"] = ""
    frame.to_csv(path, index=False)
    report, _, _ = _ingest(path, params["stroke"]["ingestion"])
    assert report["empty_columns"] == ["bmi"]
    assert report["rows_passed"] == 120  # blank is missing, not wrong: the rows pass
    frame.loc[:1, "bmi"] = "30.1"  # 2 of 120 values: reported under a 5 % floor
    path = tmp_path / "stroke_two_bmi.csv"  # another file: Spark would reuse the cached scan
    frame.to_csv(path, index=False)
    contract = {**params["stroke"]["ingestion"], "sparse_column_share": 0.05}
    report, _, _ = _ingest(path, contract)
    assert report["empty_columns"] == [] and report["sparse_columns"] == {
        "bmi": pytest.approx(2 / 120, abs=1e-6)}


def test_every_saipe_record_is_a_row_or_counted_as_skipped(spark, tmp_path):
    from health_risk.datasets import SaipeDataset
    from health_risk.datasets.lineage import skipped_records
    from health_risk.pipelines.sample_data.table_generators import generate_saipe_states

    cells = generate_saipe_states(2022, 5, _spec("saipe_spec"))
    states = SaipeDataset(filepath=str(tmp_path / "clean.xls"))
    states.save(cells)
    rows = states.load().count()
    blank = [None] * cells.shape[1]
    note = ["Note: 90% confidence intervals.", *[None] * (cells.shape[1] - 1)]
    keyless = ["", *cells.iloc[-1, 1:].tolist()]  # data without a state code: kept, not lost
    extended = pd.concat([cells, pd.DataFrame([blank, note, keyless], columns=cells.columns)],
                         ignore_index=True)
    path = tmp_path / "est22us.xls"
    SaipeDataset(filepath=str(path)).save(extended)
    table = SaipeDataset(filepath=str(path)).load()
    assert skipped_records(table) == {"blank_rows": 1, "footnote_rows": 1}
    assert table.count() == rows + 1
    assert table.filter("state_fips is null").count() == 1  # the contract quarantines it


def _personal_values(frame: pd.DataFrame) -> set[str]:
    """Every personal value of a generated Title-Case copy, and each comma-separated fragment
    of it (what an unquoted comma would spread over other columns)."""
    values = set()
    for column in ("Full Name", "Phone Number", "Address", "Admission Date"):
        for value in frame[column].astype(str):
            values |= {value, *(part.strip() for part in value.split(","))}
    return {v for v in values if v}


def test_a_field_too_many_is_quarantined_when_the_contract_drops_a_column(spark, tmp_path,
                                                                          params):
    """An undeclared column the contract drops used to hide the field count: Spark parsed only
    the kept columns and published the row with its extra value dropped."""
    frame = generate_stroke_patients(120, 5, _spec("stroke_spec"))
    frame["notes"] = "n/a"  # undeclared: dropped by the contract
    path = tmp_path / "stroke_with_notes.csv"
    frame.to_csv(path, index=False)
    lines = path.read_text().splitlines()
    for number in (7, 40):  # records 6 and 39 (after the header) get one field too many
        lines[number] += ",unexpected"
    path.write_text("\n".join(lines) + "\n")
    report, quarantine, validated = _ingest(path, params["stroke"]["ingestion"])
    assert report["dropped_undeclared_columns"] == ["notes"]
    assert (report["rows_read"], report["rows_passed"], report["rows_quarantined"]) == \
        (120, 118, 2)
    rows = {r["_source_row"]: r for r in quarantine.collect()}
    assert sorted(rows) == [6, 39]
    for row_number, row in rows.items():
        assert row["first_rule"] == "field_count" and row["first_column"] == "*"
        assert row["raw_record"] == lines[row_number + 1]  # the line exactly as read
    assert validated.filter("_source_row in (6, 39)").count() == 0


def test_an_unquoted_comma_in_an_address_is_a_field_count_with_no_personal_fragment(
        spark, tmp_path, params):
    """A Title-Case copy with personal columns: an address whose quotes were lost spreads over
    the next columns. The row is quarantined by its field count, with its raw line; no
    personal value or fragment of one is in any other quarantine column."""
    frame = generate_stroke_patients(150, 6, _spec("stroke_spec"), personal_columns=True)
    path = tmp_path / "stroke_title_case.csv"
    frame.to_csv(path, index=False)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("Full Name,Phone Number,Address,")
    assert lines[12].count('"') == 2  # only the address is quoted (it holds commas)
    lines[12] = lines[12].replace('"', "")  # record 11: "12 Oak St, Salem, OR" -> 3 fields
    lines[31] += ",extra"  # record 30: one field too many at the end
    path.write_text("\n".join(lines) + "\n")
    report, quarantine, validated = _ingest(path, params["stroke"]["ingestion"])
    assert report["dropped_personal_columns"] == ["address", "admission_date", "full_name",
                                                  "phone_number"]
    assert (report["rows_read"], report["rows_passed"], report["rows_quarantined"]) == \
        (150, 148, 2)
    assert report["violations"] == [{"rule": "field_count", "column": "*", "rows": 2}]
    rows = {r["_source_row"]: r for r in quarantine.collect()}
    assert sorted(rows) == [11, 30]
    personal = _personal_values(frame)
    for row_number, row in rows.items():
        assert row["raw_record"] == lines[row_number + 1]
        assert [r["rule"] for r in row["reasons"]] == ["field_count"]
        shown = {row["study"], row["_source_file"], str(row["_source_row"]), row["first_rule"],
                 row["first_column"], *(str(v) for r in row["reasons"] for v in r)}
        leaked = {p for p in personal for text in shown if p in text}
        assert not leaked, f"personal values outside the raw line: {leaked}"
    assert validated.filter("_source_row in (11, 30)").count() == 0
