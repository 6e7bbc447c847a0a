"""Reporting nodes: aggregates with QuickSight manifests, charts, population estimates, risk
tiers and the HTML report. Heavy work stays in Spark; only grouped results reach pandas."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from pyspark.sql import DataFrame

from health_risk.core.metrics import with_interval_text
from health_risk.pipelines.reporting import sections as blocks
from health_risk.pipelines.reporting.aggregates import aggregate_table
from health_risk.pipelines.reporting.charts import (
    bar_figure,
    empty_figure,
    plotly_chart,
)
from health_risk.pipelines.reporting.config import ReportConfig, ReportingConfig
from health_risk.pipelines.reporting.html import render_report
from health_risk.pipelines.reporting.manifest import (
    ManifestError,
    build_manifests,
    check_manifests,
)
from health_risk.pipelines.reporting.population import __doc__ as POPULATION_METHOD
from health_risk.pipelines.reporting.population import (
    area_map,
    area_table_columns,
    combine,
    display_table,
    observed_by_area,
    predicted_by_area,
    reference_covariates,
    with_model_estimates,
)
from health_risk.pipelines.reporting.scored import TIER_COLUMNS, latest_batch, risk_tier_table
from health_risk.pipelines.reporting.trends import KINDS as TREND_KINDS
from health_risk.pipelines.reporting.trends import (
    change_table,
    empty_trend_table,
    national_table,
    trend_estimates,
    trend_figure,
    trend_note,
    trend_table_columns,
    years_of,
    years_text,
)

logger = logging.getLogger(__name__)

CHART_KINDS = ("bar", "pie", "line")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _loaded(partitions: dict[str, Callable[[], pd.DataFrame] | pd.DataFrame]
            ) -> dict[str, pd.DataFrame]:
    """PartitionedDataset loads lazily (name -> loader); accept loaded frames too."""
    return {name: part() if callable(part) else part for name, part in partitions.items()}


# --- aggregates, manifests, charts -------------------------------------------------------------
def build_aggregate_tables(primary: DataFrame, params: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Every configured aggregate of ``<study>.primary``, computed in Spark."""
    config = ReportingConfig.model_validate(params)
    tables = {name: aggregate_table(primary, name, spec, config.study)
              for name, spec in config.aggregates.items()}
    logger.info("%s: %d aggregate tables (%s)", config.study, len(tables),
                ", ".join(f"{name}: {len(t)} rows" for name, t in tables.items()))
    return tables


