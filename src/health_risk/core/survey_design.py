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

Published proportions follow the NCHS Data Presentation Standards for Proportions (Parker et
al., Vital Health Stat 2(175), 2017): a Korn-Graubard 95 % interval (``korn_graubard``, as R's
``survey::svyciprop(method = "beta")`` computes it) and a reliability flag
(``nchs_reliability``: suppress, review or reliable).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from health_risk.core.lazy_import import LAZY_IMPORT_LOCK

AREA, STRATUM, PSU = "__area", "__stratum", "__psu"
Z_95 = 1.959964  # the normal quantile of a two-sided 95 % interval


def design_standard_errors(rows: DataFrame, area: str | None, target: str, weight: str,
                           strata: str, psu: str) -> pd.DataFrame:
    """One row per area (a single row when ``area`` is None): ``design_se`` of the weighted
    mean of ``target``; ``strata_used`` and ``psus_used``, the strata and PSUs with a respondent
    in the area (their difference is the design's degrees of freedom for the area, R's
    ``degf`` of the domain); and ``singleton_strata``. ``rows`` are the respondents (every row
    with a weight defines the design; those with a target are estimated)."""
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
                    .agg(F.sum("z_hi").alias("s1"), F.sum(F.col("z_hi") ** 2).alias("s2"),
                         F.count(F.lit(1)).alias("psus"))
                    .join(psus_per_stratum, STRATUM)
                    .withColumn("term", F.when(
                        F.col("n_h") > 1,
                        F.col("n_h") / (F.col("n_h") - 1)
                        * (F.col("s2") - F.col("s1") ** 2 / F.col("n_h"))).otherwise(0.0)))
    per_area = (strata_terms.groupBy(AREA)
                .agg(F.sqrt(F.greatest(F.sum("term"), F.lit(0.0))).alias("design_se"),
                     F.count(F.lit(1)).alias("strata_used"),
                     F.sum("psus").alias("psus_used"),
                     F.sum((F.col("n_h") == 1).cast("int")).alias("singleton_strata"))
                .toPandas())
    return per_area.rename(columns={AREA: area or "area"})


# --- publishing proportions: NCHS Data Presentation Standards for Proportions (2017) ----------
LEVEL = 0.95
MIN_EFFECTIVE_N = 30  # suppress below this effective sample size
MAX_CI_WIDTH = 0.30  # suppress a Korn-Graubard interval this wide or wider
RELATIVE_WIDTH_FROM = 0.05  # above this absolute width, the relative width is checked ...
MAX_RELATIVE_WIDTH = 1.30  # ... and more than 130 % of the estimate suppresses it
MIN_DEGREES_OF_FREEDOM = 8  # fewer: flag for review
SUPPRESS, REVIEW, RELIABLE, NO_DATA = "suppress", "review", "reliable", "no respondents"


def _array(values) -> np.ndarray:
    return np.asarray(pd.to_numeric(pd.Series(values).reset_index(drop=True),
                                    errors="coerce"), dtype=float)


