"""Probability calibration stages, all Spark-native so they travel inside the PipelineModel.

- ``isotonic``: ``IsotonicRegression`` on the positive-class probability.
- ``platt``: a one-feature logistic regression on the model's positive-class raw score (the
  margin for linear and boosted models, the tree-vote total for a random forest).

Class-weighted training inflates the minority-class probabilities; calibration fitted on the
(unweighted) validation split brings them back to observed rates.
"""

from __future__ import annotations

import numpy as np
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import VectorSlicer
from pyspark.ml.regression import IsotonicRegression
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from health_risk.core.columns import CALIBRATED, LABEL, PLATT_PROBABILITY, SCORE
from health_risk.core.scoring import collect_scores
from health_risk.core.split import train_fraction_expr

METHODS = ("isotonic", "platt")


def calibrator(method: str) -> Pipeline:
    if method == "isotonic":
        return Pipeline(stages=[IsotonicRegression(
            featuresCol="probability", featureIndex=1, labelCol=LABEL, predictionCol=CALIBRATED,
            isotonic=True)])
    if method == "platt":
        return Pipeline(stages=[
            VectorSlicer(inputCol="rawPrediction", outputCol="platt_margin", indices=[1]),
            LogisticRegression(featuresCol="platt_margin", labelCol=LABEL, regParam=0.0,
                               probabilityCol=PLATT_PROBABILITY, rawPredictionCol="platt_raw",
                               predictionCol="platt_prediction"),
        ])
    raise ValueError(f"unknown calibration method '{method}'")


def with_calibrator(model: PipelineModel, fitted: PipelineModel) -> PipelineModel:
    return PipelineModel(stages=[*model.stages, *fitted.stages])


def cross_fitted_brier(scored: DataFrame, seed: int) -> dict[str, float]:
    """Brier score of the uncalibrated and each calibrated score, 2-fold cross-fitted on the
    validation rows (each fold scored by a calibrator fitted on the other)."""
    folded = scored.withColumn("fold", (train_fraction_expr("id", seed + 1) < 0.5).cast("int"))
    squared: dict[str, list] = {"uncalibrated": [], **{m: [] for m in METHODS}}
    for fold in (0, 1):
        fit_part = folded.filter(F.col("fold") != fold)
        held_out = folded.filter(F.col("fold") == fold)
        raw = collect_scores(PipelineModel(stages=[]), held_out, "classification", [LABEL])
        squared["uncalibrated"] += list((raw[SCORE] - raw[LABEL]) ** 2)
        for method in METHODS:
            fitted = calibrator(method).fit(fit_part)
            rows = collect_scores(fitted, held_out, "classification", [LABEL])
            squared[method] += list((rows[SCORE] - rows[LABEL]) ** 2)
    return {k: float(np.mean(v)) if v else float("nan") for k, v in squared.items()}


def choose_method(requested: str, brier: dict[str, float]) -> str:
    """``auto`` keeps the option with the lowest cross-fitted Brier score (ties: none)."""
    if requested != "auto":
        return requested
    best = min(("uncalibrated", *METHODS), key=lambda k: (brier[k], k != "uncalibrated"))
    return "none" if best == "uncalibrated" else best
