"""Repeated stratified k-fold cross-validation of the winning configuration, for small studies.

A single test split of a few thousand rows moves its ROC-AUC by several hundredths with the
seed, and the published figures for the stroke and medical-cost tables are cross-validated. So
below ``cross_validation.max_rows`` (train + validation rows), the winning candidate with its
tuned hyper-parameters is refitted on k-1 folds of train + validation and scored on the k-th,
``repeats`` times with a different fold seed; the test split stays untouched. Folds follow the
split rule (a hash of the id, ranked within each class), so they are stratified and do not
depend on partitioning; the rows they cut are the model input's train + validation rows, i.e.
the split feature engineering assigned. The refits are uncalibrated: calibration is monotone and does not change
ROC-AUC, but it does change the Brier score, so Brier is not reported here.
"""

from __future__ import annotations

import statistics
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from health_risk.core.columns import ID, LABEL, SCORE, SPLIT
from health_risk.core.estimators import fit_configuration, xgboost_workers
from health_risk.core.metrics import classification_metrics, regression_metrics
from health_risk.core.modeling_config import ModelingConfig
from health_risk.core.scoring import collect_scores
from health_risk.core.split import stratified_position_expr

FOLD = "__fold"
REPORTED = {"classification": ("roc_auc", "pr_auc"), "regression": ("rmse", "mae", "r2")}


def _fold_metrics(model: PipelineModel, held_out: DataFrame, task: str) -> dict[str, float]:
    scores = collect_scores(model, held_out, task, [LABEL])
    y, s = scores[LABEL].to_numpy(), scores[SCORE].to_numpy()
    found = (classification_metrics(y, s, 0.5) if task == "classification"
             else regression_metrics(y, s))
    return {name: found[name] for name in REPORTED[task]}


def cv_rows(model_input: DataFrame) -> DataFrame:
    """The rows the folds cut: train + validation of the study's split (test stays out)."""
    return model_input.filter(F.col(SPLIT).isin("train", "validation"))


def with_folds(rows: DataFrame, folds: int, seed: int, stratify: str | None) -> DataFrame:
    """``__fold`` in 0..folds-1: the id-hash position ranked within each class, cut in equal
    parts (so folds are stratified and do not depend on partitioning)."""
    position = stratified_position_expr(ID, seed, stratify)
    return rows.withColumn(FOLD, F.least(F.floor(position * folds), F.lit(folds - 1)))


def cross_validate(model_input: DataFrame, spec: dict[str, Any], winner: dict[str, Any],
                   config: ModelingConfig) -> tuple[dict[str, Any], dict[str, dict]]:
    """(report, metrics history). The report says why when the estimate is skipped."""
    cv = config.cross_validation
    rows = cv_rows(model_input)
    n_rows = rows.count()
    base = {"study": config.study, "candidate": winner["candidate"], "rows": n_rows,
            "folds": cv.folds, "repeats": cv.repeats, "max_rows": cv.max_rows}
    if not cv.enabled or n_rows > cv.max_rows:
        reason = "disabled" if not cv.enabled else f"{n_rows} rows > max_rows {cv.max_rows}"
        return {**base, "performed": False, "reason": reason}, {}
    name, task = winner["candidate"], config.task
    params = {**config.candidates[name].fixed, **winner["params"]}
    use_weights = task == "classification" and config.class_weighting == "balanced"
    numeric, categorical = spec["numeric_features"], spec["categorical_features"]
    stratify = LABEL if task == "classification" else None
    workers = xgboost_workers(config.xgboost_workers, rows, [name])
    folded = []
    for repeat in range(cv.repeats):
        folded.append(with_folds(rows, cv.folds, cv.seed + repeat, stratify).cache())

    def refit(repeat: int, fold: int) -> dict[str, float]:
        table = folded[repeat]
        model = fit_configuration(table.filter(F.col(FOLD) != fold), name, task, params,
                                  numeric, categorical, use_weights, workers)
        return {"repeat": repeat, "fold": fold,
                **_fold_metrics(model, table.filter(F.col(FOLD) == fold), task)}

    jobs = [(repeat, fold) for repeat in range(cv.repeats) for fold in range(cv.folds)]
    with ThreadPoolExecutor(max_workers=cv.parallel_folds) as pool:
        values = list(pool.map(lambda job: refit(*job), jobs))
    for table in folded:
        table.unpersist()
    summary = {metric: {"mean": statistics.fmean(v[metric] for v in values),
                        "sd": statistics.stdev(v[metric] for v in values)
                        if len(values) > 1 else 0.0}
               for metric in REPORTED[task]}
    report = {**base, "performed": True, "summary": summary, "per_fold": values,
              "method": (f"{cv.repeats} x {cv.folds}-fold cross-validation of the winning "
                         f"configuration ({name}, tuned parameters) on train + validation, "
                         "stratified by label" if stratify else
                         f"{cv.repeats} x {cv.folds}-fold cross-validation of the winning "
                         f"configuration ({name}, tuned parameters) on train + validation")}
    history = {f"{metric}_{stat}": {"value": float(value), "step": 0}
               for metric, stats in summary.items() for stat, value in stats.items()}
    return report, history
