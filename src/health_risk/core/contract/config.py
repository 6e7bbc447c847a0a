"""Validated ingestion configuration: one ``<study>.ingestion`` block per raw table.

Every rule a row can break is declared here, per column, so the same declaration drives the
decoding, the row-level quarantine and the pandera schema of the validated table.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from health_risk.core.strict import StrictModel

ColumnType = Literal["int", "double", "string"]
Code = int | float | str


def normalise_name(name: str) -> str:
    """'Residence_type ' -> 'residence_type', 'Full Name' -> 'full_name', '_BMI5' -> '_bmi5'."""
    text = re.sub(r"[^0-9a-z_]+", "_", str(name).strip().lower())
    return re.sub(r"_{2,}", "_", text).rstrip("_")


class ColumnRule(StrictModel):
    """How one column is decoded, typed and checked."""

    type: ColumnType
    required: bool = False  # must exist in the source file, otherwise the run fails
    nullable: bool = True  # a null after decoding quarantines the row when False
    missing_codes: list[Code] = Field(default_factory=list)  # don't know / refused / N/A -> null
    zero_codes: list[Code] = Field(default_factory=list)  # e.g. BRFSS 88 = "none" -> 0
    implied_decimals: int = Field(0, ge=0, le=6)  # _BMI5 2345 -> 23.45
    allowed: list[Code] | None = None
    range: tuple[float, float] | None = None  # inclusive, on the decoded value
    pattern: str | None = None  # regular expression a string value must match

    @model_validator(mode="after")
    def _checks_fit_type(self) -> ColumnRule:
        if self.type == "string" and (self.range or self.implied_decimals or self.zero_codes):
            raise ValueError("range / implied_decimals / zero_codes apply to numeric columns")
        if self.type == "int" and self.implied_decimals:
            # stored / 10^k may have decimals, which an int cannot hold (a null, silently).
            raise ValueError(f"an int column cannot have implied_decimals "
                             f"({self.implied_decimals}): its decoded value has decimals; "
                             "declare it type: double")
        if self.pattern is not None:
            re.compile(self.pattern)
        return self


def normalised_renames(cls, value) -> dict[str, str]:
    """A ``rename`` map (source name -> contract name) with both sides normalised: the one
    validator of a study's and a year's renames."""
    return {normalise_name(k): normalise_name(v) for k, v in dict(value or {}).items()}


class YearRules(StrictModel):
    """How one survey year's file differs from the contract: its names and its codes.

    ``rename`` maps that year's variable names onto the contract's columns (BRFSS 2016 ``SEX``
    -> ``sexvar``); ``recode`` maps that year's codes of a (contract) column onto the
    contract's codes (2016 ``HLTHPLN1`` 7 "don't know" -> ``_hlthpl1``'s 9), applied before the
    column is decoded; a code mapped to null is "not comparable" (null, counted as missing).
    A column neither renamed nor present in the year's file is a question that year did not
    ask: null in its rows, listed per year in the validation report."""

    rename: dict[str, str] = Field(default_factory=dict)
    recode: dict[str, dict[Code, Code | None]] = Field(default_factory=dict)

    _normalise_rename = field_validator("rename", mode="before")(normalised_renames)

    @field_validator("recode", mode="before")
    @classmethod
    def _normalise_recode(cls, value):
        return {normalise_name(k): v for k, v in dict(value or {}).items()}


class IngestionConfig(StrictModel):
    """The ingestion contract of one study's raw table."""

    study: str
    columns: dict[str, ColumnRule]
    # Source names that differ between releases, e.g. BRFSS 2024 PRIMINS2 -> primins1 (every
    # year of a folder source; a year's own `years.<year>.rename` wins).
    rename: dict[str, str] = Field(default_factory=dict)
    # Per survey year (a folder of yearly files, the year read from each file): its renames
    # and recodes onto this contract.
    years: dict[int, YearRules] = Field(default_factory=dict)
    personal_columns: list[str] = Field(default_factory=list)
    # Keys that must not repeat: a column, or a list of columns forming one key (BRFSS SEQNO is
    # numbered within each state, so its key is [_state, seqno]).
    unique: list[list[str]] = Field(default_factory=list)
    duplicate_rows: Literal["keep", "quarantine"] = "keep"
    max_quarantine_share: float = Field(0.05, ge=0.0, le=1.0)
    min_rows: int = Field(1, ge=0)
    # The published record count of the source (e.g. the BRFSS codebook's per year): a file that
    # yields another number of rows stops the run (a truncated download cut on a record border).
    expected_rows: int | None = Field(None, ge=0)
    # When a copy of the source has no such column (the stroke file as some mirrors ship it),
    # it is filled with the reader's row number (`_source_row`): a stable key for that file.
    row_number_key: str | None = None
    # A column with fewer non-null values than this share is reported (all-null ones always).
    sparse_column_share: float = Field(0.01, ge=0.0, le=1.0)
    pandera_depth: Literal["SCHEMA_ONLY", "DATA_ONLY", "SCHEMA_AND_DATA"] = "SCHEMA_AND_DATA"

    @field_validator("columns", mode="before")
    @classmethod
    def _normalise_column_names(cls, value):
        return {normalise_name(k): v for k, v in dict(value).items()}

    _normalise_rename = field_validator("rename", mode="before")(normalised_renames)

    @field_validator("row_number_key", mode="before")
    @classmethod
    def _normalise_key(cls, value):
        return normalise_name(value) if value else None

    @field_validator("personal_columns", mode="before")
    @classmethod
    def _normalise_names(cls, value):
        return [normalise_name(v) for v in value or []]

    @field_validator("unique", mode="before")
    @classmethod
    def _normalise_keys(cls, value):
        keys = [[key] if isinstance(key, str) else list(key) for key in value or []]
        return [[normalise_name(c) for c in key] for key in keys]

    @model_validator(mode="after")
    def _unique_columns_declared(self) -> IngestionConfig:
        unknown = [c for key in self.unique for c in key if c not in self.columns]
        if unknown:
            raise ValueError(f"unique columns {unknown} are not declared under columns")
        if self.row_number_key and self.row_number_key not in self.columns:
            raise ValueError(f"row_number_key '{self.row_number_key}' is not declared under "
                             "columns")
        clash = [c for c in self.personal_columns if c in self.columns]
        if clash:
            raise ValueError(f"personal columns {clash} must not be declared as kept columns")
        for year, rules in self.years.items():
            unknown = sorted({*rules.rename.values(), *rules.recode} - set(self.columns))
            if unknown:
                raise ValueError(f"years.{year}: {unknown} are not declared under columns "
                                 "(rename and recode map onto the contract's columns)")
        return self

    def renames_for(self, year: int | None) -> dict[str, str]:
        """Source name -> contract column for a part of ``year`` (every year's ``rename``,
        then the year's own)."""
        rules = self.years.get(year) if year is not None else None
        return {**self.rename, **(rules.rename if rules else {})}

    def recodes_for(self, year: int | None) -> dict[str, dict]:
        rules = self.years.get(year) if year is not None else None
        return dict(rules.recode) if rules else {}

    @property
    def required_columns(self) -> list[str]:
        return [name for name, rule in self.columns.items() if rule.required]
