"""Survey-weighted prevalence by area (e.g. BRFSS fair/poor health by state), direct and
model-based.

Direct: from the primary table, each respondent weighted by the survey weight (``_LLCPWT``),
next to the plain unweighted share. With the survey design configured (strata ``_STSTR`` and
PSUs ``_PSU``) the standard error is design-based: Taylor linearisation of the weighted mean,
PSUs taken with replacement, single-PSU strata contributing no variance, as R's
``survey::svymean`` computes it. The published 95 % interval is Korn-Graubard's (as R's
``svyciprop(method = "beta")``: the effective sample size p(1 - p) / variance, adjusted for the
design's degrees of freedom, PSUs minus strata), and each estimate carries the NCHS reliability
flag (Data Presentation Standards for Proportions, 2017): suppress when the effective sample
size is under 30, the interval is 0.30 wide or wider, or wider than 0.05 with a relative width
over 130 %; review when the degrees of freedom are under 8 or the estimate is 0 or 1. Kish's
effective sample size, (sum w)^2 / sum w^2, is kept beside it (unequal weights only). Without a
design, the variance is p(1 - p) / Kish's n and the degrees of freedom n - 1.

Model-based (with ``small_area``): a Fay-Herriot area model of the direct estimates and their
sampling variances on covariates of a reference table (SAIPE poverty share and median household
income), fitted by REML: the EBLUP with its MSE (Prasad-Rao), the shrinkage factor gamma, and
the synthetic estimate x'beta, which is the model-based estimate of an area with no
respondents or fewer than ``small_area.min_respondents``. Predicted: the weighted mean of the
champion's calibrated probability over the latest scored batch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from health_risk.core.columns import SCORE, WEIGHT
from health_risk.core.errors import DataQualityError
from health_risk.core.small_area import (
    ESTIMATE,
    GAMMA,
    IN_MODEL,
    KIND,
    MSE,
    SYNTHETIC,
    SmallAreaError,
    fit_fay_herriot,
    mse_interval,
)
from health_risk.core.survey_design import (
    NO_DATA,
    SUPPRESS,
    design_standard_errors,
    published_interval,
)
from health_risk.pipelines.reporting.config import PopulationConfig, SmallAreaConfig

DIRECT = "observed_weighted"
# The model-based columns, after the direct ones (``small_area`` configured).
MODEL_COLUMNS = ["model_input", "synthetic", "model_based", "model_based_mse",
                 "model_based_rmse", "model_based_ci_low", "model_based_ci_high",
                 "model_based_cv", "gamma", "model_based_kind"]
PREDICTED_COLUMNS = ["predicted_rows", "predicted_unweighted", "predicted_weighted"]


def _weighted(value, weight):
    usable = value.isNotNull() & weight.isNotNull()
    w = F.when(usable, weight)
    return F.sum(w * value) / F.sum(w), w


def _observed_statistics(config: PopulationConfig) -> list:
    y, weight = F.col(config.target).cast("double"), F.col(config.weight).cast("double")
    weighted_mean, w = _weighted(y, weight)
    return [F.count(F.lit(1)).alias("respondents"), F.sum(w).alias("weighted_population"),
            F.mean(y).alias("observed_unweighted"), weighted_mean.alias(DIRECT),
            (F.pow(F.sum(w), 2) / F.sum(w * w)).alias("kish_effective_n")]


def _predicted_statistics() -> list:
    score, weight = F.col(SCORE).cast("double"), F.col(WEIGHT).cast("double")
    weighted_mean, _ = _weighted(score, weight)
    return [F.count(F.lit(1)).alias("predicted_rows"),
            F.mean(score).alias("predicted_unweighted"),
            weighted_mean.alias("predicted_weighted")]


def _with_interval(table: pd.DataFrame) -> pd.DataFrame:
    """Standard error (design-based when ``design_se`` is there, else from Kish's n), degrees
    of freedom, the Korn-Graubard interval, the NCHS effective sample size and flag."""
    p = table[DIRECT].astype(float)
    n = table["respondents"].astype(float)
    if "design_se" in table:
        se = table["design_se"].astype(float)
        df = table["psus_used"].astype(float) - table["strata_used"].astype(float)
    else:
        se = (p * (1 - p) / table["kish_effective_n"].astype(float)).pow(0.5)
        df = n - 1
    table["observed_weighted_se"] = se
    table["degrees_of_freedom"] = df
    published = published_interval(p, se, n, df)
    table["observed_weighted_ci_low"] = published["ci_low"].to_numpy()
    table["observed_weighted_ci_high"] = published["ci_high"].to_numpy()
    table["effective_n"] = published["effective_n"].to_numpy()
    table["observed_weighted_cv"] = (se / p).where(p > 0)
    table["reliability"] = published["reliability"].to_numpy()
    table["reliability_reason"] = published["reliability_reason"].to_numpy()
    return table


def _with_design(table: pd.DataFrame, rows: DataFrame, config: PopulationConfig,
                 area: str | None) -> pd.DataFrame:
    if not (config.strata and config.psu):
        return table
    errors = design_standard_errors(rows, area, config.target, config.weight, config.strata,
                                    config.psu)
    columns = ("design_se", "strata_used", "psus_used", "singleton_strata")
    if area is None:
        return table.assign(**{c: errors[c].iloc[0] if len(errors) else None for c in columns})
    return table.merge(errors, on=area, how="left")


def observed_by_area(primary: DataFrame, config: PopulationConfig,
                     study: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-area table and the same figures over every respondent."""
    needed = [config.area, config.area_code, config.target, config.weight,
              *([config.covariate] if config.covariate else []),
              *[c for c in (config.strata, config.psu) if c]]
    missing = [c for c in needed if c not in primary.columns]
    if missing:
        raise DataQualityError(f"{study}.primary: population estimates need column(s) "
                               f"{missing} (reporting.population)")
    answered = primary.filter(F.col(config.target).isNotNull())
    covariate = ([F.max(F.col(config.covariate).cast("double")).alias(config.covariate)]
                 if config.covariate else [])
    table = (answered.groupBy(config.area_code, config.area)
             .agg(*_observed_statistics(config), *covariate).toPandas())
    table = _with_interval(_with_design(table, primary, config, config.area))
    total = answered.agg(*_observed_statistics(config)).toPandas()
    total = _with_interval(_with_design(total, primary, config, None))
    return table, _plain_record(total)


def predicted_by_area(batch: DataFrame | None,
                      config: PopulationConfig) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-area and overall means of the score; empty when there is no scored batch (or the
    batch does not carry the area)."""
    columns = [config.area, *PREDICTED_COLUMNS]
    if batch is None or config.area not in batch.columns:
        return pd.DataFrame(columns=columns), {}
    scored = batch.filter(F.col(SCORE).isNotNull())
    table = scored.groupBy(config.area).agg(*_predicted_statistics()).toPandas()[columns]
    return table, _plain_record(scored.agg(*_predicted_statistics()).toPandas())


def _plain_record(frame: pd.DataFrame) -> dict[str, Any]:
    record = frame.iloc[0].to_dict() if len(frame) else {}
    return {key: (None if not isinstance(value, str) and pd.isna(value) else
                  value if isinstance(value, str) else
                  int(value) if key.endswith(("respondents", "_rows")) else float(value))
            for key, value in record.items()}


def area_code_text(value: Any) -> str | None:
    """Numeric area codes as the zero-padded text the boundaries use (FIPS 6 -> '06')."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        return f"{int(float(value)):02d}"
    except (TypeError, ValueError):
        return str(value)


def direct_columns(config: PopulationConfig) -> list[str]:
    """The direct part of the area table, in order."""
    design = ["design_se", "singleton_strata"] if config.strata and config.psu else []
    return [config.area_code, config.area, "respondents", "weighted_population",
            "observed_unweighted", DIRECT, "observed_weighted_se", "observed_weighted_ci_low",
            "observed_weighted_ci_high", "observed_weighted_cv", "effective_n",
            "kish_effective_n", "degrees_of_freedom", *design, "reliability",
            "reliability_reason"]


def area_table_columns(config: PopulationConfig) -> list[str]:
    """The header of ``area_estimates.csv`` (its manifest check compares the file with it)."""
    model = ([*MODEL_COLUMNS, *config.small_area.covariates] if config.small_area else [])
    return [*direct_columns(config), *model, *PREDICTED_COLUMNS,
            *([config.covariate] if config.covariate else [])]


def combine(observed: pd.DataFrame, predicted: pd.DataFrame,
            config: PopulationConfig) -> pd.DataFrame:
    """The direct estimates with the predicted prevalence beside them."""
    table = observed.merge(predicted, on=config.area, how="outer")
    table[config.area_code] = table[config.area_code].map(area_code_text)
    columns = [*direct_columns(config), *PREDICTED_COLUMNS,
               *([config.covariate] if config.covariate else [])]
    return (table[columns].sort_values([config.area_code, config.area], na_position="last")
            .reset_index(drop=True))


def reference_covariates(reference: Any, small_area: SmallAreaConfig) -> pd.DataFrame:
    """The reference table's area key (as text), label and covariates, one row per area."""
    columns = list(dict.fromkeys([small_area.key, *([small_area.label] if small_area.label
                                                     else []), *small_area.covariates]))
    available = list(reference.columns)
    missing = [c for c in columns if c not in available]
    if missing:
        raise DataQualityError(f"reference table '{small_area.reference}' has no column(s) "
                               f"{missing} (reporting.population.small_area); it has "
                               f"{available}")
    frame = (reference.select(*columns).toPandas() if hasattr(reference, "toPandas")
             else reference[columns].copy())
    frame[small_area.key] = frame[small_area.key].map(area_code_text)
    excluded = {area_code_text(key) for key in small_area.exclude}
    frame = frame[frame[small_area.key].notna() & ~frame[small_area.key].isin(excluded)]
    if frame[small_area.key].duplicated().any():
        raise DataQualityError(f"reference table '{small_area.reference}': more than one row "
                               f"per {small_area.key}")
    return frame.set_index(small_area.key)


def with_model_estimates(direct: pd.DataFrame, reference: pd.DataFrame,
                         config: PopulationConfig
                         ) -> tuple[pd.DataFrame, dict[str, Any], dict[str, dict[str, float]]]:
    """The area table (``area_table_columns``): the direct estimates, and for every area of the
    survey or of the reference table, the Fay-Herriot estimates; with the model's report and
    its MLflow metrics (``{name: {"value", "step"}}``). A model that cannot be fitted leaves the
    model-based columns empty and says why in the report."""
    small_area = config.small_area
    code, label = config.area_code, config.area
    direct = direct.copy()
    direct[code] = direct[code].map(area_code_text)
    keyed = direct.dropna(subset=[code]).set_index(code)
    if keyed.index.has_duplicates:
        raise DataQualityError(f"more than one {label} per {code}: "
                               f"{sorted(keyed.index[keyed.index.duplicated()])}")
    only_reference = reference.index.difference(keyed.index)
    areas = keyed.reindex(keyed.index.append(only_reference))
    if small_area.label:
        areas.loc[only_reference, label] = reference.loc[only_reference, small_area.label]
    areas["respondents"] = areas["respondents"].fillna(0).astype(int)
    areas.loc[only_reference, "reliability"] = NO_DATA
    areas.loc[only_reference, "reliability_reason"] = (
        f"no respondents in the survey (the area is in '{small_area.reference}')")
    covariates = reference[small_area.covariates].reindex(areas.index)
    usable = areas["respondents"] >= small_area.min_respondents
    report: dict[str, Any] = {
        "fitted": False, "method": small_area.method, "reference": small_area.reference,
        "covariates": small_area.covariates, "min_respondents": small_area.min_respondents}
    try:
        fit = fit_fay_herriot(areas[DIRECT].where(usable),
                              areas["observed_weighted_se"].astype(float) ** 2, covariates,
                              method=small_area.method)
    except SmallAreaError as error:
        model = pd.DataFrame(np.nan, index=areas.index, columns=MODEL_COLUMNS)
        report["reason"] = str(error)
        metrics: dict[str, dict[str, float]] = {}
    else:
        model = _model_columns(fit.areas)
        report, metrics = _model_report(fit, areas, label, report)
    table = pd.concat([areas, model, covariates], axis=1).rename_axis(code).reset_index()
    unkeyed = direct[direct[code].isna()]  # e.g. an area only the scored batch has
    if len(unkeyed):
        table = pd.concat([table, unkeyed.reindex(columns=table.columns)], ignore_index=True)
    return (table[area_table_columns(config)]
            .sort_values([code, label], na_position="last").reset_index(drop=True),
            report, metrics)


def _model_columns(fitted: pd.DataFrame) -> pd.DataFrame:
    low, high = mse_interval(fitted[ESTIMATE], fitted[MSE])
    root = np.sqrt(fitted[MSE].astype(float))
    estimate = fitted[ESTIMATE].astype(float)
    return pd.DataFrame({
        "model_input": fitted[IN_MODEL], "synthetic": fitted[SYNTHETIC],
        "model_based": estimate, "model_based_mse": fitted[MSE], "model_based_rmse": root,
        "model_based_ci_low": low, "model_based_ci_high": high,
        "model_based_cv": (root / estimate).where(estimate > 0), "gamma": fitted[GAMMA],
        "model_based_kind": fitted[KIND]}, index=fitted.index)


def _model_report(fit, areas: pd.DataFrame, label: str, report: dict[str, Any]
                  ) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    names = areas[label].astype(object).where(areas[label].notna(), areas.index.to_series())
    kinds = fit.areas[KIND]
    coefficients = [{"term": term, "estimate": float(row["estimate"]), "se": float(row["se"])}
                    for term, row in fit.coefficients.iterrows()]
    report = {**report, "fitted": True, "converged": fit.converged,
              "iterations": fit.iterations, "model_variance": fit.model_variance,
              "model_sd": math.sqrt(fit.model_variance), "coefficients": coefficients,
              "areas_in_model": fit.fitted_areas,
              "synthetic_areas": sorted(map(str, names[kinds == "synthetic"])),
              "areas_without_covariates": sorted(map(str, names[kinds.isna()])),
              "mean_gamma": float(fit.areas[GAMMA].mean())}
    metrics = {"model_variance": fit.model_variance, "areas_in_model": fit.fitted_areas,
               "synthetic_areas": len(report["synthetic_areas"]),
               "iterations": fit.iterations, "mean_gamma": report["mean_gamma"],
               **{f"beta.{c['term']}": c["estimate"] for c in coefficients},
               **{f"beta_se.{c['term']}": c["se"] for c in coefficients}}
    return report, {name: {"value": float(value), "step": 0} for name, value in metrics.items()}


def percent(value: Any) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * float(value):.1f}%"


