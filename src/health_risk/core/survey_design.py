"""Design-based (Taylor linearisation) standard errors of survey-weighted means by area.

The estimator of an area's prevalence is the ratio ``sum(w y) / sum(w)`` over the area's
respondents. Its linearised variance under a stratified cluster design, with the
with-replacement approximation for the primary sampling units (PSUs), is

    V = sum_h  n_h / (n_h - 1) * sum_i (z_hi - mean_h z)^2,
    z_hi = sum over the PSU's respondents in the area of  w_j (y_j - ybar) / sum(w),

where ``n_h`` counts the PSUs of stratum ``h`` in the whole sample and ``z`` is zero outside the
area (domain estimation). This is what R's ``survey`` package computes for
``svyby(~y, ~area, svydesign(ids=~_PSU, strata=~_STSTR, weights=~_LLCPWT, nest=TRUE), svymean)``.
A stratum with a single PSU contributes no variance (R's ``survey.lonely.psu = "certainty"``);
how many there were is reported. Everything is computed in Spark: only one row per area (and
per area and stratum, inside Spark) is aggregated, never the respondents themselves.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

AREA, STRATUM, PSU = "__area", "__stratum", "__psu"
Z_95 = 1.959964  # the normal quantile of a two-sided 95 % interval


def design_standard_errors(rows: DataFrame, area: str | None, target: str, weight: str,
                           strata: str, psu: str) -> pd.DataFrame:
    """One row per area (a single row when ``area`` is None): ``design_se`` of the weighted
    mean of ``target``, ``strata_used`` and ``singleton_strata``. ``rows`` are the respondents
    (every row with a weight defines the design; those with a target are estimated)."""
    y, w = F.col(target).cast("double"), F.col(weight).cast("double")
    design = (rows.filter(w.isNotNull() & (w > 0))
              .select((F.col(area) if area else F.lit("all")).alias(AREA),
                      F.coalesce(F.col(strata).cast("string"), F.lit("<no stratum>"))
                      .alias(STRATUM),
                      # A respondent without a PSU is a PSU of its own.
                      F.coalesce(F.col(psu).cast("string"),
                                 F.concat(F.lit("<row>"),
                                          F.monotonically_increasing_id().cast("string")))
                      .alias(PSU),
                      y.alias("y"), w.alias("w")))
    # n_h over the whole design: PSUs without a respondent in the area count (with z = 0).
    psus_per_stratum = design.groupBy(STRATUM).agg(F.countDistinct(PSU).alias("n_h"))
    answered = design.filter(F.col("y").isNotNull())
    area_totals = answered.groupBy(AREA).agg(F.sum("w").alias("area_weight"),
                                             (F.sum(F.col("w") * F.col("y")) / F.sum("w"))
                                             .alias("ybar"))
    z = (answered.join(area_totals, AREA)
         .withColumn("z", F.col("w") * (F.col("y") - F.col("ybar")) / F.col("area_weight")))
    psu_totals = z.groupBy(AREA, STRATUM, PSU).agg(F.sum("z").alias("z_hi"))
    strata_terms = (psu_totals.groupBy(AREA, STRATUM)
                    .agg(F.sum("z_hi").alias("s1"), F.sum(F.col("z_hi") ** 2).alias("s2"))
                    .join(psus_per_stratum, STRATUM)
                    .withColumn("term", F.when(
                        F.col("n_h") > 1,
                        F.col("n_h") / (F.col("n_h") - 1)
                        * (F.col("s2") - F.col("s1") ** 2 / F.col("n_h"))).otherwise(0.0)))
    per_area = (strata_terms.groupBy(AREA)
                .agg(F.sqrt(F.greatest(F.sum("term"), F.lit(0.0))).alias("design_se"),
                     F.count(F.lit(1)).alias("strata_used"),
                     F.sum((F.col("n_h") == 1).cast("int")).alias("singleton_strata"))
                .toPandas())
    return per_area.rename(columns={AREA: area or "area"})
