"""Fixtures: the toy feature tables as Spark DataFrames."""

from __future__ import annotations

import pytest

from .toy_features import feature_frame


@pytest.fixture(scope="module")
def classification_features(spark):
    return spark.createDataFrame(feature_frame(1200, "classification")).cache()


@pytest.fixture(scope="module")
def regression_features(spark):
    return spark.createDataFrame(feature_frame(600, "regression")).cache()
