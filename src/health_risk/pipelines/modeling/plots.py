"""Matplotlib figures of model evaluation (small aggregated inputs only).

matplotlib is imported where a figure is drawn: every ``kedro run`` imports this module to
register the pipelines (0.3 s of its start for a run that draws nothing).
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from health_risk.core.lazy_import import LAZY_IMPORT_LOCK

# sklearn (with scipy.stats) is imported inside the functions that use it: every `kedro run`
# imports this module to register the pipelines, and 0.65 s of its start was that import.
# Kedro's ThreadRunner draws the plots of several studies at once. pyplot keeps one global
# "current figure", so these figures are made without it (plain Figure objects); SHAP's summary
# plot can only draw through pyplot, and takes this lock for it (explain.summary_figure).
PYPLOT_LOCK = threading.Lock()


def _subplots(nrows: int = 1, ncols: int = 1, figsize=(6, 4)):
    with LAZY_IMPORT_LOCK:
        from matplotlib.figure import Figure  # a plain Figure draws headless, without pyplot

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols)


def roc_pr_figure(y: np.ndarray, p: np.ndarray, title: str):
    with LAZY_IMPORT_LOCK:
        from sklearn import metrics as skm

    fig, (roc_ax, pr_ax) = _subplots(1, 2, figsize=(10, 4.2))
    fpr, tpr, _ = skm.roc_curve(y, p)
    roc_ax.plot(fpr, tpr, label=f"AUC {skm.roc_auc_score(y, p):.3f}")
    roc_ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
    roc_ax.legend(loc="lower right")
    precision, recall, _ = skm.precision_recall_curve(y, p)
    pr_ax.plot(recall, precision, label=f"AP {skm.average_precision_score(y, p):.3f}")
    pr_ax.axhline(float(np.mean(y)), ls="--", c="grey", lw=0.8, label="prevalence")
    pr_ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (test)")
    pr_ax.legend(loc="upper right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def reliability_figure(curve: pd.DataFrame, title: str):
    fig, ax = _subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8, label="perfect calibration")
    ax.plot(curve["mean_predicted"], curve["observed_rate"], marker="o", label="model (test)")
    ax.set(xlabel="mean predicted probability", ylabel="observed rate", title=title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def confusion_figure(y: np.ndarray, p: np.ndarray, threshold: float, title: str):
    with LAZY_IMPORT_LOCK:
        from sklearn import metrics as skm

    matrix = skm.confusion_matrix(y, (p >= threshold).astype(float), labels=[0.0, 1.0])
    fig, ax = _subplots(figsize=(4.5, 4))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, f"{count:,}", ha="center", va="center",
                color="white" if count > matrix.max() / 2 else "black")
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["0", "1"], yticklabels=["0", "1"],
           xlabel="predicted", ylabel="actual", title=f"{title}\nthreshold {threshold:.3f}")
    fig.tight_layout()
    return fig


def residual_figure(y: np.ndarray, yhat: np.ndarray, title: str):
    fig, (fit_ax, res_ax) = _subplots(1, 2, figsize=(10, 4.2))
    fit_ax.scatter(y, yhat, s=6, alpha=0.5)
    low, high = float(min(y.min(), yhat.min())), float(max(y.max(), yhat.max()))
    fit_ax.plot([low, high], [low, high], ls="--", c="grey", lw=0.8)
    fit_ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual (test)")
    res_ax.scatter(yhat, y - yhat, s=6, alpha=0.5)
    res_ax.axhline(0, ls="--", c="grey", lw=0.8)
    res_ax.set(xlabel="predicted", ylabel="residual", title="Residuals (test)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def shap_bar_figure(importance: pd.DataFrame, title: str, top: int = 20):
    shown = importance.head(top).iloc[::-1]
    fig, ax = _subplots(figsize=(7, max(3, 0.3 * len(shown) + 1)))
    ax.barh(shown["feature"], shown["mean_abs_shap"])
    ax.set(xlabel="mean |SHAP value|", title=title)
    fig.tight_layout()
    return fig


def error_histogram_figure(residuals: np.ndarray, title: str):
    fig, ax = _subplots(figsize=(6, 4))
    ax.hist(residuals, bins=40)
    ax.axvline(0, ls="--", c="grey", lw=0.8)
    ax.set(xlabel="actual - predicted", ylabel="rows", title=f"{title}\nresiduals (test)")
    fig.tight_layout()
    return fig
