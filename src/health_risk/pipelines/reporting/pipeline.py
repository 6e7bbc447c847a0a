"""Reporting: one generic template per study namespace, a population template for the studies
the registry marks ``population: true``, and one node that renders every section into
``report.html`` in registry order.

The population template's area model reads its covariates from the study's reference tables:
each of the registry's ``references`` is an input ``<ref>_table`` of ``estimate_small_areas``
(``census_table`` = ``census.validated``), as feature engineering's ``derive_primary`` reads
them for its joins.

Inputs from inference (predictions, inference and drift reports) are optional datasets: the
pipeline runs after ingestion and modeling alone and says "no scored batch yet".
"""

from kedro.pipeline import Node, Pipeline

from health_risk.core.studies import Study, StudyRegistry, per_study
from health_risk.pipelines.reporting.assembly import (
    assemble_study_report,
    build_features_group,
    build_model_card_group,
    build_monitoring_group,
    build_tuning_group,
    tabulate_logged_metrics,
)
from health_risk.pipelines.reporting.nodes import (
    build_aggregate_tables,
    build_aggregates_group,
    build_batch_group,
    build_model_figures,
    build_model_group,
    build_population_section,
    build_section_overview,
    build_study_section,
    build_trend_group,
    estimate_area_prevalence,
    estimate_small_areas,
    estimate_trends,
    plot_aggregate_charts,
    plot_area_map,
    plot_trends,
    render_html_report,
    summarise_risk_tiers,
    validate_aggregate_manifests,
    validate_area_manifest,
    validate_trend_manifest,
    write_aggregate_manifests,
    write_area_manifest,
    write_trend_manifest,
)

PARAMS = "params:reporting"
# The stages whose ``<stage>_metrics`` the report lists, in table order.
METRIC_STAGES = ("validation", "test", "cv", "gate", "synthetic", "inference", "drift")


def study_template(study: Study) -> Pipeline:
    """The study's aggregates, charts and tiers, then its one report section (with the
    population estimates inside it for a ``population: true`` study)."""
    return Pipeline([
        *(population_template(study).nodes if study.population else []),
        Node(build_aggregate_tables, ["primary", PARAMS], "aggregate_tables",
             name="build_aggregate_tables"),
        Node(write_aggregate_manifests, ["aggregate_tables", PARAMS], "aggregate_manifests",
             name="write_aggregate_manifests"),
        Node(validate_aggregate_manifests, ["aggregate_manifests", PARAMS],
             "manifest_validation", name="validate_aggregate_manifests"),
        Node(plot_aggregate_charts, ["aggregate_tables", PARAMS],
             ["bar_chart", "pie_chart", "line_chart"], name="plot_aggregate_charts"),
        Node(summarise_risk_tiers, ["predictions", PARAMS], ["risk_tiers", "risk_tier_chart"],
             name="summarise_risk_tiers"),
        *section_template(study).nodes,
    ])


