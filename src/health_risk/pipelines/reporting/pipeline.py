"""Reporting: one generic template per study namespace, a population template for the studies
the registry marks ``population: true``, and one node that renders every section into
``report.html`` in registry order.

Inputs from inference (predictions, inference and drift reports) are optional datasets: the
pipeline runs after ingestion and modeling alone and says "no scored batch yet".
"""

from kedro.pipeline import Node, Pipeline

from health_risk.core.studies import Study, StudyRegistry, per_study
from health_risk.pipelines.reporting.assembly import assemble_study_report
from health_risk.pipelines.reporting.nodes import (
    build_aggregate_tables,
    build_population_section,
    build_study_section,
    estimate_area_prevalence,
    plot_aggregate_charts,
    plot_area_map,
    render_html_report,
    summarise_risk_tiers,
    validate_aggregate_manifests,
    write_aggregate_manifests,
)

PARAMS = "params:reporting"


def _same_names(*datasets: str) -> dict[str, str]:
    """Node inputs whose argument names are the dataset names, plus the reporting block."""
    return {**{name: name for name in datasets}, "params": PARAMS}


SECTION_INPUTS = _same_names(
    "validation_report", "evaluation_report", "registration", "gate_decision",
    "subgroup_metrics", "shap_importance", "performance_plot", "calibration_plot", "error_plot",
    "shap_plot", "aggregate_tables", "manifest_validation", "bar_chart", "pie_chart",
    "line_chart", "risk_tiers", "risk_tier_chart", "inference_report", "drift_report")

# Everything else the study's pipelines produced for people to read.
ASSEMBLY_INPUTS = _same_names(
    "study_section", "feature_report", "feature_ranking", "tuning_summary", "reliability_curve",
    "validation_metrics", "test_metrics", "gate_metrics", "synthetic_report",
    "synthetic_metrics", "inference_metrics", "drift_metrics", "monitoring_metrics",
    "model_card", "cross_validation", "cv_metrics")


def study_template(study: Study) -> Pipeline:
    """The study's aggregates, charts and tiers, then its one report section (with the
    population estimates inside it for a ``population: true`` study)."""
    assembly_inputs = dict(ASSEMBLY_INPUTS)
    if study.population:
        assembly_inputs["population_section"] = "population_section"
    return Pipeline([
        *(population_template().nodes if study.population else []),
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
        Node(build_study_section, SECTION_INPUTS, "study_section", name="build_study_section"),
        Node(assemble_study_report, assembly_inputs, "report_section",
             name="assemble_study_report"),
    ])


def population_template() -> Pipeline:
    return Pipeline([
        Node(estimate_area_prevalence, ["primary", "predictions", PARAMS],
             ["area_estimates", "area_summary"], name="estimate_area_prevalence"),
        Node(plot_area_map, ["area_estimates", "area_summary", "us_state_boundaries", PARAMS],
             "area_map", name="plot_area_map"),
        Node(build_population_section, ["area_estimates", "area_summary", "area_map", PARAMS],
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