def direct_text(row: pd.Series, value: str = DIRECT, low: str = "observed_weighted_ci_low",
                high: str = "observed_weighted_ci_high") -> str:
    """'18.2% (14.0-23.1%)', or 'suppressed' / 'no respondents' per the NCHS flag (the
    estimate and its interval in the columns ``value``, ``low`` and ``high``)."""
    if row.get("reliability") == SUPPRESS:
        return "suppressed"
    if pd.isna(row.get(value)):
        return "no respondents"
    return f"{percent(row[value])} ({percent(row[low])[:-1]}-{percent(row[high])})"


def model_text(row: pd.Series) -> str:
    """'19.0% +/- 1.2' (estimate +/- root-MSE, percentage points), or 'n/a'."""
    if pd.isna(row.get("model_based")):
        return "n/a"
    return f"{percent(row['model_based'])} ± {100 * float(row['model_based_rmse']):.1f}"


def _hover(row: pd.Series, config: PopulationConfig) -> str:
    reason = row.get("reliability_reason")
    lines = [f"<b>{row[config.area]}</b>",
             f"direct (survey-weighted, 95% KG CI): {direct_text(row)}",
             f"reliability: {row.get('reliability')}"
             + (f" ({reason})" if isinstance(reason, str) and reason else "")]
    if config.small_area:
        gamma = row.get("gamma")
        kind = row.get("model_based_kind")
        lines += [f"model-based ({kind if isinstance(kind, str) else 'n/a'}) ± rMSE: "
                  + model_text(row),
                  f"CV of the model-based estimate: {percent(row.get('model_based_cv'))}",
                  f"gamma: {'n/a' if pd.isna(gamma) else f'{float(gamma):.2f}'}"]
    respondents = row.get("respondents")
    lines += [f"predicted (weighted): {percent(row.get('predicted_weighted'))}",
              f"respondents: {0 if pd.isna(respondents) else int(respondents):,}"]
    if config.covariate and pd.notna(row.get(config.covariate)):
        lines.append(f"{config.covariate_label or config.covariate}: "
                     f"{row[config.covariate]:.1f}")
    return "<br>".join(lines)


