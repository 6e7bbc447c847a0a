"""Label-preserving synthesis: strata, pooling, allocation (synthetic_data.conditional)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from health_risk.pipelines.synthetic_data.conditional import (
    POOLED,
    StratifiedSynthesizer,
    allocate,
    pooled_labels,
    stratum_labels,
)


def test_labels_combine_the_target_value_and_a_numeric_bin():
    rows = pd.DataFrame({"stroke": pd.array([0, 1, 0, None], dtype="Int64"),
                         "charges": [1.0, 5.0, 9.0, 3.0]})
    labels = stratum_labels(rows, ["stroke", "charges"], {"charges": 2})
    assert labels.tolist() == ["stroke=0 & charges=q1", "stroke=1 & charges=q2",
                               "stroke=0 & charges=q2", "stroke=<missing> & charges=q1"]


def test_small_strata_are_pooled_and_a_tiny_pool_joins_the_largest():
    labels = pd.Series(["a"] * 50 + ["b"] * 45 + ["c"] * 30 + ["d"] * 12)
    pooled = pooled_labels(labels, min_rows=40)
    assert pooled.value_counts().to_dict() == {"a": 50, "b": 45, POOLED: 42}
    tiny = pooled_labels(pd.Series(["a"] * 50 + ["c"] * 3), min_rows=40)
    assert tiny.value_counts().to_dict() == {"a": 53}


def test_allocation_keeps_the_total_and_the_shares():
    counts = allocate(np.array([0.05, 0.15, 0.8]), 333)
    assert counts.sum() == 333 and counts.tolist() == [17, 50, 266]


class _Resampler:
    """A stand-in synthesizer: draws its training rows with replacement (seeded)."""

    def __init__(self, rows):
        self.rows, self.seed = rows, 0

    def sample(self, n):
        picked = np.random.default_rng(self.seed).integers(0, len(self.rows), n)
        return {"t": self.rows.iloc[picked].reset_index(drop=True)}

    def reset_sampling(self):
        pass

    def _set_random_state(self, seed):
        self.seed = seed


def test_each_stratum_keeps_its_rows_shares_and_constant_key():
    rng = np.random.default_rng(0)
    age = rng.uniform(20, 90, 1000)
    stroke = (age + rng.normal(0, 10, 1000) > 80).astype(int)
    rows = pd.DataFrame({"age": age, "stroke": stroke})
    fitted_on = []

    def fit_one(frame):
        fitted_on.append(list(frame.columns))
        return _Resampler(frame)

    synthesizer = StratifiedSynthesizer.fit(rows, "t", None, ["stroke"], {}, 40, fit_one)
    assert [s.label for s in synthesizer.strata] == ["stroke=0", "stroke=1"]
    assert fitted_on == [["age"], ["age"]]  # the key is constant in its stratum: not fitted
    synthesizer._set_random_state(3)
    sample = synthesizer.sample(500)["t"]
    assert list(sample.columns) == ["age", "stroke"]
    assert abs(sample.stroke.mean() - stroke.mean()) < 0.002  # the training prevalence
    # The outcome still depends on the features: older people carry the strokes.
    assert sample[sample.stroke == 1].age.mean() > sample[sample.stroke == 0].age.mean() + 15
    synthesizer._set_random_state(3)
    pd.testing.assert_frame_equal(sample, synthesizer.sample(500)["t"])
    summary = synthesizer.strata_summary()
    assert [s["training_rows"] for s in summary] == [int((stroke == 0).sum()),
                                                    int(stroke.sum())]
