"""Reference profiles, PSI and KS (health_risk.core.drift)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from health_risk.core.drift import build_profile, compare


def _frame(spark, n, seed, age_mean=50.0, smoker=(0.2, 0.7, 0.1)):
    rng = np.random.default_rng(seed)
    levels = rng.choice(3, n, p=list(smoker))
    return spark.createDataFrame(pd.DataFrame({
        "age": rng.normal(age_mean, 10, n),
        "flag": rng.integers(0, 2, n).astype(float),
        "smoker": np.array(["yes", "no", None], dtype=object)[levels],
    }))


@pytest.fixture(scope="module")
def profile(spark):
    return build_profile(_frame(spark, 4000, 0), ["age", "flag"], ["smoker"])


def test_profile_is_small_json_with_deciles_and_level_shares(profile):
    json.dumps(profile)  # travels as a JSON artifact
    age = profile["columns"]["age"]
    assert profile["rows"] == 4000 and len(age["bin_edges"]) == 9
    assert age["cdf"] == sorted(age["cdf"]) and age["cdf"][-1] <= 1.0
    assert profile["columns"]["flag"]["bin_edges"] == [0.0, 1.0]  # ties merged
    shares = profile["columns"]["smoker"]["shares"]
    assert set(shares) == {"yes", "no", "__null__"} and abs(sum(shares.values()) - 1) < 1e-9


def test_same_population_does_not_drift(spark, profile):
    result = compare(_frame(spark, 1000, 1), profile, ["age", "flag", "smoker"])
    assert not any(r["drifted"] for r in result.values())
    assert result["age"]["psi"] < 0.05 and result["age"]["ks"] < 0.06


def test_shifted_population_drifts_and_unseen_levels_are_pooled(spark, profile):
    shifted = _frame(spark, 1000, 2, age_mean=60.0, smoker=(0.5, 0.4, 0.1))
    shifted = shifted.replace("yes", "sometimes", subset=["smoker"]).unionByName(
        _frame(spark, 200, 3))
    result = compare(shifted, profile, ["age", "flag", "smoker"])
    assert result["age"]["drifted"] and result["age"]["ks"] > 0.25
    assert result["smoker"]["drifted"] and "sometimes" in result["smoker"]["unseen_levels"]
    assert not result["flag"]["drifted"]


def test_psi_threshold_is_a_parameter(spark, profile):
    batch = _frame(spark, 1000, 4, age_mean=53.0)
    psi = compare(batch, profile, ["age"])["age"]["psi"]
    assert compare(batch, profile, ["age"], psi_threshold=psi / 2)["age"]["drifted"]
    assert not compare(batch, profile, ["age"], psi_threshold=psi * 2)["age"]["drifted"]


def test_missing_columns_are_errors(spark, profile):
    with pytest.raises(KeyError, match="no entry for \\['bmi'\\]"):
        compare(_frame(spark, 10, 5), profile, ["bmi"])
    with pytest.raises(KeyError, match="batch has no column"):
        compare(_frame(spark, 10, 5).drop("age"), profile, ["age"])
