"""Validated parameters of the sample-data generator."""

from pydantic import Field

from health_risk.core.strict import StrictModel


class BrfssSample(StrictModel):
    n_rows: int = Field(20_000, ge=100, le=5_000_000)
    year: int = Field(2023, ge=2011, le=2100)


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