def write_aggregate_manifests(aggregate_tables: dict[str, Any],
                              params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One QuickSight manifest per written table (URIs resolved by the dataset)."""
    config = ReportingConfig.model_validate(params)
    return build_manifests(list(aggregate_tables), config.manifest)


def validate_aggregate_manifests(manifests: dict[str, dict[str, Any]],
                                 params: dict[str, Any]) -> dict[str, Any]:
    """Stop the run unless every manifest entry names an existing, non-empty CSV whose header
    is the table's configured columns; the report lists every file checked."""
    config = ReportingConfig.model_validate(params)
    expected = {name: spec.columns() for name, spec in config.aggregates.items()}
    return _checked_manifests(manifests, expected, config, "the aggregate tables")


def _checked_manifests(manifests: dict[str, dict[str, Any]], expected: dict[str, list[str]],
                       config: ReportingConfig, what: str) -> dict[str, Any]:
    """The validation report of ``manifests`` against ``expected`` (table -> header); stops
    the run with every problem found."""
    entries, problems = check_manifests(manifests, expected, config.manifest)
    if problems:
        raise ManifestError(f"{config.study}: QuickSight manifest validation of {what} failed "
                            f"({len(problems)} problem(s)):\n  - " + "\n  - ".join(problems))
    return {"study": config.study, "valid": True, "tables": len(manifests),
            "files": entries, "checked_at": _now()}


def plot_aggregate_charts(aggregate_tables: dict[str, Any], params: dict[str, Any]):
    """Bar, pie and line charts of the configured tables as plotly figures (kedro-viz preview,
    the HTML report, and MLflow artifacts through the catalog)."""
    config = ReportingConfig.model_validate(params)
    tables = _loaded(aggregate_tables)
    specs = [(kind, getattr(config.charts, kind)) for kind in CHART_KINDS]
    return tuple(plotly_chart(kind, tables[spec.table], spec) for kind, spec in specs)


# --- scored batches ------------------------------------------------------------------------------
def summarise_risk_tiers(predictions: DataFrame | None, params: dict[str, Any]):
    """Risk-tier distribution of the latest scored batch (empty when nothing is scored)."""
    config = ReportingConfig.model_validate(params)
    title = f"{config.study}: risk tiers of the latest scored batch"
    if predictions is None:
        return pd.DataFrame(columns=TIER_COLUMNS), empty_figure(title, "no scored batch yet: run the inference pipeline")
    batch, info = latest_batch(predictions)
    table = risk_tier_table(batch)
    if table.empty:
        return table, empty_figure(title, "the latest batch has no scored rows")
    share = "weighted_share" if table["weighted_share"].notna().any() else "share"
    figure = bar_figure(table["risk_tier"].astype(str).tolist(), table[share].tolist(),
                        f"{title} ({info['batch_id']}, {info['model_name']} "
                        f"v{info['model_version']})", "risk tier",
                        "survey-weighted share" if share == "weighted_share" else "share of rows",
                        text=[f"{v:.1%}" for v in table[share]])
    return table, figure


def _population(config: ReportingConfig):
    if config.population is None:
        raise ValueError(f"{config.study}.reporting.population is not configured, but the "
                         "population nodes are wired for this study")
    return config.population


def estimate_area_prevalence(primary: DataFrame, predictions: DataFrame | None,
                             params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Direct estimates by area: observed (weighted with its Korn-Graubard interval and NCHS
    flag, and unweighted) and predicted prevalence."""
    config = ReportingConfig.model_validate(params)
    population = _population(config)
    observed, observed_total = observed_by_area(primary, population, config.study)
    batch, info = latest_batch(predictions) if predictions is not None else (None, {})
    predicted, predicted_total = predicted_by_area(batch, population)
    table = combine(observed, predicted, population)
    flags = table.set_index(population.area)["reliability"]
    summary = {
        "study": config.study, "area": population.area, "weight": population.weight,
        "target": population.target, "target_label": population.target_label,
        "areas": int(table[population.area].notna().sum()),
        "reliability": {flag: sorted(map(str, flags.index[flags == flag]))
                        for flag in ("suppress", "review", "reliable")},
        "observed": observed_total, "predicted": predicted_total, "scored_batch": info,
        "method": " ".join(POPULATION_METHOD.split()),
    }
    return table, summary


def estimate_small_areas(direct: pd.DataFrame, params: dict[str, Any], **references: Any
                         ) -> tuple[pd.DataFrame, dict[str, Any], dict[str, dict[str, float]]]:
    """The published area table: the direct estimates and, with ``population.small_area``, the
    Fay-Herriot estimates (EBLUP, MSE, gamma, synthetic) for every area of the survey or of
    the reference table; the fitted model (beta, its standard errors, the model variance) as a
    report and as MLflow metrics. ``references``: the study's reference tables by registry
    name (the pipeline passes every one of them)."""
    config = ReportingConfig.model_validate(params)
    population = _population(config)
    small_area = population.small_area
    if small_area is None:
        return (direct[area_table_columns(population)],
                {"study": config.study, "fitted": False,
                 "reason": "no small_area model configured"}, {})
    if small_area.reference not in references:
        raise ValueError(f"{config.study}: population.small_area.reference "
                         f"'{small_area.reference}' is not one of the study's reference tables "
                         f"{sorted(references)} (registry `references`)")
    covariates = reference_covariates(references[small_area.reference], small_area)
    table, report, metrics = with_model_estimates(direct, covariates, population)
    if report["fitted"]:
        logger.info("%s: Fay-Herriot %s on %d areas, model variance %.3g, beta %s",
                    config.study, small_area.method, report["areas_in_model"],
                    report["model_variance"],
                    {c["term"]: round(c["estimate"], 6) for c in report["coefficients"]})
    else:
        logger.warning("%s: no Fay-Herriot model: %s", config.study, report["reason"])
    return table, {"study": config.study, **report}, metrics


# The population tables published with a QuickSight manifest: what the check calls them, and
# their header from the configuration.
POPULATION_TABLES = {"area_estimates": ("the area estimates", area_table_columns),
                     "trend_estimates": ("the trend estimates", trend_table_columns)}


def _population_manifest(table: str, params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return build_manifests([table], ReportingConfig.model_validate(params).manifest)


def _checked_population_manifest(manifests: dict[str, dict[str, Any]], params: dict[str, Any],
                                 table: str) -> dict[str, Any]:
    config = ReportingConfig.model_validate(params)
    what, columns = POPULATION_TABLES[table]
    return _checked_manifests(manifests, {table: columns(_population(config))}, config, what)


def write_area_manifest(area_estimates: pd.DataFrame,
                        params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The QuickSight manifest of ``area_estimates.csv`` (the aggregates' settings)."""
    return _population_manifest("area_estimates", params)


def validate_area_manifest(manifests: dict[str, dict[str, Any]],
                           params: dict[str, Any]) -> dict[str, Any]:
    """Stop the run unless the manifest names the existing, non-empty area table whose header
    is ``area_table_columns`` of the configuration."""
    return _checked_population_manifest(manifests, params, "area_estimates")


def plot_area_map(estimates: pd.DataFrame, summary: dict[str, Any],
                  boundaries: dict[str, Any], params: dict[str, Any]) -> go.Figure:
    config = ReportingConfig.model_validate(params)
    population = _population(config)
    return area_map(estimates, boundaries, population,
                    f"{config.study}: {population.target_label} by {population.area}")


# --- trends: by area and year, pooled, first to last year ---------------------------------------
def estimate_trends(primary: DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """The published trend table (``trends.trend_table_columns``): survey-weighted prevalence
    by area and year and nationally, pooled over the years with CDC's weight adjustment, and
    the change from the first to the last year, each with its design-based SE (year-specific
    strata), Korn-Graubard interval and NCHS flag. Without ``population.trend`` the table is
    empty (its header only) and the report says so."""
    config = ReportingConfig.model_validate(params)
    population = _population(config)
    if population.trend is None:
        logger.info("%s: no trends (reporting.population.trend is not set)", config.study)
        return empty_trend_table(population)
    table = trend_estimates(primary, population, config.study)
    logger.info("%s: trends over %s, %d rows (%s)", config.study, years_text(table),
                len(table), ", ".join(f"{kind}: {(table['kind'] == kind).sum()}"
                                      for kind in TREND_KINDS))
    return table


def write_trend_manifest(trend_estimates: pd.DataFrame,
                         params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The QuickSight manifest of ``trend_estimates.csv`` (written even when it is only its
    header: the dataset behind it then has no rows)."""
    return _population_manifest("trend_estimates", params)


def validate_trend_manifest(manifests: dict[str, dict[str, Any]],
                            params: dict[str, Any]) -> dict[str, Any]:
    """As ``validate_area_manifest``, for ``trend_estimates.csv`` (``trend_table_columns``)."""
    return _checked_population_manifest(manifests, params, "trend_estimates")


def plot_trends(trend_estimates: pd.DataFrame, params: dict[str, Any]) -> go.Figure:
    """Weighted prevalence by year with its interval band and the pooled estimate, nationally
    and per area (a menu); an empty chart that says why when there is no trend."""
    config = ReportingConfig.model_validate(params)
    population = _population(config)
    title = f"{config.study}: {population.target_label} by year"
    if population.trend is None:
        return empty_figure(title, "no trend configured (reporting.population.trend)")
    if not years_of(trend_estimates):
        return empty_figure(title, "no respondents with a data year")
    return trend_figure(trend_estimates, population, title)


def build_trend_group(trend_estimates: pd.DataFrame, trend_chart: go.Figure,
                      manifest_validation: dict[str, Any],
                      params: dict[str, Any]) -> dict[str, Any]:
    """The "Trends" part of the population section: the chart, the national series with the
    pooled years and the change, each area's change, and how to read them."""
    config = ReportingConfig.model_validate(params)
    population = _population(config)
    title = "Trends"
    if population.trend is None:
        return {"title": title, "blocks": [blocks.text_block(
            "No trends", "reporting.population.trend is not set: add "
            "`trend: {year: <data-year column>}` for yearly, pooled-year and change estimates "
            "(docs/reporting.md, Trends).")]}
    years = years_of(trend_estimates)
    note = trend_note(population, trend_estimates)
    if len(years) > 1:
        change = blocks.table_block(
            f"Change by {population.area}, {years[0]} to {years[-1]}",
            change_table(trend_estimates, population), wide=True,
            note="Survey-weighted estimates of both years with their 95 % Korn-Graubard "
                 "intervals, and the change in percentage points with its 95 % interval and "
                 "two-sided p-value (design-based SEs, independent yearly samples).")
    else:
        change = blocks.text_block(
            "Change between the first and the last year",
            f"One data year only ({years[0] if years else 'none'}): the pooled estimates equal "
            "the yearly ones and there is no change to compute. A run over several yearly "
            "files adds the series and the change.")
    manifest = blocks.text_block(
        "QuickSight manifest (trends)", f"{manifest_validation['tables']} manifest validated at "
        f"{manifest_validation['checked_at']}: trend_estimates.csv exists, is not empty and "
        "has the configured header.")
    return {"title": title, "blocks": [
        blocks.figure_block(f"{population.target_label} by year, nationally and by "
                            f"{population.area}", trend_chart, wide=True,
                            note="Use the menu to pick the nation or an area (the national "
                                 "line stays as a grey reference). Band: 95 % Korn-Graubard "
                                 "interval; dashed: all years pooled; open circles: "
                                 "suppressed under the NCHS standard."),
        blocks.table_block(f"National series ({years_text(trend_estimates)})",
                           national_table(trend_estimates), note=note, wide=True),
        change, manifest]}


# --- the study's report section, built from its parts --------------------------------------------
# One node per part of the page (the overview and each titled group), each reading only what it
# shows; build_study_section orders them. assembly.py does the same for the second half.
def _primary_metric(evaluation: dict[str, Any]) -> tuple[str, float | None]:
    metric = evaluation.get("primary_metric")
    return metric, (evaluation.get("test") or {}).get(metric)


def build_section_overview(validation_report: dict, evaluation_report: dict, registration: dict,
                           gate_decision: dict, inference_report: dict | None,
                           drift_report: dict | None, params: dict[str, Any]) -> dict[str, Any]:
    """The head of the study's section: its overview (one row of the page's summary table) and
    key figures from ingestion, the model of this run and the latest scored batch."""
    config = ReportingConfig.model_validate(params)
    task = evaluation_report.get("task")
    metric, value = _primary_metric(evaluation_report)
    scored = inference_report or {}
    drift = drift_report or {}
    overview = {
        "study": config.study, "task": task,
        "rows_read": validation_report.get("rows_read"),
        "rows_quarantined": validation_report.get("rows_quarantined"),
        "model": f"{registration.get('model_name')} v{registration.get('version')}",
        "alias": gate_decision.get("alias"),
        "test_metric": f"{metric} {value:.3f}" if value is not None else None,
        "scored_with": (f"v{scored['model']['version']} ({scored['model']['alias']})"
                        if scored else None),
        "batch_rows_scored": scored.get("rows_scored"),
        "batch_rows_quarantined": scored.get("rows_quarantined"),
        "drifted_features": len(drift.get("drifted_features") or []) if drift else None,
    }
    key_figures = [
        blocks.key_figure("rows read at ingestion", validation_report.get("rows_read")),
        blocks.key_figure("rows quarantined at ingestion",
                          validation_report.get("rows_quarantined")),
        blocks.key_figure("model of this run", f"{overview['model']} "
                          f"({gate_decision.get('alias')})"),
        blocks.key_figure(f"test {metric}", value),
        blocks.key_figure(f"test {metric} interval", blocks.interval_text(
            (evaluation_report.get("test_intervals") or {}).get(metric))),
        blocks.key_figure("latest batch scored with", overview["scored_with"]),
        blocks.key_figure("batch rows scored / quarantined",
                          f"{scored['rows_scored']:,} / {scored['rows_quarantined']:,}"
                          if scored else None),
        blocks.key_figure("drifted features", overview["drifted_features"]),
        blocks.key_figure("score PSI", (drift.get("score") or {}).get("psi")),
    ]
    return {"kind": "study", "study": config.study, "title": config.title, "task": task,
            "overview": overview, "key_figures": key_figures}


def build_model_figures(evaluation_report: dict, performance_plot: bytes,
                        calibration_plot: bytes, error_plot: bytes,
                        shap_plot: bytes) -> list[dict[str, Any]]:
    """The four model plots as image blocks, titled for the study's task."""
    classification = evaluation_report.get("task") == "classification"
    return [
        blocks.image_block("ROC and precision-recall curves (test)" if classification
                           else "Predicted vs actual and residuals (test)", performance_plot),
        blocks.image_block("Calibration curve (test)" if classification
                           else "Mean actual vs predicted by decile (test)", calibration_plot),
        blocks.image_block("Confusion matrix at the chosen threshold (test)" if classification
                           else "Residual distribution (test)", error_plot),
        blocks.image_block("SHAP summary", shap_plot),
    ]


def build_model_group(evaluation_report: dict, gate_decision: dict,
                      model_figures: list[dict[str, Any]], shap_importance: pd.DataFrame,
                      subgroup_metrics: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """The "Model" group: metrics with intervals, the gate's reasons, the plots, SHAP importance,
    subgroup metrics and the survey-weighted prevalence by area of the test split."""
    config = ReportingConfig.model_validate(params)
    return {"title": "Model", "blocks": [
        blocks.metrics_block("Validation and test metrics",
                             {"validation": evaluation_report.get("validation", {}),
                              "test": evaluation_report.get("test", {})},
                             intervals=evaluation_report.get("test_intervals"),
                             note=evaluation_report.get("interval_method", "")),
        blocks.text_block("Champion gate", "; ".join(gate_decision.get("reasons", []))
                          + f" (alias: {gate_decision.get('alias')}, calibration: "
                          f"{evaluation_report.get('calibration', 'n/a')}, threshold: "
                          f"{evaluation_report.get('threshold')} chosen on "
                          f"{evaluation_report.get('chosen_on', 'validation')})."),
        *model_figures,
        blocks.table_block("Feature importance (mean |SHAP|)",
                           shap_importance.head(config.top_features)),
        blocks.table_block("Subgroup metrics (test)", with_interval_text(subgroup_metrics),
                           note="Subgroups smaller than the configured minimum have a count "
                                "but no metrics; brackets are bootstrap intervals of the "
                                "subgroup's test rows (see evaluation_report.json)."),
        blocks.table_block("Survey-weighted prevalence by area (test split)",
                           pd.DataFrame(evaluation_report.get("test_by_area") or []),
                           empty="no survey weight or area column for this study",
                           note="Observed: weighted share of the test rows with the outcome; "
                                "predicted: weighted mean of the calibrated score."),
    ]}


def build_aggregates_group(aggregate_tables: dict[str, Any], manifest_validation: dict,
                           bar_chart: go.Figure, pie_chart: go.Figure, line_chart: go.Figure,
                           params: dict[str, Any]) -> dict[str, Any]:
    """The "Aggregates" group: the three charts, every configured table and the manifest check."""
    config = ReportingConfig.model_validate(params)
    charts = [blocks.figure_block(chart.layout.title.text or kind, chart)
              for kind, chart in zip(CHART_KINDS, (bar_chart, pie_chart, line_chart),
                                     strict=True)]
    tables = [blocks.table_block(f"{name}: {config.aggregates[name].description}", frame,
                                 note=f"08_reporting/{config.study}/aggregates/{name}.csv")
              for name, frame in _loaded(aggregate_tables).items() if name in config.aggregates]
    manifests = blocks.text_block(
        "QuickSight manifests", f"{manifest_validation['tables']} manifest(s) validated at "
        f"{manifest_validation['checked_at']}: every entry names an existing, non-empty CSV "
        "with the configured header.")
    return {"title": "Aggregates", "blocks": [*charts, *tables, manifests]}


def build_batch_group(risk_tiers: pd.DataFrame, risk_tier_chart: go.Figure,
                      drift_report: dict | None, params: dict[str, Any]) -> dict[str, Any]:
    """The "Latest scored batch" group: its risk tiers and its drift against the training profile."""
    config = ReportingConfig.model_validate(params)
    return {"title": "Latest scored batch", "blocks": [
        blocks.figure_block("Risk tiers of the latest scored batch", risk_tier_chart),
        blocks.table_block("Risk tiers", risk_tiers,
                           note="Tiers cut the score at percentiles of the champion's training "
                                "scores; weighted share uses the survey weight when present."),
        *blocks.drift_blocks(drift_report, config.study)]}


def build_study_section(section_overview: dict[str, Any], section_model: dict[str, Any],
                        section_aggregates: dict[str, Any], section_batch: dict[str, Any],
                        validation_report: dict, params: dict[str, Any]) -> dict[str, Any]:
    """One study's part of the report: key figures, model evaluation, explanations, subgroup
    metrics, aggregates with their manifests, the latest batch (tiers, drift), data quality."""
    config = ReportingConfig.model_validate(params)
    quality = {"title": "Data quality",
               "blocks": [blocks.ingestion_block(validation_report, config.study)]}
    return {**section_overview,
            "groups": [section_model, section_aggregates, section_batch, quality]}


# --- population section and HTML -----------------------------------------------------------------
def _model_blocks(area_model: dict[str, Any], metrics: dict[str, Any]) -> list[dict[str, Any]]:
    title = "Fay-Herriot area model"
    if not area_model.get("fitted"):
        return [blocks.text_block(title, f"No model-based estimates: "
                                         f"{area_model.get('reason', 'n/a')}.")]
    coefficients = pd.DataFrame(area_model["coefficients"], columns=["term", "estimate", "se"])
    note = (f"{area_model['method']} fit of the direct estimates of "
            f"{area_model['areas_in_model']} areas (at least "
            f"{area_model['min_respondents']} respondents) on {', '.join(area_model['covariates'])}"
            f" of '{area_model['reference']}' (beta in the covariates' units); model variance "
            f"{area_model['model_variance']:.4g} (sd {area_model['model_sd']:.4g}), mean gamma "
            f"{area_model['mean_gamma']:.3f}, {'converged' if area_model['converged'] else 'NOT converged'}"
            f" in {area_model['iterations']} iterations. Synthetic estimate only (no or too few "
            f"respondents): {', '.join(area_model['synthetic_areas']) or 'none'}; no covariates "
            f"(no model-based estimate): {', '.join(area_model['areas_without_covariates']) or 'none'}."
            f" MLflow metrics of the study's run: {', '.join(f'small_area.{k}' for k in metrics)}.")
    return [blocks.table_block(title, coefficients, note=note)]


def build_population_section(estimates: pd.DataFrame, summary: dict[str, Any],
                             area_model: dict[str, Any], small_area_metrics: dict[str, Any],
                             area_map_figure: go.Figure, manifest_validation: dict[str, Any],
                             params: dict[str, Any],
                             trends: dict[str, Any] | None = None) -> dict[str, Any]:
    """Population estimates by area: the map (direct, model-based, CV, predicted, covariate),
    the table of direct +/- Korn-Graubard CI beside the model-based estimate +/- root-MSE with
    the NCHS flag and gamma, the fitted area model, and how to read them; then the trends
    group (``build_trend_group``) when given."""
    config = ReportingConfig.model_validate(params)
    population = _population(config)
    observed, predicted = summary["observed"], summary["predicted"]
    batch = summary.get("scored_batch") or {}
    flags = summary.get("reliability") or {}
    overall = blocks.interval_text(
        {"low": observed["observed_weighted_ci_low"], "high": observed["observed_weighted_ci_high"]}
        if observed.get("observed_weighted_ci_low") is not None else None)
    key_figures = [
        blocks.key_figure("respondents with an answer", observed.get("respondents")),
        blocks.key_figure(f"{population.target_label}, survey-weighted",
                          observed.get("observed_weighted")),
        blocks.key_figure("its 95 % Korn-Graubard interval", overall),
        blocks.key_figure(f"{population.target_label}, unweighted",
                          observed.get("observed_unweighted")),
        blocks.key_figure("predicted, survey-weighted (latest batch)",
                          predicted.get("predicted_weighted")),
        blocks.key_figure("areas with respondents", summary["areas"]),
        blocks.key_figure("direct estimates suppressed (NCHS)", len(flags.get("suppress", []))),
        blocks.key_figure("direct estimates to review (NCHS)", len(flags.get("review", []))),
    ]
    if population.small_area:
        fitted = area_model.get("fitted")
        key_figures += [
            blocks.key_figure("Fay-Herriot model variance",
                              area_model.get("model_variance") if fitted else "not fitted"),
            blocks.key_figure("areas with the synthetic estimate only",
                              len(area_model.get("synthetic_areas") or []) if fitted else None)]
    note = (f"Direct: survey-weighted ({population.weight}) share with its 95 % Korn-Graubard "
            "interval; 'suppressed' where the NCHS standard suppresses it (see 'why flagged'). "
            "Model-based: the Fay-Herriot EBLUP (or the synthetic estimate where the area has "
            "no or too few respondents) +/- its root-MSE in percentage points; gamma is the "
            "weight of the direct estimate in the EBLUP. Publish the direct estimate where it "
            "is reliable; where it is suppressed, the model-based one, labelled as such "
            "(docs/reporting.md). Predicted: champion "
            f"{batch.get('model_name', 'n/a')} v{batch.get('model_version', 'n/a')} on batch "
            f"{batch.get('batch_id', 'n/a')}. Every figure: "
            f"08_reporting/{config.study}/population/area_estimates.csv. {summary['method']}")
    manifest = blocks.text_block(
        "QuickSight manifest", f"{manifest_validation['tables']} manifest validated at "
        f"{manifest_validation['checked_at']}: area_estimates.csv exists, is not empty and has "
        "the configured header.")
    return {
        "kind": "population", "study": config.study,
        "title": f"{config.title}: estimates by {population.area}",
        "key_figures": key_figures,
        "groups": [{"title": "Population estimates", "blocks": [
            blocks.figure_block(f"{population.target_label} by {population.area}",
                                area_map_figure, wide=True, note="Use the menu to switch "
                                "between the direct estimate (suppressed areas blank), the "
                                "model-based one, its CV, the predicted prevalence and the "
                                "area covariate."),
            blocks.table_block(f"Estimates by {population.area}: direct and model-based",
                               display_table(estimates, population), note=note, wide=True),
            *(_model_blocks(area_model, small_area_metrics) if population.small_area else []),
            manifest,
        ]}, *([trends] if trends else [])],
    }


def render_html_report(report_params: dict[str, Any], *sections: dict[str, Any]) -> str:
    """One self-contained HTML page (plotly.js, figures and images embedded): each study's
    section, its population estimates (when it has them) right after it."""
    config = ReportConfig.model_validate(report_params)
    pages = [page for section in sections
             for page in (section, *([section["population"]] if section.get("population")
                                     else []))]
    return render_report(config.title, pages, generated_at=_now())
