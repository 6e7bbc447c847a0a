"""US Census SAIPE state and national estimates, as published (``est{YY}us.xls``).

The sheet has three title rows, the header on row 4 (index 3) and repeated header texts
(``90% CI Lower Bound`` after every estimate). Loading checks that header, gives each column a
unique snake_case name by position and returns a Spark DataFrame of text cells (the ingestion
casts and validates them like any other raw source). The ``est{YY}all.xls`` file (counties too)
is accepted: its state rows are those with county FIPS ``000``.

Saving writes a DataFrame of cells (row 0 = first title row) to a genuine ``.xls`` workbook.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from health_risk.datasets.lineage import SOURCE_FILE, SOURCE_ROW, get_spark, tag_source
from health_risk.datasets.paths import Location

HEADER_ROW = 3
_MEASURES = [
    ("Poverty Estimate, All Ages", "poverty_count_all_ages"),
    ("Poverty Percent, All Ages", "poverty_pct_all_ages"),
    ("Poverty Estimate, Age 0-17", "poverty_count_0_17"),
    ("Poverty Percent, Age 0-17", "poverty_pct_0_17"),
    ("Poverty Estimate, Age 5-17 in Families", "poverty_count_5_17_families"),
    ("Poverty Percent, Age 5-17 in Families", "poverty_pct_5_17_families"),
    ("Median Household Income", "median_household_income"),
    ("Poverty Estimate, Age 0-4", "poverty_count_0_4"),
    ("Poverty Percent, Age 0-4", "poverty_pct_0_4"),
]
ID_HEADERS = [("State FIPS Code", "state_fips"), ("Postal Code", "postal_code"), ("Name", "name")]
COUNTY_HEADER = "County FIPS Code"


def saipe_columns() -> list[tuple[str, str]]:
    """(published header, canonical name) for every column of the state file, in order."""
    columns = list(ID_HEADERS)
    for header, name in _MEASURES:
        columns += [(header, name), ("90% CI Lower Bound", f"{name}_lb90"),
                    ("90% CI Upper Bound", f"{name}_ub90")]
    return columns


class SaipeDataset(AbstractDataset):
    """A SAIPE ``.xls`` / ``.xlsx`` sheet loaded as a Spark DataFrame of state rows."""

    def __init__(self, filepath: str, sheet_name: int | str = 0,
                 metadata: dict[str, Any] | None = None) -> None:
        self._source = Location.of(filepath)
        self._filepath = self._source.url  # local path or URL, as configured
        self._sheet = sheet_name
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "sheet_name": self._sheet}

    def _exists(self) -> bool:
        return self._source.is_file()

    def load(self):
        cells = self._read_cells()
        header = [str(v).strip() if pd.notna(v) else "" for v in cells.iloc[HEADER_ROW]]
        expected = saipe_columns()
        has_county = len(header) > 1 and header[1] == COUNTY_HEADER
        published = [h for i, h in enumerate(header) if not (has_county and i == 1)]
        for position, (want, name) in enumerate(expected):
            got = published[position] if position < len(published) else "<missing>"
            if got != want:
                raise DatasetError(
                    f"SAIPE file '{self._filepath}': column {position + 1} ('{name}') should "
                    f"have header '{want}' but has '{got}' (rule: published SAIPE layout, "
                    f"header on row {HEADER_ROW + 1})."
                )
        body = cells.iloc[HEADER_ROW + 1:].reset_index(drop=True)
        body.insert(0, SOURCE_ROW, range(HEADER_ROW + 1, HEADER_ROW + 1 + len(body)))
        # Every physical row below the header is a state row, or is counted as skipped by kind
        # (the validation report shows the counts); a row with data but no usable key is kept,
        # and the contract quarantines it.
        cells_text = body.drop(columns=[SOURCE_ROW]).map(_cell_text)
        filled = cells_text.notna().sum(axis=1)
        first = cells_text.iloc[:, 0]
        blank = filled == 0
        footnote = (filled == 1) & first.notna() & ~first.fillna("").str.fullmatch(r"\d+")
        skipped = {"blank_rows": int(blank.sum()), "footnote_rows": int(footnote.sum())}
        keep = ~(blank | footnote)
        if has_county:
            county = body.iloc[:, 2].map(_cell_text)
            counties = keep & ~county.isin(["000", "0"])
            skipped["county_rows"] = int(counties.sum())
            keep &= ~counties
            body = body.drop(columns=body.columns[2])
        body = body[keep].iloc[:, : len(expected) + 1]
        body.columns = [SOURCE_ROW] + [name for _, name in expected]
        text = body.drop(columns=[SOURCE_ROW]).map(_cell_text)
        text[SOURCE_FILE] = str(self._filepath)
        text[SOURCE_ROW] = body[SOURCE_ROW].astype("int64").to_numpy()
        schema = ", ".join(
            f"`{c}` {'bigint' if c == SOURCE_ROW else 'string'}" for c in text.columns
        )
        frame = get_spark().createDataFrame(text.astype(object).where(text.notna(), None),
                                            schema=schema)
        return tag_source(frame, str(self._filepath), skipped=skipped)

    def _read_cells(self) -> pd.DataFrame:
        if not self._source.is_file():
            raise DatasetError(f"SAIPE file not found: '{self._filepath}'. See README.")
        if self._source.size() == 0:
            raise DatasetError(f"SAIPE file '{self._filepath}' is empty (0 bytes).")
        try:
            with self._source.open("rb") as handle:  # a workbook is small: read it whole
                content = io.BytesIO(handle.read())
            cells = pd.read_excel(content, sheet_name=self._sheet, header=None, dtype=object)
        except Exception as exc:
            raise DatasetError(f"Cannot read SAIPE workbook '{self._filepath}': {exc}") from exc
        if len(cells) <= HEADER_ROW:
            raise DatasetError(f"SAIPE file '{self._filepath}' has no header row {HEADER_ROW+1}.")
        return cells

    def save(self, data: pd.DataFrame) -> None:
        import xlwt

        book = xlwt.Workbook()
        sheet = book.add_sheet("est")
        for r, row in enumerate(data.itertuples(index=False, name=None)):
            for c, value in enumerate(row):
                if value is None or (isinstance(value, float) and pd.isna(value)):
                    continue
                sheet.write(r, c, value.item() if hasattr(value, "item") else value)
        buffer = io.BytesIO()
        book.save(buffer)
        self._source.make_parent()
        with self._source.open("wb") as handle:
            handle.write(buffer.getvalue())


def _cell_text(value) -> str | None:
    """A cell as the text a person reads: 1234.0 -> '1234', '01' stays '01', blank -> None."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None