def map_layers(table: pd.DataFrame, config: PopulationConfig
               ) -> list[tuple[str, list[float | None], str]]:
    """(label, z values, colour scale) of each map layer: direct (suppressed areas left
    blank), model-based and its CV (with ``small_area``), predicted, the covariate."""
    def values(series: pd.Series, scale: float) -> list[float | None]:
        return [None if pd.isna(v) else float(v) * scale for v in series]

    target = config.target_label
    suppressed = table["reliability"] == SUPPRESS
    layers = [(f"Direct {target} (survey-weighted, %; suppressed areas blank)",
               values(table[DIRECT].astype(float).where(~suppressed), 100.0), "Reds")]
    if config.small_area:
        layers += [(f"Model-based {target} (Fay-Herriot, %)",
                    values(table["model_based"].astype(float), 100.0), "Reds"),
                   ("CV of the model-based estimate (%)",
                    values(table["model_based_cv"].astype(float), 100.0), "Purples")]
    layers.append((f"Predicted {target} (survey-weighted, %)",
                   values(table["predicted_weighted"].astype(float), 100.0), "Reds"))
    if config.covariate:
        layers.append((config.covariate_label or config.covariate,
                       values(table[config.covariate].astype(float), 1.0), "Blues"))
    return layers


NO_VALUE_GREY = "#d9d9d9"


