"""Headline metrics of scores against labels, shared by modeling (test and validation splits)
and inference (labelled batches). AUC is computed from scores, never from hard labels."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

EPS = 1e-15


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    predicted = (p >= threshold).astype(float)
    both_classes = len(np.unique(y)) == 2
    return {
        "roc_auc": float(skm.roc_auc_score(y, p)) if both_classes else float("nan"),
        "pr_auc": float(skm.average_precision_score(y, p)) if both_classes else float("nan"),
        "log_loss": float(skm.log_loss(y, p, labels=[0.0, 1.0])),
        "brier": float(skm.brier_score_loss(y, p)),
        "accuracy": float(skm.accuracy_score(y, predicted)),
        "precision": float(skm.precision_score(y, predicted, zero_division=0)),
        "recall": float(skm.recall_score(y, predicted, zero_division=0)),
        "f1": float(skm.f1_score(y, predicted, zero_division=0)),
        "threshold": float(threshold),
        "rows": float(len(y)),
        "positive_rate": float(y.mean()) if len(y) else float("nan"),
    }


def regression_metrics(y: np.ndarray, yhat: np.ndarray) -> dict[str, float]:
    y = np.asarray(y, dtype=float)
    yhat = np.asarray(yhat, dtype=float)
    nonzero = np.abs(y) > EPS
    return {
        "rmse": float(np.sqrt(skm.mean_squared_error(y, yhat))),
        "mae": float(skm.mean_absolute_error(y, yhat)),
        "r2": float(skm.r2_score(y, yhat)) if len(y) > 1 else float("nan"),
        "mape": float(np.mean(np.abs((y[nonzero] - yhat[nonzero]) / y[nonzero]))),
        "rows": float(len(y)),
    }


# Headline metrics that get a bootstrap interval (the counts and the threshold do not).
CLASSIFICATION_HEADLINE = ("roc_auc", "pr_auc", "f1", "brier", "log_loss", "precision",
                           "recall", "accuracy")
REGRESSION_HEADLINE = ("rmse", "mae", "r2")


# Threshold-free metrics computed on their own (a subgroup table asks for a few of them per
# group; computing every headline metric per replicate would cost ten times as much).
_SCORE_METRICS = {
    "roc_auc": lambda y, s: skm.roc_auc_score(y, s),
    "pr_auc": lambda y, s: skm.average_precision_score(y, s),
    "brier": lambda y, s: skm.brier_score_loss(y, np.clip(s, EPS, 1 - EPS)),
    "rmse": lambda y, s: np.sqrt(np.mean((y - s) ** 2)),
    "mae": lambda y, s: np.mean(np.abs(y - s)),
    "r2": lambda y, s: skm.r2_score(y, s),
}


def bootstrap_intervals(y: np.ndarray, scores: np.ndarray, task: str,
                        threshold: float | None, replicates: int = 200,
                        confidence: float = 0.95, seed: int = 0,
                        names: tuple[str, ...] | None = None) -> dict[str, dict[str, float]]:
    """Percentile intervals of the headline metrics (or of ``names``, threshold-free ones
    only) over a seeded bootstrap of the rows.

    Classification resamples positives and negatives apart (stratified by label), so every
    replicate keeps the class balance of the split and AUC is always defined; the F1, precision,
    recall and accuracy replicates use the same, fixed threshold (chosen on validation).
    """
    y = np.asarray(y, dtype=float)
    scores = np.asarray(scores, dtype=float)
    rng = np.random.default_rng(seed)
    if task == "classification":
        groups = [np.flatnonzero(y == label) for label in (0.0, 1.0)]
    else:
        groups = [np.arange(len(y))]
    if any(len(g) == 0 for g in groups) or (task == "regression" and len(y) < 2):
        return {}
    if names is None:
        names = CLASSIFICATION_HEADLINE if task == "classification" else REGRESSION_HEADLINE
    unknown = [n for n in names if n not in _SCORE_METRICS]
    if unknown and names not in (CLASSIFICATION_HEADLINE, REGRESSION_HEADLINE):
        raise ValueError(f"no threshold-free bootstrap for {unknown}; "
                         f"known: {sorted(_SCORE_METRICS)}")

    def measure(yy: np.ndarray, ss: np.ndarray) -> dict[str, float]:
        if not unknown:  # threshold-free metrics only: compute just those
            return {n: float(_SCORE_METRICS[n](yy, ss)) for n in names}
        if task == "classification":
            return classification_metrics(yy, ss, threshold)
        return regression_metrics(yy, ss)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(replicates):
        rows = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        values = measure(y[rows], scores[rows])
        for name in names:
            samples[name].append(values[name])
    tail = (1.0 - confidence) / 2.0
    return {name: {"low": float(np.nanquantile(values, tail)),
                   "high": float(np.nanquantile(values, 1.0 - tail)),
                   "replicates": replicates, "confidence": confidence}
            for name, values in samples.items()}


def weighted_classification_metrics(y: np.ndarray, p: np.ndarray,
                                    w: np.ndarray) -> dict[str, float]:
    """Survey-weighted ROC-AUC, PR-AUC and Brier score, and the weighted observed and predicted
    prevalence: each respondent counts by their survey weight, as in population estimates."""
    y, p, w = (np.asarray(a, dtype=float) for a in (y, p, w))
    usable = np.isfinite(w) & (w > 0)
    y, p, w = y[usable], np.clip(p[usable], EPS, 1 - EPS), w[usable]
    both = len(np.unique(y)) == 2
    return {
        "weighted_roc_auc": float(skm.roc_auc_score(y, p, sample_weight=w)) if both
        else float("nan"),
        "weighted_pr_auc": float(skm.average_precision_score(y, p, sample_weight=w)) if both
        else float("nan"),
        "weighted_brier": float(skm.brier_score_loss(y, p, sample_weight=w)),
        "weighted_observed_prevalence": float(np.average(y, weights=w)),
        "weighted_predicted_prevalence": float(np.average(p, weights=w)),
    }


def with_interval_text(frame, digits: int = 3):
    """A table for people: every ``<m>`` that has ``<m>_ci_low`` / ``<m>_ci_high`` columns
    becomes one text column ``<m> [low, high]``; the bound columns are dropped."""
    import pandas as pd

    shown = frame.copy()
    for column in list(frame.columns):
        low, high = f"{column}_ci_low", f"{column}_ci_high"
        if low not in frame.columns or high not in frame.columns:
            continue

        def text(row, column=column, low=low, high=high):
            value = row[column]
            if pd.isna(value):
                return ""
            if pd.isna(row[low]) or pd.isna(row[high]):
                return f"{value:.{digits}f}"
            return f"{value:.{digits}f} [{row[low]:.{digits}f}, {row[high]:.{digits}f}]"

        shown[column] = frame.apply(text, axis=1) if len(frame) else frame[column]
        shown = shown.drop(columns=[low, high])
    return shown
