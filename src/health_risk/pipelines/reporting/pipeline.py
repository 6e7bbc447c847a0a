"""Reporting: one generic template per study namespace, a population template for studies with
area estimates, and one node that renders every section into ``report.html``.

Inputs from inference (predictions, inference and drift reports) are optional datasets: the
pipeline runs after ingestion and modeling alone and says "no scored batch yet".
"""

from kedro.pipeline import Node, Pipeline

from health_risk.pipelines.feature_engineering.pipeline import STUDIES
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

# Studies whose report adds estimates by area: {study: ingestion report of the area table}.
POPULATION_STUDIES: dict[str, str] = {"brfss": "census.validation_report"}

SECTION_INPUTS = {
    "validation_report": "validation_report", "evaluation_report": "evaluation_report",
    "registration": "registration", "gate_decision": "gate_decision",
    "subgroup_metrics": "subgroup_metrics", "shap_importance": "shap_importance",
    "performance_plot": "performance_plot", "calibration_plot": "calibration_plot",
    "error_plot": "error_plot", "shap_plot": "shap_plot",
    "aggregate_tables": "aggregate_tables", "manifest_validation": "manifest_validation",
    "bar_chart": "bar_chart", "pie_chart": "pie_chart", "line_chart": "line_chart",
    "risk_tiers": "risk_tiers", "risk_tier_chart": "risk_tier_chart",
    "inference_report": "inference_report", "drift_report": "drift_report", "params": PARAMS,
}


def study_template() -> Pipeline:
    return Pipeline([
        Node(build_aggregate_tables, ["primary", PARAMS], "aggregate_tables",
             name="build_aggregate_tables"),
        Node(write_aggregate_manifests, ["aggregate_tables", PARAMS], "aggregate_manifests",
             name="write_aggregate_manifests"),
        Node(validate_aggregate_manifests, ["aggregate_manifests", PARAMS],
             "manifest_validation", name="validate_aggregate_manifests"),
        Node(plot_aggregate_charts, ["aggregate_tables", PARAMS],
             ["bar_chart", "pie_chart", "line_chart",
              "bar_chart_png", "pie_chart_png", "line_chart_png"],
             name="plot_aggregate_charts"),
        Node(summarise_risk_tiers, ["predictions", PARAMS], ["risk_tiers", "risk_tier_chart"],
             name="summarise_risk_tiers"),
        Node(build_study_section, SECTION_INPUTS, "report_section", name="build_study_section"),
    ])


def population_template() -> Pipeline:
    return Pipeline([
        Node(estimate_area_prevalence, ["primary", "predictions", PARAMS],
             ["area_estimates", "area_summary"], name="estimate_area_prevalence"),
        Node(plot_area_map, ["area_estimates", "area_summary", "us_state_boundaries", PARAMS],
             "area_map", name="plot_area_map"),
        Node(build_population_section, ["area_estimates", "area_summary", "area_map",
                                        "lookup_validation_report", PARAMS],
             "population_section", name="build_population_section"),
    ])


def section_names() -> list[str]:
    """Report sections in page order: each study, its population estimates after it."""
    return [name for study in STUDIES for name in
            (f"{study}.report_section",
             *([f"{study}.population_section"] if study in POPULATION_STUDIES else []))]


def create_pipeline(**kwargs) -> Pipeline:
    parts = []
    for study in STUDIES:
        parameters = {PARAMS: f"params:{study}.reporting"}
        parts.append(Pipeline(study_template(), namespace=study, parameters=parameters,
                              tags=["reporting", study]))
        if study in POPULATION_STUDIES:
            parts.append(Pipeline(
                population_template(), namespace=study, parameters=parameters,
                inputs={"us_state_boundaries": "us_state_boundaries",
                        "lookup_validation_report": POPULATION_STUDIES[study]},
                tags=["reporting", study]))
    report = Pipeline([Node(render_html_report, ["params:report", *section_names()],
                            "report_html", name="render_html_report")], tags=["reporting"])
    return sum(parts, Pipeline([])) + report
