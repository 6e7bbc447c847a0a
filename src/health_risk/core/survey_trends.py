"""Survey-weighted trends by area and year: yearly prevalence, pooled-year prevalence and the
change between the first and the last year, each with its design-based standard error.

A survey read as several yearly files (BRFSS: one file per data year, the year of each row in
a column such as ``_survey_year``) is one sample per year, each with its own design: a
stratum code of one year is another stratum than the same code of the next year. So every
stratum here is (year, stratum), and PSUs are nested in those strata.

* **Yearly**: for each area and year, and nationally (all areas) for each year, the weighted
  prevalence ``p = sum(w y) / sum(w)`` over the respondents with a target value and a positive
  weight, and its Taylor-linearised standard error as ``core.survey_design`` computes it for a
  single year (PSUs with replacement, every PSU of the year's stratum in ``n_h``, single-PSU
  strata contributing nothing). All domains are computed in one pass: the domain is (area,
  year) and the strata are year-specific, so another year's PSUs have ``z = 0`` for the domain
  and sit in other strata, and the numbers are those of a call on that year's rows alone.
* **Pooled** (all years combined), by area and nationally, with CDC's adjustment of the final
  weight for combining years ("Complex Sampling Weights and Preparing Module Data for
  Analysis"): each year's weight times that year's share of the area's pooled sample,
  ``w * n_{area,year} / n_{area}`` (``sample_size``), so that the adjusted weights of an area
  add up to about its population; or ``w / K_area``, K the number of years the area has
  respondents in (``equal``). The design keeps the year-specific strata and PSUs.
* **Change** between the first and the last year of the run, by area and nationally:
  ``p_last - p_first`` with ``SE = sqrt(se_first^2 + se_last^2)`` (the yearly samples are
  independent), a 95 % interval and a two-sided p-value from Student's t with the
  Welch-Satterthwaite degrees of freedom of the two design-based variances (the normal
  interval for large designs).

Each yearly and pooled estimate carries the Korn-Graubard interval and the NCHS reliability
flag (``survey_design.published_interval``), with the design's degrees of freedom (PSUs minus
strata with a respondent). Only one row per domain is collected from Spark.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from health_risk.core.lazy_import import LAZY_IMPORT_LOCK
from health_risk.core.survey_design import (
    LEVEL,
    NO_DATA,
    RELIABLE,
    REVIEW,
    SUPPRESS,
    design_standard_errors,
    published_interval,
)

YEARLY, POOLED, CHANGE = "yearly", "pooled", "change"
AREA, NATIONAL = "area", "national"  # the scope of an estimate: one area, or all of them
SAMPLE_SIZE, EQUAL = "sample_size", "equal"  # how years are weighted when pooled
WEIGHTINGS = (SAMPLE_SIZE, EQUAL)
POOLED_WEIGHT = "pooled_weight"

# The published figures of every estimate (yearly, pooled and change rows share the names; on a
# change row they describe last year minus first year).
ESTIMATE_COLUMNS = ["respondents", "weighted_population", "unweighted", "weighted", "se",
                    "ci_low", "ci_high", "effective_n", "degrees_of_freedom", "strata_used",
                    "psus_used", "singleton_strata", "reliability", "reliability_reason"]
CHANGE_COLUMNS = ["first_year", "last_year", "first_weighted", "last_weighted", "respondents",
                  "unweighted", "weighted", "se", "degrees_of_freedom", "ci_low", "ci_high",
                  "p_value", "reliability", "reliability_reason"]

_DOMAIN, _KIND, _SCOPE = "__trend_domain", "__trend_kind", "__trend_scope"
_YEAR, _AREA, _Y, _W, _WP = "__trend_year", "__trend_area", "__trend_y", "__trend_w", "__trend_wp"
_STRATUM, _PSU = "__trend_stratum", "__trend_psu"
_SEPARATOR, _NULL = "\u001f", "\u0000null"  # domain keys: parts, and a null year or area


@dataclass(frozen=True)
class SurveyTrends:
    """``yearly``: scope, area, carried columns, year, ``ESTIMATE_COLUMNS``; ``pooled``: the
    same with first_year, last_year, years and weighting instead of year; ``change``: scope,
    area, carried columns and ``CHANGE_COLUMNS`` (empty with one year). National rows first
    (area null), then the areas in order."""

    yearly: pd.DataFrame
    pooled: pd.DataFrame
    change: pd.DataFrame


def pooled_weights(rows: DataFrame, area: str, year: str, weight: str,
                   weighting: str = SAMPLE_SIZE, output: str = POOLED_WEIGHT) -> DataFrame:
    """``rows`` with ``output``, the weight for estimates pooled over the years: ``w *
    n_{area,year} / n_{area}`` (``sample_size``: CDC's adjustment, n counting the rows with a
    positive weight, i.e. the area's sample of each year's file) or ``w / K_area`` (``equal``,
    K the number of years with such rows in the area). Null where the weight is not positive.
    Only one row per area and year is aggregated (a broadcast join brings the factor back)."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"pooled weighting '{weighting}' is not one of {list(WEIGHTINGS)}")
    w = F.col(weight).cast("double")
    positive = w.isNotNull() & (w > 0)
    counts = (rows.filter(positive)
              .groupBy(F.col(area).alias("__pooled_area"), F.col(year).alias("__pooled_year"))
              .agg(F.count(F.lit(1)).cast("double").alias("__pooled_n")))
    in_area = Window.partitionBy("__pooled_area")
    factor = (F.col("__pooled_n") / F.sum("__pooled_n").over(in_area) if weighting == SAMPLE_SIZE
              else F.lit(1.0) / F.count(F.lit(1)).over(in_area))
    factors = counts.select("__pooled_area", "__pooled_year", factor.alias("__pooled_factor"))
    joined = rows.join(F.broadcast(factors),
                       rows[area].eqNullSafe(factors["__pooled_area"])
                       & rows[year].eqNullSafe(factors["__pooled_year"]), "left")
    return (joined.withColumn(output, F.when(positive, w * F.col("__pooled_factor")))
            .drop("__pooled_area", "__pooled_year", "__pooled_factor"))


