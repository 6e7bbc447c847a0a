"""Study tables shared by the synthetic-data and inference tests (built once per session)."""

from __future__ import annotations

import pytest

from .study_tables import build_study_tables


@pytest.fixture(scope="session")
def stroke_tables(spark, tmp_path_factory):
    # The default sample size: the drift acceptance test is about the default sample.
    return build_study_tables(spark, "stroke", 5110, tmp_path_factory.mktemp("stroke"))
