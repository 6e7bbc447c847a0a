"""Survey-weighted prevalence by area (e.g. BRFSS fair/poor health by state).

Observed: from the primary table, each respondent weighted by the survey weight (``_LLCPWT``),
next to the plain unweighted share. Predicted: the weighted mean of the champion's calibrated
probability over the latest scored batch. With the survey design configured (strata
``_STSTR`` and PSUs ``_PSU``), the 95 % interval is design-based: Taylor linearisation of the
weighted mean, PSUs taken with replacement, single-PSU strata contributing no variance
(``survey_design``), as R's ``survey::svymean`` computes it. Kish's effective sample size,
(sum w)^2 / sum w^2, is kept beside it (``kish_ci_*``): it accounts for unequal weights only,
not for strata and clusters.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from health_risk.core.columns import SCORE, WEIGHT
from health_risk.core.errors import DataQualityError
from health_risk.core.survey_design import Z_95, design_standard_errors
from health_risk.pipelines.reporting.config import PopulationConfig


def _weighted(value, weight):
    usable = value.isNotNull() & weight.isNotNull()
    w = F.when(usable, weight)
    return F.sum(w * value) / F.sum(w), w


def _observed_statistics(config: PopulationConfig) -> list:
    y, weight = F.col(config.target).cast("double"), F.col(config.weight).cast("double")
    weighted_mean, w = _weighted(y, weight)
    return [F.count(F.lit(1)).alias("respondents"), F.sum(w).alias("weighted_population"),
            F.mean(y).alias("observed_unweighted"), weighted_mean.alias("observed_weighted"),
            (F.pow(F.sum(w), 2) / F.sum(w * w)).alias("effective_n")]


def _predicted_statistics() -> list:
    score, weight = F.col(SCORE).cast("double"), F.col(WEIGHT).cast("double")
    weighted_mean, _ = _weighted(score, weight)
    return [F.count(F.lit(1)).alias("predicted_rows"),
            F.mean(score).alias("predicted_unweighted"),
            weighted_mean.alias("predicted_weighted")]


def _with_interval(table: pd.DataFrame) -> pd.DataFrame:
    """Kish intervals always; design-based ones (the headline interval) when ``design_se`` is
    there, else the Kish interval is the headline."""
    p, n = table["observed_weighted"].astype(float), table["effective_n"].astype(float)
    kish_se = (p * (1 - p) / n).pow(0.5)
    table["kish_se"] = kish_se
    table["kish_ci_low"] = (p - Z_95 * kish_se).clip(lower=0.0)
    table["kish_ci_high"] = (p + Z_95 * kish_se).clip(upper=1.0)
    se = table["design_se"].astype(float) if "design_se" in table else kish_se
    table["observed_weighted_se"] = se
    table["observed_weighted_ci_low"] = (p - Z_95 * se).clip(lower=0.0)
    table["observed_weighted_ci_high"] = (p + Z_95 * se).clip(upper=1.0)
    return table


def _with_design(table: pd.DataFrame, rows: DataFrame, config: PopulationConfig,
                 area: str | None) -> pd.DataFrame:
    if not (config.strata and config.psu):
        return table
    errors = design_standard_errors(rows, area, config.target, config.weight, config.strata,
                                    config.psu)
    if area is None:
        return table.assign(**{c: errors[c].iloc[0] if len(errors) else None
                               for c in ("design_se", "strata_used", "singleton_strata")})
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
    table["small_sample"] = table["respondents"] < config.min_respondents
    total = answered.agg(*_observed_statistics(config)).toPandas()
    total = _with_interval(_with_design(total, primary, config, None))
    return table, _plain_record(total)


def predicted_by_area(batch: DataFrame | None,
                      config: PopulationConfig) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-area and overall means of the score; empty when there is no scored batch (or the
    batch does not carry the area)."""
    columns = [config.area, "predicted_rows", "predicted_unweighted", "predicted_weighted"]
    if batch is None or config.area not in batch.columns:
        return pd.DataFrame(columns=columns), {}
    scored = batch.filter(F.col(SCORE).isNotNull())
    table = scored.groupBy(config.area).agg(*_predicted_statistics()).toPandas()[columns]
    return table, _plain_record(scored.agg(*_predicted_statistics()).toPandas())