def survey_trends(rows: DataFrame, area: str, year: str, target: str, weight: str,
                  strata: str, psu: str, weighting: str = SAMPLE_SIZE,
                  carry: tuple[str, ...] = (), level: float = LEVEL) -> SurveyTrends:
    """Yearly, pooled and change estimates of the weighted mean of ``target`` by ``area`` and
    nationally (module docstring). ``rows`` are the respondents of every year (each row with a
    positive weight is in the design; those with a target are estimated); ``carry`` are
    columns constant within an area (e.g. its code), reported beside it. Every respondent
    must have a year."""
    w = F.col(weight).cast("double")
    def text(column: str):  # a year or an area as a part of a key, null included
        return F.coalesce(F.col(column).cast("string"), F.lit(_NULL))

    base = (pooled_weights(rows, area, year, weight, weighting, _WP)
            .filter(w.isNotNull() & (w > 0))
            .select(F.col(year).alias(_YEAR), F.col(area).alias(_AREA), *map(F.col, carry),
                    F.col(target).cast("double").alias(_Y), w.alias(_W), F.col(_WP),
                    # Strata are year-specific: (year, stratum).
                    F.concat(text(year), F.lit(_SEPARATOR),
                             F.coalesce(F.col(strata).cast("string"), F.lit("<no stratum>")))
                    .alias(_STRATUM),
                    # A respondent without a PSU is a PSU of its own (as design_standard_errors
                    # does), named here once, before the row is copied into its domains.
                    F.coalesce(F.col(psu).cast("string"),
                               F.concat(F.lit("<row>"),
                                        F.monotonically_increasing_id().cast("string")))
                    .alias(_PSU)))
    # Every respondent in four domains: its (area, year), its year (national), its area pooled
    # over the years, and all of it pooled, with the yearly or the pooled weight.
    copies = F.array(*[F.struct(F.lit(kind).alias("kind"), F.lit(scope).alias("scope"),
                                F.col(_W if kind == YEARLY else _WP).alias("w"))
                       for kind in (YEARLY, POOLED) for scope in (AREA, NATIONAL)])
    copied = base.select("*", F.explode(copies).alias("__trend_copy"))
    kind, scope = F.col("__trend_copy.kind"), F.col("__trend_copy.scope")
    yearly, by_area = kind == YEARLY, scope == AREA
    domains = copied.select(
        F.concat_ws(_SEPARATOR, kind, scope, F.when(yearly, text(_YEAR)).otherwise(""),
                    F.when(by_area, text(_AREA)).otherwise("")).alias(_DOMAIN),
        kind.alias(_KIND), scope.alias(_SCOPE), F.col(_YEAR),
        F.when(by_area, F.col(_AREA)).alias(area),
        *[F.when(by_area, F.col(c)).alias(c) for c in carry],
        F.col(_Y), F.col("__trend_copy.w").alias(_W), F.col(_STRATUM), F.col(_PSU))
    estimates = _point_estimates(domains, area, carry, year)
    errors = design_standard_errors(domains, _DOMAIN, _Y, _W, _STRATUM, _PSU)
    table = estimates.merge(errors, on=_DOMAIN, how="left").drop(columns=_DOMAIN)
    table["degrees_of_freedom"] = table["psus_used"] - table["strata_used"]
    table = table.rename(columns={"design_se": "se"})
    published = published_interval(table["weighted"].astype(float), table["se"].astype(float),
                                   table["respondents"].astype(float),
                                   table["degrees_of_freedom"].astype(float), level=level)
    table = pd.concat([table, published], axis=1)
    order = ["scope", area, *carry]
    yearly_table = (table[table["kind"] == YEARLY]
                    .rename(columns={"first_year": year})[[*order, year, *ESTIMATE_COLUMNS]])
    yearly_table = _ordered(yearly_table, area, [year])
    years = (yearly_table.groupby(["scope", area], dropna=False)[year].nunique()
             .rename("years").reset_index())
    pooled_table = (table[table["kind"] == POOLED].merge(years, on=["scope", area], how="left")
                    .assign(weighting=weighting))
    pooled_table = _ordered(pooled_table[[*order, "first_year", "last_year", "years",
                                          "weighting", *ESTIMATE_COLUMNS]], area, [])
    return SurveyTrends(yearly_table, pooled_table,
                        change_between_years(yearly_table, area, year, carry, level))


