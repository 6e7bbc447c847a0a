"""Validated parameters of the sample-data generator."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from health_risk.core.strict import StrictModel


class BrfssSample(StrictModel):
    """One file per survey year in ``years`` (``year`` alone when ``years`` is not set), each
    of ``n_rows`` respondents in that year's variable names (the spec's ``file_layouts``)."""

    n_rows: int = Field(20_000, ge=100, le=5_000_000)  # per year
    year: int = Field(2023, ge=2011, le=2100)
    years: list[Annotated[int, Field(ge=2011, le=2100)]] | None = Field(None, min_length=1)

    @field_validator("years", mode="before")
    @classmethod
    def _years_from_text(cls, value):
        """``--params`` cannot pass a list: ``2023``, ``2016+2023`` and ``2014-2023`` (a range)
        are read as lists of years."""
        if isinstance(value, int):
            return [value]
        if isinstance(value, str):
            years = []
            for part in value.replace(" ", "").split("+"):
                first, _, last = part.partition("-")
                years += list(range(int(first), int(last or first) + 1))
            return years
        return value

    @model_validator(mode="after")
    def _years_once(self) -> BrfssSample:
        if self.years and len(set(self.years)) != len(self.years):
            raise ValueError(f"years {self.years} repeat a year: one file per survey year")
        return self

    @property
    def survey_years(self) -> list[int]:
        return sorted(self.years) if self.years else [self.year]


class CensusSample(StrictModel):
    year: int = Field(2022, ge=2000, le=2100)


class StrokeSample(StrictModel):
    n_rows: int = Field(5_110, ge=100, le=5_000_000)
    personal_columns: bool = False  # add the name/phone/address columns some copies carry


class InsuranceSample(StrictModel):
    n_rows: int = Field(1_338, ge=100, le=5_000_000)


class SampleDataConfig(StrictModel):
    seed: int = 20231
    brfss: BrfssSample = BrfssSample()
    census: CensusSample = CensusSample()
    stroke: StrokeSample = StrokeSample()
    insurance: InsuranceSample = InsuranceSample()
