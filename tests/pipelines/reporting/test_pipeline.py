"""Wiring of the reporting pipeline, and the catalog contract kedro-viz relies on: every
dataset of every pipeline is declared with its layer; person-level tables hide previews."""

from __future__ import annotations

from pathlib import Path

import pytest

from health_risk.pipelines.reporting.pipeline import create_pipeline, section_names

PROJECT = Path(__file__).resolve().parents[3]
LAYERS = ["raw", "intermediate", "primary", "feature", "model_input", "models", "model_output",
          "reporting"]


def test_each_study_gets_a_report_section_and_brfss_its_population_estimates():
    pipeline = create_pipeline()
    names = {node.name for node in pipeline.nodes}
    for study in ("brfss", "stroke", "insurance"):
        assert {f"{study}.build_aggregate_tables", f"{study}.validate_aggregate_manifests",
                f"{study}.plot_aggregate_charts", f"{study}.build_study_section"} <= names
    assert {n for n in names if n.endswith("estimate_area_prevalence")} == {
        "brfss.estimate_area_prevalence"}
    render = next(node for node in pipeline.nodes if node.name == "render_html_report")
    assert render.inputs == ["params:report", *section_names()]
    assert section_names()[:2] == ["brfss.report_section", "brfss.population_section"]
    # Inference outputs are read, never required to be produced here.
    assert {"brfss.predictions", "brfss.drift_report", "brfss.inference_report",
            "census.validation_report", "us_state_boundaries"} <= pipeline.inputs()
    assert pipeline.all_outputs() >= {"report_html", "insurance.aggregate_manifests"}


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
    for study in ("brfss", "stroke", "insurance"):
        for name in ("validated", "primary", "features", "model_input", "predictions",
                     "synthetic_batches", "quarantine"):
            dataset = catalog.get(f"{study}.{name}", fallback_to_runtime_pattern=False)
            assert dataset is not None, name
            assert dataset.metadata["kedro-viz"].get("preview") is False, f"{study}.{name}"
        for chart in ("bar_chart", "pie_chart", "line_chart", "risk_tier_chart"):
            dataset = catalog.get(f"{study}.{chart}")
            assert type(dataset).__name__ == "JSONDataset" and hasattr(dataset, "preview")
    assert type(catalog.get("brfss.area_map")).__module__.startswith("kedro_datasets.plotly")
