"""The row contract over a source of yearly parts (a folder of BRFSS years): each year's names
and codes onto the contract, questions a year did not ask, every row accounted per year."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from health_risk.core.contract.rows import extract_quarantine, flag_invalid_rows, normalise_columns
from health_risk.core.errors import DataQualityError
from health_risk.datasets import SasXportDataset
from health_risk.datasets.lineage import parts_of, sources_of
from health_risk.pipelines.ingestion.nodes import build_validation_report, publish_validated_table

CONTRACT = {
    "study": "survey",
    "unique": [["seqno"]],
    "max_quarantine_share": 0.5,
    "columns": {
        "seqno": {"type": "string", "required": True, "nullable": False},
        "iyear": {"type": "int"},
        "sexvar": {"type": "int", "required": True, "missing_codes": [7, 9],
                   "allowed": [1, 2]},
        "_hlthpl1": {"type": "int", "missing_codes": [9], "allowed": [1, 2]},
        "_urbstat": {"type": "int", "allowed": [1, 2]},
    },
    "years": {2016: {"rename": {"SEX": "SEXVAR", "HLTHPLN1": "_HLTHPL1"},
                     "recode": {"_hlthpl1": {7: 9}}}},
}


def _year(year, sex, coverage, urban=None, sex_name="SEXVAR", coverage_name="_HLTHPL1"):
    n = len(sex)
    frame = pd.DataFrame({"SEQNO": [f"{year}{i:06d}" for i in range(n)],
                          "IYEAR": [str(year)] * n,
                          sex_name: np.array(sex, dtype=float),
                          coverage_name: np.array(coverage, dtype=float)})
    if urban is not None:
        frame["_URBSTAT"] = np.array(urban, dtype=float)
    return frame


@pytest.fixture(scope="module")
def two_years(spark, tmp_path_factory):
    folder = tmp_path_factory.mktemp("years")
    dataset = SasXportDataset(filepath=str(folder / "brfss"), staging_path=str(folder / "st"))
    dataset.save({
        # 2016 asks coverage as HLTHPLN1 (7 = don't know) and sex as SEX; no _URBSTAT.
        "LLCP2016.XPT": _year(2016, [1, 2, 2, 5], [1, 7, 2, 9], sex_name="SEX",
                              coverage_name="HLTHPLN1"),
        "LLCP2023.XPT": _year(2023, [2, 1, 1], [9, 1, 7], urban=[1, 2, 2]),
    })
    return dataset.load()


def test_each_years_variables_and_codes_land_on_the_contract(two_years):
    normalised, audit = normalise_columns(two_years, CONTRACT)
    flagged = flag_invalid_rows(normalised, CONTRACT)
    rows = {r["seqno"]: r for r in flagged.collect()}
    assert [rows[f"2016{i:06d}"]["sexvar"] for i in range(4)] == [1, 2, 2, 5]  # 5: not allowed
    # 2016's 7 is recoded to the contract's 9 (missing); 2023's 7 is not a code of _hlthpl1.
    assert [rows[f"2016{i:06d}"]["_hlthpl1"] for i in range(4)] == [1, None, 2, None]
    assert rows["2023000002"]["_hlthpl1"] == 7
    assert [r["rule"] for r in rows["2023000002"]["_quarantine_reasons"]] == ["allowed_values"]
    assert [r["rule"] for r in rows["2016000003"]["_quarantine_reasons"]] == ["allowed_values"]
    assert all(rows[f"2016{i:06d}"]["_urbstat"] is None for i in range(4))
    assert audit["years"]["2016"]["absent_optional_columns"] == ["_urbstat"]
    assert audit["years"]["2016"]["renamed"] == {"SEX": "sexvar", "HLTHPLN1": "_hlthpl1"}
    assert audit["years"]["2016"]["recoded"] == ["_hlthpl1"]
    assert audit["years"]["2023"]["absent_optional_columns"] == []
    assert audit["absent_optional_columns"] == []  # every column is in some year
    # Normalised columns are the contract's: a second normalisation (batch inference does one)
    # maps nothing again, and the files are still named.
    assert parts_of(normalised) == [] and len(sources_of(normalised)) == 2
    again, _ = normalise_columns(normalised, CONTRACT)
    assert again.columns == normalised.columns


def test_every_row_is_accounted_for_per_year(two_years):
    normalised, audit = normalise_columns(two_years, CONTRACT)
    flagged = flag_invalid_rows(normalised, CONTRACT)
    quarantine = extract_quarantine(flagged, CONTRACT)
    report = build_validation_report(normalised, flagged, quarantine, audit, CONTRACT)
    years = report["years"]
    assert {y: (c["rows_in_file"], c["rows_read"], c["rows_passed"], c["rows_quarantined"])
            for y, c in years.items()} == {"2016": (4, 4, 3, 1), "2023": (3, 3, 2, 1)}
    assert report["accounting_balanced"] and all(c["accounting_balanced"]
                                                 for c in years.values())
    assert sorted(quarantine.toPandas()["_survey_year"]) == [2016, 2023]
    assert publish_validated_table(flagged, report, CONTRACT).count() == 5
    # A year whose file held more rows than were read stops the run, naming the year.
    short = {**report, "accounting_balanced": False,
             "years": {**years, "2023": {**years["2023"], "rows_in_file": 4,
                                         "accounting_balanced": False}}}
    with pytest.raises(DataQualityError, match=r"by survey year: \{'2023'"):
        publish_validated_table(flagged, short, CONTRACT)


def test_a_year_without_a_required_column_stops_naming_its_file(two_years):
    without_map = {**CONTRACT, "years": {}}
    with pytest.raises(DataQualityError, match=r"LLCP2016\.XPT \(survey year 2016\).*sexvar"):
        normalise_columns(two_years, without_map)
