"""Turn a fitted model's output into one ``score`` column (probability of the positive class,
calibrated when a calibrator is part of the model, or the regression prediction)."""

from __future__ import annotations

import pandas as pd
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from health_risk.core.columns import CALIBRATED, PLATT_PROBABILITY, SCORE


def score_column(scored: DataFrame, task: str) -> Column:
    if task == "regression":
        return F.col("prediction")
    if CALIBRATED in scored.columns:
        return F.col(CALIBRATED)
    if PLATT_PROBABILITY in scored.columns:
        return vector_to_array(F.col(PLATT_PROBABILITY)).getItem(1)
    return vector_to_array(F.col("probability")).getItem(1)


def score(model, df: DataFrame, task: str, keep: list[str]) -> DataFrame:
    """``model.transform`` reduced to the kept columns plus ``score``."""
    scored = model.transform(df)
    return scored.select(*keep, score_column(scored, task).alias(SCORE))


def collect_scores(model, df: DataFrame, task: str, keep: list[str]) -> pd.DataFrame:
    """Scores of a split as pandas: a handful of columns, never the feature table."""
    return score(model, df, task, keep).toPandas()
