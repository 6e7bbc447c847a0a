"""Sample-data nodes: one per raw table, each a seeded generator call.

Every table gets its own seed derived from the base seed, so changing the size of one table
does not change the others.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pandas as pd

from health_risk.pipelines.sample_data.brfss_generator import (
    generate_brfss_survey,
    in_year_layout,
)
from health_risk.pipelines.sample_data.config import SampleDataConfig
from health_risk.pipelines.sample_data.table_generators import (
    generate_insurance_charges,
    generate_saipe_states,
    generate_stroke_patients,
)

_SEED_OFFSETS = {"brfss": 0, "census": 1, "stroke": 2, "insurance": 3}


def _seed(config: SampleDataConfig, table: str) -> int:
    return config.seed * 10 + _SEED_OFFSETS[table]


def make_brfss_survey(params: dict[str, Any], spec: dict[str, Any]
                      ) -> dict[str, Callable[[], pd.DataFrame]]:
    """One ``LLCP<year>.XPT`` per survey year, in that year's layout; each year has a seed of
    its own (the first year keeps the table's seed, so one year alone is what it always was).
    Each year is generated when its file is written (a decade of large years never sits in
    memory at once)."""
    config = SampleDataConfig.model_validate(params)

    def year_file(number: int, year: int) -> pd.DataFrame:
        frame = generate_brfss_survey(config.brfss.n_rows, _seed(config, "brfss") + 1_000 * number,
                                      year, spec)
        return in_year_layout(frame, year, spec)

    return {f"LLCP{year}.XPT": partial(year_file, number, year)
            for number, year in enumerate(config.brfss.survey_years)}


def make_saipe_states(params: dict[str, Any], spec: dict[str, Any]) -> pd.DataFrame:
    config = SampleDataConfig.model_validate(params)
    return generate_saipe_states(config.census.year, _seed(config, "census"), spec)


def make_stroke_patients(params: dict[str, Any], spec: dict[str, Any]) -> pd.DataFrame:
    config = SampleDataConfig.model_validate(params)
    return generate_stroke_patients(config.stroke.n_rows, _seed(config, "stroke"), spec,
                                    personal_columns=config.stroke.personal_columns)


def make_insurance_charges(
    params: dict[str, Any], spec: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The medical-cost table twice: for the CSV file and for the SQL database."""
    config = SampleDataConfig.model_validate(params)
    table = generate_insurance_charges(config.insurance.n_rows, _seed(config, "insurance"), spec)
    return table, table.copy()
