"""Fixtures: the toy feature tables as Spark DataFrames, with the split feature engineering
assigns (``core.split.assign_split``, the toy ``<study>.split`` block)."""

from __future__ import annotations

import pytest

from health_risk.core.split import assign_split

from .toy_features import SPLIT, feature_frame


def _with_split(spark, frame, stratify):
    return assign_split(spark.createDataFrame(frame), "id", stratify, SPLIT["seed"],
                        SPLIT["train"], SPLIT["validation"])


@pytest.fixture(scope="module")
def classification_features(spark):
    return _with_split(spark, feature_frame(1200, "classification"), "label").cache()


@pytest.fixture(scope="module")
def regression_features(spark):
    return _with_split(spark, feature_frame(600, "regression"), None).cache()
