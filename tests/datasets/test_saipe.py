"""The SAIPE loader reads the published .xls layout (title rows, header on row 4)."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DatasetError

from health_risk.datasets import SaipeDataset
from health_risk.datasets.saipe import saipe_columns


def _cells(rows):
    header = [h for h, _ in saipe_columns()]
    title = [["Table 1: 2022 Poverty and Median Household Income Estimates"],
             ["Source: U.S. Census Bureau, SAIPE"], ["Release date: December 2023"]]
    width = len(header)
    body = [title[0] + [None] * (width - 1), title[1] + [None] * (width - 1),
            title[2] + [None] * (width - 1), header] + rows
    return pd.DataFrame(body)


def _row(fips, postal, name, pct, income):
    values = [fips, postal, name]
    for _ in range(9):
        values += [pct, pct - 0.5, pct + 0.5]
    values[21:24] = [income, income - 900, income + 900]  # median household income block
    return values


def test_round_trip_gives_canonical_names_text_cells_and_lineage(spark, tmp_path):
    path = tmp_path / "est22us.xls"
    SaipeDataset(str(path)).save(_cells([_row("00", "US", "United States", 12.6, 74755),
                                         _row("01", "AL", "Alabama", 15.6, 59674)]))
    rows = SaipeDataset(str(path)).load().orderBy("_source_row").collect()
    assert [r["state_fips"] for r in rows] == ["00", "01"]
    assert rows[1]["median_household_income"] == "59674"
    assert rows[1]["poverty_pct_all_ages_lb90"] == "15.1"
    assert rows[0]["_source_row"] == 4 and rows[0]["_source_file"].endswith("est22us.xls")


def test_county_file_keeps_state_rows_only(spark, tmp_path):
    cells = _cells([])
    cells.insert(1, "county", [None, None, None, "County FIPS Code"])
    cells.columns = range(cells.shape[1])
    state = _row("01", "AL", "Alabama", 15.6, 59674)
    county = _row("01", "AL", "Autauga County", 11.0, 68315)
    body = pd.DataFrame([state[:1] + ["000"] + state[1:], county[:1] + ["001"] + county[1:]])
    path = tmp_path / "est22all.xls"
    SaipeDataset(str(path)).save(pd.concat([cells, body], ignore_index=True))
    rows = SaipeDataset(str(path)).load().collect()
    assert [r["name"] for r in rows] == ["Alabama"]


def test_unexpected_header_names_file_column_and_rule(spark, tmp_path):
    cells = _cells([_row("01", "AL", "Alabama", 15.6, 59674)])
    cells.iloc[3, 21] = "Median Income"
    path = tmp_path / "est22us.xls"
    SaipeDataset(str(path)).save(cells)
    with pytest.raises(DatasetError) as err:
        SaipeDataset(str(path)).load()
    message = str(err.value)
    assert "est22us.xls" in message and "median_household_income" in message
    assert "published SAIPE layout" in message


def test_empty_or_missing_workbook_is_a_clear_error(spark, tmp_path):
    path = tmp_path / "est22us.xls"
    with pytest.raises(DatasetError, match="not found"):
        SaipeDataset(str(path)).load()
    path.write_bytes(b"")
    with pytest.raises(DatasetError, match="empty"):
        SaipeDataset(str(path)).load()
    path.write_bytes(b"not a workbook at all")
    with pytest.raises(DatasetError, match="Cannot read SAIPE workbook"):
        SaipeDataset(str(path)).load()


def test_reads_a_workbook_any_fsspec_filesystem_holds(spark):
    url = "memory://raw/census/est22us.xls"  # stands in for s3a:// or abfss://
    SaipeDataset(url).save(_cells([_row("06", "CA", "California", 12.2, 91551)]))
    (row,) = SaipeDataset(url).load().collect()
    assert row["name"] == "California" and row["_source_file"] == url
    with pytest.raises(DatasetError, match=r"SAIPE file not found: 'memory://raw/census/x\.xls'"):
        SaipeDataset("memory://raw/census/x.xls").load()
