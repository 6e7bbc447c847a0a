"""Aggregate tables computed in Spark; only the small grouped result reaches the driver."""

from __future__ import annotations

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from health_risk.core.errors import DataQualityError
from health_risk.core.survey_design import Z_95, design_standard_errors
from health_risk.pipelines.reporting.config import ROWS, AggregateSpec

GROUP = "__group"


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
    if spec.design:
        missing = [c for c in (spec.design.strata, spec.design.psu) if c not in source.columns]
        if missing:
            raise DataQualityError(f"{study}.primary: aggregate '{name}' design needs "
                                   f"column(s) {missing} that the table does not have")
    statistics = [_statistic(stat, column, spec.weight).alias(f"{stat}_{column}")
                  for column, stats in spec.measures.items() for stat in stats]
    keyed = source.withColumn(GROUP, _group_key(spec.group_by))
    grouped = (keyed.groupBy(*spec.group_by, GROUP)
               .agg(F.count(F.lit(1)).alias(ROWS), *statistics)
               .orderBy(*[F.col(c).asc_nulls_last() for c in spec.group_by])).toPandas()
    if spec.design:
        for column in spec.weighted_columns():
            grouped = _with_design_interval(grouped, keyed, column, spec)
    return grouped[spec.columns()]


def _group_key(group_by: list[str]) -> Column:
    """One non-null string per group (a null group value has its own marker), so each group
    is a domain the design-based variance can join on."""
    return F.concat_ws("\u001f", *[F.coalesce(F.col(c).cast("string"), F.lit("\u0000null"))
                                   for c in group_by])


def _with_design_interval(grouped: pd.DataFrame, keyed: DataFrame, column: str,
                          spec: AggregateSpec) -> pd.DataFrame:
    errors = design_standard_errors(keyed, GROUP, column, spec.weight, spec.design.strata,
                                    spec.design.psu)
    mean = f"weighted_mean_{column}"
    merged = grouped.merge(errors[[GROUP, "design_se"]], on=GROUP, how="left")
    merged[f"{mean}_se"] = merged.pop("design_se")
    merged[f"{mean}_ci_low"] = merged[mean] - Z_95 * merged[f"{mean}_se"]
    merged[f"{mean}_ci_high"] = merged[mean] + Z_95 * merged[f"{mean}_se"]
    return merged
