"""The distance to closest record equals sdmetrics' definition (assessment.py computes it on
whole columns instead of sdmetrics' cross-joined frame)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sdmetrics.single_table.privacy.dcr_overfitting_protection import DCROverfittingProtection
from sdmetrics.single_table.privacy.dcr_utils import calculate_dcr

from health_risk.pipelines.synthetic_data import assessment
from health_risk.pipelines.synthetic_data.assessment import (
    closest_record_distances,
    distance_to_closest_record,
)

METADATA = {"columns": {
    "age": {"sdtype": "numerical"}, "bmi": {"sdtype": "numerical"},
    "constant": {"sdtype": "numerical"}, "nothing": {"sdtype": "numerical"},
    "state": {"sdtype": "categorical"}, "smoker": {"sdtype": "categorical"},
    "flag": {"sdtype": "boolean"}, "seen": {"sdtype": "datetime",
                                            "datetime_format": "%Y-%m-%d"},
    "note": {"sdtype": "id"},  # not a statistical column: left out by both
}}


def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)

    def holes(values, share=0.15):
        values = pd.Series(values)
        return values.mask(rng.random(n) < share)

    return pd.DataFrame({
        "age": holes(rng.integers(18, 90, n).astype(float)),
        "bmi": holes(rng.normal(27, 5, n).round(1)),
        "constant": 3.0,
        "nothing": np.nan,
        "state": holes(rng.choice(["CA", "NY", "TX", "WA"], n)).astype(object),
        "smoker": pd.array(rng.choice([1, 2, 3], n), dtype="Int64").astype("float64"),
        "flag": rng.random(n) < 0.4,
        "seen": holes(pd.to_datetime("2023-01-01") + pd.to_timedelta(
            rng.integers(0, 365, n), unit="D")),
        "note": [f"n{i}" for i in range(n)],
    })


def test_distances_equal_sdmetrics_calculate_dcr_with_missing_and_constant_columns():
    data, reference = _rows(70, 1), _rows(90, 2)
    reference.loc[:5] = data.loc[:5].to_numpy()  # some exact copies: distance 0
    expected = calculate_dcr(dataset=data, reference_dataset=reference, metadata=METADATA)
    got = closest_record_distances(data, reference, METADATA)
    np.testing.assert_allclose(got, expected.to_numpy(), rtol=0, atol=1e-12)
    assert (got[:6] == 0).all()


def test_blocks_of_rows_give_the_same_distances(monkeypatch):
    data, reference = _rows(40, 3), _rows(55, 4)
    whole = closest_record_distances(data, reference, METADATA)
    monkeypatch.setattr(assessment, "PAIRS_PER_BLOCK", 7 * 55)  # 7 rows at a time
    np.testing.assert_array_equal(closest_record_distances(data, reference, METADATA), whole)


def test_overfitting_protection_equals_sdmetrics():
    training, holdout, synthetic = _rows(80, 5), _rows(80, 6), _rows(60, 7)
    synthetic.iloc[:20] = training.iloc[:20].to_numpy()  # memorised rows
    report = distance_to_closest_record(training, holdout, synthetic, METADATA, rows=500,
                                        seed=0)
    # The same seeded samples the function compares (all rows, shuffled).
    sample = assessment._sample
    columns = list(METADATA["columns"])
    expected = DCROverfittingProtection.compute_breakdown(
        real_training_data=sample(training[columns], 500, 0),
        synthetic_data=sample(synthetic[columns], 500, 2),
        real_validation_data=sample(holdout[columns], 500, 1),
        metadata={"tables": {"t": METADATA}}, table_name="t")
    assert report["overfitting_protection_score"] == pytest.approx(expected["score"], abs=1e-6)
    assert report["closer_to_training_share"] == pytest.approx(
        expected["synthetic_data_percentages"]["closer_to_training"], abs=1e-6)
    assert report["zero_distance_share"] >= round(20 / 60, 6)