def korn_graubard(p, variance, n, df, level: float = LEVEL) -> pd.DataFrame:
    """Korn-Graubard intervals of survey-weighted proportions, element by element, as R's
    ``survey::svyciprop(method = "beta")`` computes them::

        n_eff    = p (1 - p) / variance                       (effective sample size)
        n_eff_df = n_eff * (t(alpha/2, n - 1) / t(alpha/2, df))^2
        low      = qbeta(alpha/2,     n_eff_df p,     n_eff_df (1 - p) + 1)
        high     = qbeta(1 - alpha/2, n_eff_df p + 1, n_eff_df (1 - p))

    that is the Clopper-Pearson interval of ``n_eff_df * p`` events in ``n_eff_df`` trials.
    ``n`` counts the respondents, ``df`` is the design's degrees of freedom (PSUs minus strata
    with a respondent). For ``p`` 0 or 1 the variance is 0 and R gives no interval; the standard
    then takes the sample size as the effective one (``n_eff = n``, no df adjustment): the exact
    binomial interval. For ``0 < p < 1`` without a positive variance, or without a positive
    ``df``, the interval is undefined (NaN). Columns: ``effective_n``, ``effective_n_df``,
    ``ci_low``, ``ci_high`` (positional: the index of ``p`` when it is a Series)."""
    with LAZY_IMPORT_LOCK:
        from scipy import stats

    index = p.index if isinstance(p, pd.Series) else None
    p, variance, n, df = _array(p), _array(variance), _array(n), _array(df)
    alpha = 1.0 - level
    bounded = (p <= 0) | (p >= 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_eff = np.where(bounded, n, np.where(variance > 0, p * (1 - p) / variance, np.nan))
        usable_df = (df > 0) & (n > 1)
        ratio = np.where(usable_df, (stats.t.ppf(alpha / 2, np.where(n > 1, n - 1, 1))
                                     / stats.t.ppf(alpha / 2, np.where(df > 0, df, 1))) ** 2,
                         np.nan)
        n_adj = np.where(bounded, n, n_eff * ratio)
        events = n_adj * p
        low = np.where(p <= 0, 0.0,
                       stats.beta.ppf(alpha / 2, events, n_adj - events + 1))
        high = np.where(p >= 1, 1.0,
                        stats.beta.ppf(1 - alpha / 2, events + 1, n_adj - events))
    missing = np.isnan(p) | np.isnan(n_adj)
    return pd.DataFrame({"effective_n": n_eff, "effective_n_df": n_adj,
                         "ci_low": np.where(missing, np.nan, low),
                         "ci_high": np.where(missing, np.nan, high)}, index=index)


def nchs_reliability(p, ci_low, ci_high, effective_n, df) -> pd.DataFrame:
    """The NCHS reliability flag of each proportion (Data Presentation Standards for
    Proportions, 2017), with the reasons that set it:

    * ``suppress``: effective sample size below 30, or a Korn-Graubard interval 0.30 wide or
      wider, or wider than 0.05 with a relative width (width / p) above 130 %; also when there
      is no interval to judge (no variance or degrees of freedom);
    * ``review``: otherwise, when the degrees of freedom are below 8 or the estimate is 0 or 1;
    * ``reliable``: none of these; ``no respondents`` where there is no estimate.

    Columns ``reliability`` and ``reliability_reason`` (the index of ``p`` when it is a Series)."""
    index = p.index if isinstance(p, pd.Series) else None
    p, low, high = _array(p), _array(ci_low), _array(ci_high)
    n_eff, df = _array(effective_n), _array(df)
    width = high - low
    flags, reasons = [], []
    for i in range(len(p)):
        if np.isnan(p[i]):
            flags.append(NO_DATA)
            reasons.append("")
            continue
        suppress, review = [], []
        if np.isnan(n_eff[i]) or np.isnan(width[i]):
            suppress.append("no interval (no design-based variance or degrees of freedom)")
        else:
            if n_eff[i] < MIN_EFFECTIVE_N:
                suppress.append(f"effective n {n_eff[i]:.1f} < {MIN_EFFECTIVE_N}")
            if width[i] >= MAX_CI_WIDTH:
                suppress.append(f"CI width {width[i]:.3f} >= {MAX_CI_WIDTH:.2f}")
            elif width[i] > RELATIVE_WIDTH_FROM:
                relative = width[i] / p[i] if p[i] > 0 else np.inf
                if relative > MAX_RELATIVE_WIDTH:
                    suppress.append(f"CI width {width[i]:.3f} > {RELATIVE_WIDTH_FROM:.2f} and "
                                    f"relative width {100 * relative:.0f}% > "
                                    f"{100 * MAX_RELATIVE_WIDTH:.0f}%")
        if not np.isnan(df[i]) and df[i] < MIN_DEGREES_OF_FREEDOM:
            review.append(f"degrees of freedom {df[i]:.0f} < {MIN_DEGREES_OF_FREEDOM}")
        if p[i] <= 0 or p[i] >= 1:
            review.append(f"estimate is {p[i]:.0f}")
        flags.append(SUPPRESS if suppress else REVIEW if review else RELIABLE)
        reasons.append("; ".join(suppress + review))
    return pd.DataFrame({"reliability": flags, "reliability_reason": reasons}, index=index)


def published_interval(p, se, n, df, level: float = LEVEL) -> pd.DataFrame:
    """What a published proportion carries beside its standard error: the Korn-Graubard
    interval (``ci_low``, ``ci_high``), the effective sample size (``effective_n``) and the
    NCHS flag (``reliability``, ``reliability_reason``), element by element. ``se`` is the
    (design-based) standard error, ``n`` the respondents and ``df`` the degrees of freedom (PSUs
    minus strata with a respondent; ``n - 1`` without a design). The index of ``p`` when it
    is a Series."""
    index = p.index if isinstance(p, pd.Series) else None
    kg = korn_graubard(_array(p), _array(se) ** 2, n, df, level=level)
    flags = nchs_reliability(_array(p), kg["ci_low"], kg["ci_high"], kg["effective_n"], df)
    return pd.DataFrame({"ci_low": kg["ci_low"].to_numpy(), "ci_high": kg["ci_high"].to_numpy(),
                         "effective_n": kg["effective_n"].to_numpy(),
                         "reliability": flags["reliability"].to_numpy(),
                         "reliability_reason": flags["reliability_reason"].to_numpy()},
                        index=index)