def _point_estimates(domains: DataFrame, area: str, carry: tuple[str, ...],
                     year: str) -> pd.DataFrame:
    """One row per domain with respondents: kind, scope, the area and carried columns, the
    first and last year, respondents, weighted population, unweighted and weighted mean."""
    answered = F.col(_Y).isNotNull()
    weighted = F.when(answered, F.col(_W))
    table = (domains.groupBy(_DOMAIN)
             .agg(F.max(_KIND).alias("kind"), F.max(_SCOPE).alias("scope"),
                  F.max(area).alias(area), *[F.max(c).alias(c) for c in carry],
                  F.min(F.when(answered, F.col(_YEAR))).alias("first_year"),
                  F.max(F.when(answered, F.col(_YEAR))).alias("last_year"),
                  F.count(weighted).alias("respondents"),
                  F.sum(weighted).alias("weighted_population"),
                  F.avg(_Y).alias("unweighted"),
                  (F.sum(weighted * F.col(_Y)) / F.sum(weighted)).alias("weighted"),
                  F.sum(F.col(_YEAR).isNull().cast("int")).alias("__without_year"))
             .toPandas())
    without_year = int(table["__without_year"].max()) if len(table) else 0
    if without_year:
        raise ValueError(f"{without_year} respondent(s) with a positive weight have no "
                         f"'{year}': every row needs the data year of its file for trends")
    return table[table["respondents"] > 0].drop(columns="__without_year")


def _ordered(table: pd.DataFrame, area: str, then: list[str]) -> pd.DataFrame:
    """National rows first, then the areas (nulls last), each by ``then``."""
    return (table.assign(__national=table["scope"] != NATIONAL)
            .sort_values(["__national", area, *then], na_position="last", kind="stable")
            .drop(columns="__national").reset_index(drop=True))