def area_map(table: pd.DataFrame, boundaries: dict[str, Any], config: PopulationConfig,
             title: str) -> go.Figure:
    """Choropleth of the direct estimates, with a menu for the model-based estimates, their
    CV, the predicted prevalence and the covariate. Every area is drawn grey underneath, so an
    area without a value in a layer (a suppressed direct estimate) stays visible. Boundaries
    are embedded GeoJSON (works offline)."""
    known = {feature["id"] for feature in boundaries["features"]}
    # Codes read back from CSV are numbers again (6, not '06'): normalise before matching.
    codes = table[config.area_code].map(area_code_text)
    mapped = table.assign(**{config.area_code: codes})[codes.isin(known)].reset_index(drop=True)
    hover = [_hover(row, config) for _, row in mapped.iterrows()]
    layers = map_layers(mapped, config)
    locations = mapped[config.area_code].tolist()
    outline = {"geojson": boundaries, "featureidkey": "id", "locations": locations,
               "text": hover, "hoverinfo": "text", "marker_line_color": "white",
               "marker_line_width": 0.5}
    figure = go.Figure([
        go.Choropleth(**outline, z=[0.0] * len(locations), showscale=False,
                      colorscale=[[0, NO_VALUE_GREY], [1, NO_VALUE_GREY]], name="no value"),
        go.Choropleth(**outline, z=layers[0][1], colorscale=layers[0][2],
                      colorbar={"title": {"text": "%"}}, name="estimate")])
    buttons = [{"label": label, "method": "update",
                "args": [{"z": [z], "colorscale": [colors]},
                         {"title.text": f"{title}: {label}"}, [1]]}
               for label, z, colors in layers]
    figure.update_geos(scope="usa", projection_type="albers usa", visible=False)
    figure.update_layout(title=f"{title}: {layers[0][0]}", height=520,
                         margin={"l": 10, "r": 10, "t": 90, "b": 10},
                         updatemenus=[{"buttons": buttons, "direction": "down", "x": 0.0,
                                       "xanchor": "left", "y": 1.12, "yanchor": "top"}])
    return figure


def display_table(table: pd.DataFrame, config: PopulationConfig) -> pd.DataFrame:
    """The report's table: direct +/- Korn-Graubard CI (or 'suppressed'), the flag, the
    model-based estimate +/- root-MSE, its kind and gamma side by side."""
    rows = []
    for _, row in table.iterrows():
        respondents = row.get("respondents")
        shown = {config.area: row[config.area],
                 "respondents": 0 if pd.isna(respondents) else int(respondents),
                 "direct (95% KG CI)": direct_text(row),
                 "NCHS flag": row.get("reliability")}
        if config.small_area:
            gamma, cv = row.get("gamma"), row.get("model_based_cv")
            shown.update({"model-based ± rMSE (pp)": model_text(row),
                          "kind": (row.get("model_based_kind")
                                   if isinstance(row.get("model_based_kind"), str) else "n/a"),
                          "gamma": None if pd.isna(gamma) else round(float(gamma), 3),
                          "CV (model-based)": percent(cv)})
        shown["predicted (weighted)"] = percent(row.get("predicted_weighted"))
        reason = row.get("reliability_reason")
        shown["why flagged"] = reason if isinstance(reason, str) else ""
        rows.append(shown)
    return pd.DataFrame(rows)
