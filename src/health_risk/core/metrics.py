"""Headline metrics of scores against labels, shared by modeling (test and validation splits)
and inference (labelled batches). AUC is computed from scores, never from hard labels."""

from __future__ import annotations

import numpy as np

from health_risk.core.lazy_import import LAZY_IMPORT_LOCK

EPS = 1e-15

# sklearn (with scipy.stats) is imported inside the functions that use it: every `kedro run`
# imports this module to register the pipelines, and 0.65 s of its start was that import.


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    with LAZY_IMPORT_LOCK:
        from sklearn import metrics as skm

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
    with LAZY_IMPORT_LOCK:
        from sklearn import metrics as skm

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


def _auc_rows(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """ROC-AUC of every row of a (replicates x rows) matrix: the Mann-Whitney statistic with
    average ranks for ties, as ``roc_auc_score`` computes it."""
    with LAZY_IMPORT_LOCK:
        from scipy import stats

    ranks = stats.rankdata(s, axis=1)
    positives = y.sum(axis=1)
    negatives = y.shape[1] - positives
    return ((ranks * y).sum(axis=1) - positives * (positives + 1) / 2) / (positives * negatives)


def _average_precision_rows(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Average precision of every row, as ``average_precision_score``: the sum over distinct
    score thresholds of the recall step times the precision there, i.e. each positive counts
    the precision at the end of its run of tied scores."""
    order = np.argsort(-s, axis=1, kind="stable")
    ranked, hits = np.take_along_axis(s, order, 1), np.take_along_axis(y, order, 1)
    width = s.shape[1]
    run_end = np.ones(ranked.shape, dtype=bool)
    run_end[:, :-1] = ranked[:, :-1] != ranked[:, 1:]
    position = np.where(run_end, np.arange(width), width)
    end = np.minimum.accumulate(position[:, ::-1], axis=1)[:, ::-1]
    precision = np.take_along_axis(np.cumsum(hits, axis=1), end, 1) / (end + 1)
    return (precision * hits).sum(axis=1) / hits.sum(axis=1)


def _r2_rows(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    residual = ((y - s) ** 2).sum(axis=1)
    total = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        # A constant target: 1 for a perfect fit, else 0 (sklearn's force_finite).
        return np.where(total > 0, 1 - residual / total, np.where(residual == 0, 1.0, 0.0))


# Threshold-free metrics computed on a whole block of bootstrap replicates at once (a subgroup
# table asks for a few of them for every group: per replicate they would cost minutes).
_SCORE_METRICS = {
    "roc_auc": _auc_rows,
    "pr_auc": _average_precision_rows,
    "brier": lambda y, s: ((y - np.clip(s, EPS, 1 - EPS)) ** 2).mean(axis=1),
    "rmse": lambda y, s: np.sqrt(((y - s) ** 2).mean(axis=1)),
    "mae": lambda y, s: np.abs(y - s).mean(axis=1),
    "r2": _r2_rows,
}
_BLOCK_CELLS = 2_000_000  # replicates x rows per vectorised block (memory bound)


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
    samples: dict[str, list[float]] = {name: [] for name in names}
    block = max(1, _BLOCK_CELLS // max(len(y), 1))
    for first in range(0, replicates, block):
        rows = np.stack([np.concatenate([rng.choice(g, size=len(g), replace=True)
                                         for g in groups])
                         for _ in range(first, min(first + block, replicates))])
        if not unknown:  # threshold-free metrics only: the whole block at once
            for name in names:
                samples[name].extend(_SCORE_METRICS[name](y[rows], scores[rows]).tolist())
            continue
        for replicate in rows:
            values = (classification_metrics(y[replicate], scores[replicate], threshold)
                      if task == "classification"
                      else regression_metrics(y[replicate], scores[replicate]))
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
    with LAZY_IMPORT_LOCK:
        from sklearn import metrics as skm

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
