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
