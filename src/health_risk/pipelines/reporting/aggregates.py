"""Aggregate tables computed in Spark; only the small grouped result reaches the driver."""

from __future__ import annotations

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from health_risk.pipelines.reporting.config import ROWS, AggregateSpec
from health_risk.row_contract import DataQualityError


def _statistic(stat: str, column: str, weight: str | None) -> Column:
    value = F.col(column).cast("double")
    if stat == "weighted_mean":
        # Rows missing the value or the weight carry no information about the weighted mean.
        usable = value.isNotNull() & F.col(weight).isNotNull()
        w = F.when(usable, F.col(weight).cast("double"))
        return F.sum(w * value) / F.sum(w)
    return {"mean": F.mean, "min": F.min, "max": F.max, "stddev": F.stddev_samp,
            "sum": F.sum}[stat](value)


def aggregate_table(source: DataFrame, name: str, spec: AggregateSpec, study: str) -> pd.DataFrame:
    """One aggregate table with the columns ``spec.columns()``, sorted by the group columns."""
    needed = [*spec.group_by, *spec.measures, *([spec.weight] if spec.weight else [])]
    missing = [c for c in dict.fromkeys(needed) if c not in source.columns]
    if missing:
        raise DataQualityError(f"{study}.primary: aggregate '{name}' needs column(s) {missing} "
                               "that the table does not have")
    statistics = [_statistic(stat, column, spec.weight).alias(f"{stat}_{column}")
                  for column, stats in spec.measures.items() for stat in stats]
    grouped = (source.groupBy(*spec.group_by)
               .agg(F.count(F.lit(1)).alias(ROWS), *statistics)
               .orderBy(*[F.col(c).asc_nulls_last() for c in spec.group_by]))
    return grouped.toPandas()[spec.columns()]