def _plain_record(frame: pd.DataFrame) -> dict[str, Any]:
    record = frame.iloc[0].to_dict() if len(frame) else {}
    return {key: (None if pd.isna(value) else
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


def combine(observed: pd.DataFrame, predicted: pd.DataFrame,
            config: PopulationConfig) -> pd.DataFrame:
    table = observed.merge(predicted, on=config.area, how="outer")
    table[config.area_code] = table[config.area_code].map(area_code_text)
    columns = [config.area_code, config.area, "respondents", "weighted_population",
               "observed_unweighted", "observed_weighted", "observed_weighted_se",
               "observed_weighted_ci_low", "observed_weighted_ci_high", "effective_n",
               "kish_ci_low", "kish_ci_high",
               *[c for c in ("design_se", "singleton_strata") if c in table],
               "small_sample", "predicted_rows",
               "predicted_unweighted", "predicted_weighted",
               *([config.covariate] if config.covariate else [])]
    return (table[columns].sort_values([config.area_code, config.area], na_position="last")
            .reset_index(drop=True))


def _percent(value: Any) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * float(value):.1f}%"


def area_map(table: pd.DataFrame, boundaries: dict[str, Any], config: PopulationConfig,
             title: str) -> go.Figure:
    """Choropleth of the weighted observed prevalence, with buttons for the predicted
    prevalence and the covariate. Boundaries are embedded GeoJSON (works offline)."""
    known = {feature["id"] for feature in boundaries["features"]}
    # Codes read back from CSV are numbers again (6, not '06'): normalise before matching.
    codes = table[config.area_code].map(area_code_text)
    mapped = table.assign(**{config.area_code: codes})[codes.isin(known)]
    hover = [
        f"<b>{row[config.area]}</b><br>observed (weighted): {_percent(row.observed_weighted)}"
        f"<br>observed (unweighted): {_percent(row.observed_unweighted)}"
        f"<br>predicted (weighted): {_percent(row.predicted_weighted)}"
        f"<br>respondents: {0 if pd.isna(row.respondents) else int(row.respondents):,}"
        + (" (small sample)" if row.small_sample is True else "")
        + (f"<br>{config.covariate_label or config.covariate}: {row[config.covariate]:.1f}"
           if config.covariate and pd.notna(row[config.covariate]) else "")
        for _, row in mapped.iterrows()
    ]
    layers = [("observed_weighted", f"Observed {config.target_label} (survey-weighted, %)",
               100.0, "Reds"),
              ("predicted_weighted", f"Predicted {config.target_label} (survey-weighted, %)",
               100.0, "Reds")]
    if config.covariate:
        layers.append((config.covariate, config.covariate_label or config.covariate, 1.0,
                       "Blues"))
    figure = go.Figure(go.Choropleth(
        geojson=boundaries, featureidkey="id", locations=mapped[config.area_code].tolist(),
        z=(mapped[layers[0][0]].astype(float) * layers[0][2]).tolist(), text=hover,
        hoverinfo="text", colorscale=layers[0][3], marker_line_color="white",
        marker_line_width=0.5, colorbar={"title": {"text": "%"}}))
    buttons = [{"label": label, "method": "update",
                "args": [{"z": [(mapped[column].astype(float) * scale).tolist()],
                          "colorscale": [colors]}, {"title.text": f"{title}: {label}"}]}
               for column, label, scale, colors in layers]
    figure.update_geos(scope="usa", projection_type="albers usa", visible=False)
    figure.update_layout(title=f"{title}: {layers[0][1]}", height=520,
                         margin={"l": 10, "r": 10, "t": 90, "b": 10},
                         updatemenus=[{"buttons": buttons, "direction": "down", "x": 0.0,
                                       "xanchor": "left", "y": 1.12, "yanchor": "top"}])
    return figure
