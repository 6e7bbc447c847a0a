"""Wiring of the reporting pipeline, and the catalog contract kedro-viz relies on: every
dataset of every pipeline is declared with its layer; person-level tables hide previews."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro_datasets.plotly import JSONDataset as PlotlyJSONDataset

from health_risk.pipelines.reporting.pipeline import create_pipeline, section_names

from ...committed_config import committed_params, committed_registry, studies_running

PROJECT = Path(__file__).resolve().parents[3]
LAYERS = ["raw", "intermediate", "primary", "feature", "model_input", "models", "model_output",
          "reporting"]


def test_each_study_gets_a_report_section_and_population_studies_their_estimates():
    registry = committed_registry()
    pipeline = create_pipeline(studies=registry)
    names = {node.name for node in pipeline.nodes}
    studies = list(registry.running("reporting"))
    for study in (s.name for s in studies):
        assert {f"{study}.build_aggregate_tables", f"{study}.validate_aggregate_manifests",
                f"{study}.plot_aggregate_charts", f"{study}.build_study_section"} <= names
    population = [s for s in studies if s.population]
    assert population, "the committed registry has a study with population estimates"
    assert {n for n in names if n.endswith("estimate_area_prevalence")} == {
        f"{s.name}.estimate_area_prevalence" for s in population}
    # Trends: the table, its manifest and check, the chart, and the part of the population
    # section they make, each a dataset edge inside the study's namespace.
    nodes = {node.name: node for node in pipeline.nodes}
    for study in (s.name for s in population):
        assert {f"{study}.{name}" for name in ("estimate_trends", "write_trend_manifest",
                                               "validate_trend_manifest", "plot_trends",
                                               "build_trend_group")} <= names
        assert f"{study}.primary" in nodes[f"{study}.estimate_trends"].inputs
        assert nodes[f"{study}.build_trend_group"].inputs[:3] == [
            f"{study}.trend_estimates", f"{study}.trend_chart",
            f"{study}.trend_manifest_validation"]
        assert f"{study}.section_trends" in nodes[f"{study}.build_population_section"].inputs
    render = next(node for node in pipeline.nodes if node.name == "render_html_report")
    sections = section_names(registry)
    assert render.inputs == ["params:report", *sections]
    first = studies[0]
    assert sections[0] == f"{first.name}.report_section"
    # Inference outputs are read, never required to be produced here.
    for study in studies:
        assert {f"{study.name}.predictions", f"{study.name}.drift_report",
                f"{study.name}.inference_report"} <= pipeline.inputs()
    if population:
        assert "us_state_boundaries" in pipeline.inputs()
    assert "report_html" in pipeline.all_outputs()


def test_the_area_model_reads_the_studys_reference_tables():
    """brfss's Fay-Herriot covariates come from `census.validated` (its registry `references`),
    wired as feature engineering's joins are; a reference the registry does not list is
    refused before the run."""
    from health_risk.core.errors import ParameterError
    from health_risk.framework.validation import validate_parameters

    registry = committed_registry()
    pipeline = create_pipeline(studies=registry)
    for study in (s for s in registry.running("reporting") if s.population):
        node = next(n for n in pipeline.nodes if n.name == f"{study.name}.estimate_small_areas")
        assert {f"{ref}.validated" for ref in study.references} <= set(node.inputs)
        assert f"{study.name}.area_estimates" in node.outputs
    params = committed_params()
    assert params["brfss"]["reporting"]["population"]["small_area"]["reference"] == "census"
    params["brfss"]["reporting"]["population"]["small_area"]["reference"] = "stroke"
    with pytest.raises(ParameterError, match="small_area.*'stroke'.*small_area_reference"):
        validate_parameters(params, registry)


def test_the_study_section_is_built_from_parts_of_at_most_eight_inputs():
    """The section template run on a catalog of hand-made inputs: one node per part of the page,
    every part consumed inside the template, the groups in page order."""
    import pandas as pd
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.runner import SequentialRunner

    from health_risk.pipelines.reporting.charts import bar_figure
    from health_risk.pipelines.reporting.pipeline import section_template

    class Kept(MemoryDataset):
        def _release(self) -> None:  # keep outputs readable after the run
            pass

    class Population:  # what the template reads of a registry entry
        population = True

    params = committed_params()["insurance"]["reporting"]
    figure = bar_figure(["a"], [1.0], "t", "x", "y")
    inputs = {
        "validation_report": {"rows_read": 10, "rows_quarantined": 1, "violations": []},
        "evaluation_report": {"task": "regression", "primary_metric": "rmse",
                              "validation": {"rmse": 2.0}, "test": {"rmse": 2.5}},
        "registration": {"model_name": "m", "version": "1"},
        "gate_decision": {"alias": "champion", "reasons": ["first champion"]},
        "inference_report": None, "drift_report": None, "synthetic_report": None,
        "performance_plot": b"png", "calibration_plot": b"png", "error_plot": b"png",
        "shap_plot": b"png", "shap_importance": pd.DataFrame({"feature": ["age"]}),
        "subgroup_metrics": pd.DataFrame({"group": ["a"], "rows": [5]}),
        "aggregate_tables": {}, "manifest_validation": {"tables": 0, "checked_at": "now"},
        "bar_chart": figure, "pie_chart": figure, "line_chart": figure,
        "risk_tiers": pd.DataFrame(), "risk_tier_chart": figure, "model_card": "# card",
        "feature_report": {}, "feature_ranking": pd.DataFrame(),
        "cross_validation": {"performed": False, "reason": "large study"},
        "tuning_summary": pd.DataFrame(), "reliability_curve": pd.DataFrame(),
        **{f"{stage}_metrics": None for stage in ("synthetic", "inference", "drift")},
        **{f"{stage}_metrics": {"rmse": {"value": 1.0, "step": 0}}
           for stage in ("validation", "test", "cv", "gate")},
        "monitoring_metrics": pd.DataFrame(), "params:reporting": params,
        "population_section": {"kind": "population", "groups": []},
    }
    pipeline = section_template(Population)
    assert max(len(node.inputs) for node in pipeline.nodes) <= 8
    assert pipeline.inputs() == set(inputs)
    assert pipeline.outputs() == {"report_section"}
    catalog = DataCatalog(datasets={
        **{name: MemoryDataset(value) for name, value in inputs.items()},
        **{name: Kept() for name in pipeline.all_outputs()}})
    SequentialRunner().run(pipeline, catalog)
    section = catalog.load("report_section")
    assert [group["title"] for group in section["groups"]] == [
        "Model", "Aggregates", "Latest scored batch", "Data quality", "Model card", "Features",
        "Tuning and calibration", "Monitoring"]
    assert section["population"] == {"kind": "population", "groups": []}
    assert catalog.load("study_section")["groups"] == section["groups"][:4]


@pytest.fixture(scope="module")
def project_catalog():
    """The committed catalog (conf/base) and every dataset name of every pipeline. Built from
    the config loader, not a KedroSession: a session would run the project's hooks (kedro-mlflow
    points the process at the repository's mlflow.db)."""
    from kedro.framework.project import pipelines, settings
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT)
    loader = settings.CONFIG_LOADER_CLASS(conf_source=str(PROJECT / settings.CONF_SOURCE),
                                          env="base", **settings.CONFIG_LOADER_ARGS)
    catalog = settings.DATA_CATALOG_CLASS.from_config(loader["catalog"],
                                                      credentials=loader["credentials"])
    from health_risk.framework.config_loader import set_active_loader

    set_active_loader(loader)  # as the registry hook does for a session on this conf
    names = set()
    for name, pipeline in pipelines.items():
        if name != "__default__":
            names |= {d for d in pipeline.datasets() if not d.startswith("params:")
                      and d != "parameters"}
    return catalog, names