def change_between_years(yearly: pd.DataFrame, area: str, year: str,
                         carry: tuple[str, ...] = (), level: float = LEVEL) -> pd.DataFrame:
    """The change of each area's (and the national) weighted prevalence from the first to the
    last year of ``yearly`` (the run's years, not the area's): ``weighted`` = last - first,
    ``se`` = sqrt(se_first^2 + se_last^2) (independent yearly samples), the Welch-Satterthwaite
    degrees of freedom ``(v1 + v2)^2 / (v1^2 / df1 + v2^2 / df2)``, a t interval and the
    two-sided p-value of no change. A change is as reliable as the less reliable of its two
    estimates (the NCHS flag of each year); an area without respondents in the first or the
    last year gets a row without figures (``no respondents``). Empty with fewer than two
    years."""
    with LAZY_IMPORT_LOCK:
        from scipy import stats

    keys = ["scope", area, *carry]
    years = sorted(yearly[year].dropna().unique())
    if len(years) < 2:
        return pd.DataFrame(columns=[*keys, *CHANGE_COLUMNS])
    first_year, last_year = years[0], years[-1]
    areas = yearly[keys].drop_duplicates()
    first = areas.merge(yearly[yearly[year] == first_year], on=keys, how="left")
    last = areas.merge(yearly[yearly[year] == last_year], on=keys, how="left")
    v1, v2 = first["se"].astype(float) ** 2, last["se"].astype(float) ** 2
    df1, df2 = first["degrees_of_freedom"].astype(float), last["degrees_of_freedom"].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        denominator = (np.where(v1 > 0, v1 ** 2 / df1, 0.0)
                       + np.where(v2 > 0, v2 ** 2 / df2, 0.0))
        df = np.where((denominator > 0) & np.isfinite(denominator),
                      (v1 + v2) ** 2 / denominator, np.nan)
        change = last["weighted"].astype(float) - first["weighted"].astype(float)
        se = np.sqrt(v1 + v2)
        usable = (se > 0) & (df > 0)
        t = stats.t.ppf(1 - (1 - level) / 2, np.where(usable, df, 1.0))
        p_value = np.where(usable, 2 * stats.t.sf(np.abs(change / se), np.where(usable, df, 1.0)),
                           np.nan)
    flags = [_change_flag(f, la, first_year, last_year)
             for f, la in zip(first.to_dict("records"), last.to_dict("records"), strict=True)]
    table = areas.reset_index(drop=True).assign(
        first_year=first_year, last_year=last_year,
        first_weighted=first["weighted"].astype(float),
        last_weighted=last["weighted"].astype(float),
        respondents=first["respondents"].fillna(0).astype(int)
        + last["respondents"].fillna(0).astype(int),
        unweighted=last["unweighted"].astype(float) - first["unweighted"].astype(float),
        weighted=change, se=se, degrees_of_freedom=df,
        ci_low=np.where(usable, change - t * se, np.nan),
        ci_high=np.where(usable, change + t * se, np.nan), p_value=p_value,
        reliability=[flag for flag, _ in flags], reliability_reason=[why for _, why in flags])
    return _ordered(table[[*keys, *CHANGE_COLUMNS]], area, [])


def _change_flag(first: dict, last: dict, first_year, last_year) -> tuple[str, str]:
    """The less reliable of the two yearly flags, with the years it comes from."""
    missing = [str(y) for y, row in ((first_year, first), (last_year, last))
               if pd.isna(row.get("weighted"))]
    if missing:
        return NO_DATA, f"no respondents in {' and '.join(missing)}"
    for flag in (SUPPRESS, REVIEW):
        years = [str(y) for y, row in ((first_year, first), (last_year, last))
                 if row.get("reliability") == flag]
        if years:
            return flag, (f"the {' and '.join(years)} estimate{'s are' if len(years) > 1 else ' is'}"
                          f" flagged '{flag}'")
    return RELIABLE, ""