def section_template(study: Study) -> Pipeline:
    """The study's report section from its parts: one node per part of the page (the overview
    and each titled group, as ``section_<part>``), ``study_section`` (overview, model,
    aggregates, latest batch, data quality), then ``report_section`` (model card, features,
    tuning, monitoring, and the population section of a ``population: true`` study)."""
    population = ["population_section"] if study.population else []
    return Pipeline([
        Node(build_section_overview, ["validation_report", "evaluation_report", "registration",
                                      "gate_decision", "inference_report", "drift_report",
                                      PARAMS],
             "section_overview", name="build_section_overview"),
        Node(build_model_figures, ["evaluation_report", "performance_plot", "calibration_plot",
                                   "error_plot", "shap_plot"],
             "section_model_figures", name="build_model_figures"),
        Node(build_model_group, ["evaluation_report", "gate_decision", "section_model_figures",
                                 "shap_importance", "subgroup_metrics", PARAMS],
             "section_model", name="build_model_group"),
        Node(build_aggregates_group, ["aggregate_tables", "manifest_validation", "bar_chart",
                                      "pie_chart", "line_chart", PARAMS],
             "section_aggregates", name="build_aggregates_group"),
        Node(build_batch_group, ["risk_tiers", "risk_tier_chart", "drift_report", PARAMS],
             "section_batch", name="build_batch_group"),
        Node(build_study_section, ["section_overview", "section_model", "section_aggregates",
                                   "section_batch", "validation_report", PARAMS],
             "study_section", name="build_study_section"),
        Node(build_model_card_group, ["model_card", PARAMS], "section_model_card",
             name="build_model_card_group"),
        Node(build_features_group, ["feature_report", "feature_ranking"], "section_features",
             name="build_features_group"),
        Node(build_tuning_group, ["cross_validation", "tuning_summary", "reliability_curve"],
             "section_tuning", name="build_tuning_group"),
        Node(tabulate_logged_metrics, [f"{stage}_metrics" for stage in METRIC_STAGES],
             "section_metric_table", name="tabulate_logged_metrics"),
        Node(build_monitoring_group, ["synthetic_report", "monitoring_metrics",
                                      "section_metric_table", PARAMS],
             "section_monitoring", name="build_monitoring_group"),
        Node(assemble_study_report, ["study_section", "section_model_card", "section_features",
                                     "section_tuning", "section_monitoring", *population],
             "report_section", name="assemble_study_report"),
    ])


def population_template(study: Study) -> Pipeline:
    """Direct estimates by area (Korn-Graubard intervals, NCHS flags), the Fay-Herriot
    estimates beside them (covariates from the study's reference tables), the published CSV
    with its QuickSight manifest, the map; the trends by area and year (yearly, pooled, change:
    ``reporting.population.trend``, an empty table without it) with their CSV, manifest and
    chart; and the population section."""
    references = {name: f"{name}_table" for name in study.references}
    return Pipeline([
        Node(estimate_area_prevalence, ["primary", "predictions", PARAMS],
             ["area_direct_estimates", "area_summary"], name="estimate_area_prevalence"),
        Node(estimate_small_areas,
             {"direct": "area_direct_estimates", "params": PARAMS, **references},
             ["area_estimates", "area_model", "small_area_metrics"],
             name="estimate_small_areas"),
        Node(write_area_manifest, ["area_estimates", PARAMS], "area_manifest",
             name="write_area_manifest"),
        Node(validate_area_manifest, ["area_manifest", PARAMS], "area_manifest_validation",
             name="validate_area_manifest"),
        Node(plot_area_map, ["area_estimates", "area_summary", "us_state_boundaries", PARAMS],
             "area_map", name="plot_area_map"),
        Node(estimate_trends, ["primary", PARAMS], "trend_estimates", name="estimate_trends"),
        Node(write_trend_manifest, ["trend_estimates", PARAMS], "trend_manifest",
             name="write_trend_manifest"),
        Node(validate_trend_manifest, ["trend_manifest", PARAMS], "trend_manifest_validation",
             name="validate_trend_manifest"),
        Node(plot_trends, ["trend_estimates", PARAMS], "trend_chart", name="plot_trends"),
        Node(build_trend_group, ["trend_estimates", "trend_chart", "trend_manifest_validation",
                                 PARAMS], "section_trends", name="build_trend_group"),
        Node(build_population_section, ["area_estimates", "area_summary", "area_model",
                                        "small_area_metrics", "area_map",
                                        "area_manifest_validation", PARAMS, "section_trends"],
             "population_section", name="build_population_section"),
    ])


def section_names(studies: StudyRegistry) -> list[str]:
    """Report sections in page order: one per study, in registry order."""
    return [f"{study.name}.report_section" for study in studies.running("reporting")]


def create_pipeline(studies: StudyRegistry, **kwargs) -> Pipeline:
    sections = per_study(studies, "reporting", study_template,
                         extra_inputs=lambda s: {"us_state_boundaries": "us_state_boundaries"})
    report = Pipeline([Node(render_html_report, ["params:report", *section_names(studies)],
                            "report_html", name="render_html_report")], tags=["reporting"])
    return sections + report