def test_every_dataset_is_declared_with_a_known_layer(project_catalog):
    catalog, names = project_catalog
    undeclared, unlayered = [], []
    for name in sorted(names):
        dataset = catalog.get(name, fallback_to_runtime_pattern=False)
        if dataset is None:
            undeclared.append(name)
            continue
        layer = ((getattr(dataset, "metadata", None) or {}).get("kedro-viz") or {}).get("layer")
        if layer not in LAYERS:
            unlayered.append((name, layer))
    assert not undeclared, f"not in the catalog (no layer in kedro-viz): {undeclared}"
    assert not unlayered, f"missing or unknown layer: {unlayered}"


def test_person_level_tables_have_previews_off_and_plots_preview(project_catalog):
    catalog, _ = project_catalog
    for study in studies_running("reporting"):
        for name in ("validated", "primary", "features", "model_input", "predictions",
                     "synthetic_batches", "quarantine"):
            dataset = catalog.get(f"{study}.{name}", fallback_to_runtime_pattern=False)
            assert dataset is not None, name
            assert dataset.metadata["kedro-viz"].get("preview") is False, f"{study}.{name}"
        for chart in ("bar_chart", "pie_chart", "line_chart", "risk_tier_chart"):
            dataset = catalog.get(f"{study}.{chart}")  # also an MLflow artifact
            assert isinstance(dataset, PlotlyJSONDataset) and hasattr(dataset, "preview")
    for study in committed_registry().running("reporting"):
        if study.population:
            assert type(catalog.get(f"{study.name}.area_map")).__module__.startswith(
                "kedro_datasets.plotly")
