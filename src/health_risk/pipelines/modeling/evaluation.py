"""Metrics from scores (pure numpy/sklearn on the small score columns, never on features).

Classification metrics are computed from probabilities; accuracy/precision/recall/F1 only at a
threshold that was chosen on the validation split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from health_risk.core.lazy_import import LAZY_IMPORT_LOCK
from health_risk.core.metrics import (
    EPS,
    bootstrap_intervals,
    classification_metrics,
    regression_metrics,
)
from health_risk.core.modeling_config import UncertaintyConfig


def choose_threshold(y: np.ndarray, p: np.ndarray, strategy: str = "max_f1",
                     recall_target: float | None = None) -> float:
    """The decision threshold, from validation scores only.

    ``max_f1``: the score cut with the highest F1. ``recall_target``: the highest cut whose
    recall still reaches the target (the most precise threshold meeting it).
    """
    with LAZY_IMPORT_LOCK:
        from sklearn import metrics as skm

    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if y.sum() == 0:
        return 0.5
    precision, recall, cuts = skm.precision_recall_curve(y, p)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    if strategy == "recall_target":
        meeting = np.where(recall >= float(recall_target))[0]
        return float(cuts[meeting[-1]]) if len(meeting) else float(cuts[0])
    f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall + EPS), 0)
    return float(cuts[int(np.argmax(f1))])


def reliability_curve(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Observed rate vs. mean predicted probability in quantile bins of the prediction."""
    frame = pd.DataFrame({"y": np.asarray(y, dtype=float), "p": np.asarray(p, dtype=float)})
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), q=min(n_bins, len(frame)),
                           labels=False)
    curve = frame.groupby("bin").agg(mean_predicted=("p", "mean"), observed_rate=("y", "mean"),
                                     rows=("y", "size"), p_min=("p", "min"), p_max=("p", "max"))
    return curve.reset_index()


def expected_calibration_error(curve: pd.DataFrame) -> float:
    weights = curve["rows"] / curve["rows"].sum()
    return float((weights * (curve["mean_predicted"] - curve["observed_rate"]).abs()).sum())


# Subgroup metrics that get a bootstrap interval (``<metric>_ci_low`` / ``_ci_high``).
SUBGROUP_INTERVALS = {"classification": ("roc_auc", "pr_auc"), "regression": ("rmse", "r2")}


def subgroup_metrics(scores: pd.DataFrame, group_columns: list[str], task: str,
                     threshold: float | None, min_count: int,
                     uncertainty: UncertaintyConfig | None = None) -> pd.DataFrame:
    """Test metrics per subgroup value, with counts; groups below ``min_count`` rows are listed
    with their count but no metrics (too few rows to say anything). With ``uncertainty``, the
    threshold-free metrics carry the same bootstrap interval as the headline figures (a small
    subgroup's AUC is the least certain number in the table)."""
    rows = []
    for column in group_columns:
        if column not in scores.columns:
            continue
        for value, part in scores.groupby(scores[column].fillna("<missing>"), sort=True):
            record = {"subgroup": column, "value": str(value), "rows": len(part)}
            if len(part) >= min_count:
                if task == "classification":
                    found = classification_metrics(part["label"], part["score"], threshold)
                    record.update({k: found[k] for k in ("roc_auc", "pr_auc", "brier", "precision",
                                                         "recall", "f1", "positive_rate")})
                    record["mean_score"] = float(part["score"].mean())
                else:
                    found = regression_metrics(part["label"], part["score"])
                    record.update({k: found[k] for k in ("rmse", "mae", "r2")})
                    record["mean_label"] = float(part["label"].mean())
                if uncertainty is not None:
                    record.update(_interval_columns(part, task, uncertainty))
            rows.append(record)
    return pd.DataFrame(rows)


def _interval_columns(part: pd.DataFrame, task: str,
                      uncertainty: UncertaintyConfig) -> dict[str, float]:
    intervals = bootstrap_intervals(part["label"].to_numpy(), part["score"].to_numpy(), task,
                                    None, uncertainty.bootstrap_replicates,
                                    uncertainty.confidence, uncertainty.seed,
                                    names=SUBGROUP_INTERVALS[task])
    return {f"{name}_ci_{end}": bounds[end] for name, bounds in intervals.items()
            for end in ("low", "high")}
