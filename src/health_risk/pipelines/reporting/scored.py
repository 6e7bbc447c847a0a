"""Summaries of the latest scored batch (``<study>.predictions``, all batches partitioned by
``batch_id``): which batch is latest, and its risk-tier distribution."""

from __future__ import annotations

from typing import Any

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from health_risk.core.columns import BATCH_ID, LABEL, RISK_TIER, SCORE, WEIGHT

TIER_COLUMNS = ["risk_tier", "rows", "share", "weighted_share", "mean_score", "min_score",
                "max_score", "observed_rate"]


def latest_batch(predictions: DataFrame) -> tuple[DataFrame, dict[str, Any]]:
    """The batch scored last (ties: the larger batch id) and its model version."""
    row = (predictions.groupBy(BATCH_ID)
           .agg(F.max("scored_at").alias("scored_at"), F.max("model_name").alias("model_name"),
                F.max("model_version").alias("model_version"), F.count(F.lit(1)).alias("rows"))
           .orderBy(F.desc("scored_at"), F.desc(BATCH_ID)).first())
    if row is None:
        return predictions.limit(0), {}
    info = {"batch_id": row[BATCH_ID], "rows": int(row["rows"]),
            "scored_at": row["scored_at"].isoformat() if row["scored_at"] else None,
            "model_name": row["model_name"], "model_version": str(row["model_version"])}
    return predictions.filter(F.col(BATCH_ID) == info["batch_id"]), info


def risk_tier_table(batch: DataFrame) -> pd.DataFrame:
    """Rows, unweighted and survey-weighted shares, score range and observed rate per tier
    (weighted share is null when the batch has no weights; observed rate when no labels)."""
    weight = F.col(WEIGHT).cast("double")
    grouped = (batch.groupBy(RISK_TIER)
               .agg(F.count(F.lit(1)).alias("rows"), F.sum(weight).alias("weight"),
                    F.mean(SCORE).alias("mean_score"), F.min(SCORE).alias("min_score"),
                    F.max(SCORE).alias("max_score"), F.mean(LABEL).alias("observed_rate"))
               .toPandas())
    if grouped.empty:
        return pd.DataFrame(columns=TIER_COLUMNS)
    grouped["share"] = grouped["rows"] / grouped["rows"].sum()
    total_weight = grouped["weight"].sum(min_count=1)
    grouped["weighted_share"] = (grouped["weight"] / total_weight
                                 if pd.notna(total_weight) and total_weight > 0 else None)
    # Tiers cut the score, so ordering by score orders low -> high whatever the labels are.
    return (grouped.sort_values("min_score", na_position="last")
            .reset_index(drop=True)[TIER_COLUMNS])
