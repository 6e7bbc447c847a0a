"""Headline metrics and their bootstrap intervals (health_risk.core.metrics)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from health_risk.core.metrics import bootstrap_intervals, with_interval_text


def _scores(n=2000, seed=1):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(float)
    return y, np.clip(0.1 + 0.25 * y + rng.normal(0, 0.15, n), 0, 1)


def test_interval_covers_the_point_estimate_and_narrows_with_more_rows():
    y, s = _scores()
    small = bootstrap_intervals(y[:400], s[:400], "classification", 0.3, replicates=200)
    large = bootstrap_intervals(y, s, "classification", 0.3, replicates=200)
    auc = roc_auc_score(y, s)
    assert large["roc_auc"]["low"] < auc < large["roc_auc"]["high"]
    width = {k: v["roc_auc"]["high"] - v["roc_auc"]["low"] for k, v in
             (("small", small), ("large", large))}
    assert width["large"] < width["small"]
    assert {"pr_auc", "f1", "brier"} <= set(large)
    assert large["roc_auc"]["confidence"] == 0.95 and large["roc_auc"]["replicates"] == 200


def test_bootstrap_is_seeded_and_keeps_the_class_balance():
    y, s = _scores(300)
    first = bootstrap_intervals(y, s, "classification", 0.3, replicates=50, seed=4)
    assert first == bootstrap_intervals(y, s, "classification", 0.3, replicates=50, seed=4)
    assert first != bootstrap_intervals(y, s, "classification", 0.3, replicates=50, seed=5)
    # Stratified: every replicate has both classes, so no interval is undefined.
    assert all(np.isfinite([v["low"], v["high"]]).all() for v in first.values())


def test_regression_intervals_for_rmse_mae_r2():
    rng = np.random.default_rng(0)
    y = rng.normal(10, 3, 500)
    predicted = y + rng.normal(0, 1, 500)
    intervals = bootstrap_intervals(y, predicted, "regression", None, replicates=100)
    assert set(intervals) == {"rmse", "mae", "r2"}
    rmse = float(np.sqrt(np.mean((y - predicted) ** 2)))
    assert 0.8 < intervals["rmse"]["low"] < rmse < intervals["rmse"]["high"] < 1.2


def test_named_threshold_free_intervals_match_the_full_computation():
    """A subgroup table asks for a few metrics only; they must be the same numbers the
    headline bootstrap gives with the same seed (same resampled rows)."""
    y, s = _scores(600)
    full = bootstrap_intervals(y, s, "classification", 0.3, replicates=60, seed=3)
    named = bootstrap_intervals(y, s, "classification", None, replicates=60, seed=3,
                                names=("roc_auc", "pr_auc"))
    assert set(named) == {"roc_auc", "pr_auc"}
    for name in named:
        assert named[name]["low"] == pytest.approx(full[name]["low"], abs=1e-12)
        assert named[name]["high"] == pytest.approx(full[name]["high"], abs=1e-12)
    with pytest.raises(ValueError, match="f1"):
        bootstrap_intervals(y, s, "classification", None, names=("f1",))


def test_interval_text_folds_the_bounds_into_one_column():
    frame = pd.DataFrame({"value": ["a", "b"], "roc_auc": [0.81234, np.nan],
                          "roc_auc_ci_low": [0.7, np.nan], "roc_auc_ci_high": [0.9, np.nan],
                          "rows": [100, 10]})
    shown = with_interval_text(frame)
    assert list(shown.columns) == ["value", "roc_auc", "rows"]
    assert shown["roc_auc"].tolist() == ["0.812 [0.700, 0.900]", ""]


@pytest.mark.parametrize("ties", [False, True])
def test_vectorised_metrics_equal_sklearn_replicate_by_replicate(ties):
    """The block computation of the threshold-free metrics gives sklearn's numbers, with tied
    scores too (an isotonic calibrator outputs a step function)."""
    from sklearn.metrics import average_precision_score, r2_score

    from health_risk.core.metrics import _SCORE_METRICS

    rng = np.random.default_rng(5)
    y = (rng.random((30, 80)) < 0.3).astype(float)
    y[:, 0], y[:, 1] = 1.0, 0.0  # both classes in every row
    s = np.clip(0.3 * y + rng.normal(0.3, 0.2, y.shape), 0, 1)
    if ties:
        s = np.round(s * 6) / 6
    auc = _SCORE_METRICS["roc_auc"](y, s)
    ap = _SCORE_METRICS["pr_auc"](y, s)
    for row in range(len(y)):
        assert auc[row] == pytest.approx(roc_auc_score(y[row], s[row]), abs=1e-12)
        assert ap[row] == pytest.approx(average_precision_score(y[row], s[row]), abs=1e-12)
    target = rng.normal(10, 2, (5, 40))
    predicted = target + rng.normal(0, 1, target.shape)
    r2 = _SCORE_METRICS["r2"](target, predicted)
    assert r2 == pytest.approx([r2_score(t, p) for t, p in zip(target, predicted)], abs=1e-12)
