"""End to end through KedroSession with ``--env test``: sample raw files in their real formats,
then the default pipeline (ingestion -> feature engineering -> modeling -> synthetic data ->
inference -> reporting) under ``ThreadRunner``, in a scratch copy of the project so the
repository's data/ and MLflow store are untouched. The copy's test environment also registers a
fourth study by configuration alone (``fourth_study_conf``), so one run checks that a new study
needs no Python. The same finished project then runs the notebook, ``kedro viz build`` and,
when Chromium is installed, renders the HTML report headless."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from . import fourth_study_conf as fourth
from .committed_config import committed_registry
from .published import published
from .warning_capture import capture_warnings, own_warnings

PROJECT = Path(__file__).resolve().parents[1]
REGISTRY = committed_registry()
# Every registered table plus the study the test adds by configuration.
STUDIES = (*REGISTRY.names, fourth.NAME)
MODELLED = {**{s.name: s.task for s in REGISTRY.running("modeling")},
            fourth.NAME: "classification"}
PRIMARY_METRIC = {"classification": "roc_auc", "regression": "r2"}
# Subprocesses run the venv's commands without an activated venv: its bin goes first on PATH.
BIN = str(Path(sys.executable).parent)
REGISTRY_PIPELINES = ("sample_data", "ingestion", "feature_engineering", "modeling",
                      "synthetic_data", "inference", "reporting")


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(PROJECT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    (root / "src").mkdir()  # the package itself is installed; bootstrap wants the folder
    shutil.copy(PROJECT / "pyproject.toml", root / "pyproject.toml")
    shutil.copy(PROJECT / ".telemetry", root / ".telemetry")
    shutil.copytree(PROJECT / "notebooks", root / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    fourth.add_to_project(root, env="test")
    return root


def _run(root: Path, pipeline: str, monkeypatch, runner=None) -> None:
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    monkeypatch.chdir(root)
    bootstrap_project(root)
    with KedroSession.create(project_path=root, env="test") as session:
        session.run(pipeline_names=[pipeline], runner=runner)


@pytest.fixture(scope="module")
def early_cluster(request, tmp_path_factory):
    """The standalone cluster, started before the end-to-end run when a cluster test is
    selected: its JVMs start while the local run works, which takes their ~25 s of start-up
    off the suite. Stopped (by process group) when the module is done."""
    from .spark_cluster import StandaloneCluster

    if not any(item.get_closest_marker("cluster") for item in request.session.items):
        yield None
        return
    cluster = StandaloneCluster(tmp_path_factory.mktemp("spark")).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def finished_project(spark, project_copy, early_cluster):
    """sample_data, then the default pipeline under ThreadRunner (every real dependency must be
    a dataset edge: inference starts only after its study's gate), once for every test of this
    module, on a fresh MLflow store."""
    from kedro.pipeline import Node
    from kedro.runner import ThreadRunner

    with pytest.MonkeyPatch.context() as monkeypatch, capture_warnings() as caught:
        # Kedro warns about dotted dataset names once per process: let these runs be the one.
        monkeypatch.setattr(Node, "__dotted_dataset_name_warned__", False, raising=False)
        _run(project_copy, "sample_data", monkeypatch)
        _run(project_copy, "__default__", monkeypatch, runner=ThreadRunner(max_workers=2))
    RUN_WARNINGS[:] = caught
    return project_copy


# Every warning the two runs of ``finished_project`` raised (tests/warning_capture.py).
RUN_WARNINGS: list = []


@pytest.mark.slow
def test_the_default_run_raises_no_warning_of_the_projects_making(finished_project,
                                                                   record_property):
    """Issue 26, item 4: none from the project's code (a file under src/health_risk) or caused by
    its configuration; the libraries' own are listed as evidence."""
    from collections import Counter

    assert own_warnings(RUN_WARNINGS) == []
    sources = Counter(f"{Path(w.filename).name}:{w.lineno} {w.category.__name__}"
                      for w in RUN_WARNINGS)
    record_property("evidence", f"library warnings in the default run: {sources.most_common(10)}")


@pytest.mark.slow
def test_sample_data_then_default_run_writes_every_layer_and_mlflow_run(
    spark, finished_project
):
    project_copy = finished_project
    raw = project_copy / "data" / "01_raw"
    assert (raw / "brfss" / "LLCP2023.XPT").read_bytes().startswith(b"HEADER RECORD*******")
    assert (raw / "census" / "est22us.xls").stat().st_size > 0
    assert (raw / "insurance" / "insurance.db").stat().st_size > 0
    header = (raw / "stroke" / "healthcare-dataset-stroke-data.csv").read_text().splitlines()[0]
    assert header.startswith("Full Name,")  # conf/test asks for the personal columns

    for study in STUDIES:
        data = project_copy / "data"
        assert list(published(data, f"02_intermediate/{study}/validated").glob("*.parquet"))
        assert (published(data, f"02_intermediate/{study}/quarantine") / "_SUCCESS").exists()
        report = json.loads(
            published(data, f"08_reporting/{study}/validation_report.json").read_text())
        assert report["rows_read"] == report["rows_passed"] + report["rows_quarantined"]
    stroke = spark.read.parquet(str(published(data, "02_intermediate/stroke/validated")))
    assert stroke.count() == 1500
    assert not {"full_name", "phone_number", "address", "admission_date"} & set(stroke.columns)
    assert spark.read.parquet(
        str(published(data, "02_intermediate/brfss/validated"))).count() == 2000
    # BRFSS is a folder of two survey years with different variable names (issue 25).
    years = json.loads(published(
        data, "08_reporting/brfss/validation_report.json").read_text())["years"]
    assert sorted(years) == ["2016", "2023"]
    assert years["2016"]["renamed"]["SEX"] == "sexvar" and years["2023"]["renamed"] == {}
    assert "_urbstat" in years["2016"]["absent_optional_columns"]
    assert all(y["accounting_balanced"] and y["rows_read"] == 1000 for y in years.values())
    spec = json.loads(published(data, "04_feature/brfss/feature_spec.json").read_text())
    assert [p["feature"] for p in spec["partially_available_features"]] == ["urban_rural"]

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project_copy / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("health_risk")
    runs = client.search_runs([experiment.experiment_id])
    top = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.run_name for r in top] == ["__default__"]  # sample_data is not tracked
    run = top[0]
    # One MLflow run per study, nested under the kedro run's: run name and tag = the study.
    study_runs = {r.info.run_name: r for r in runs if r.data.tags.get("kind") == "study"}
    assert set(study_runs) == set(STUDIES)
    for study, study_run in study_runs.items():
        assert study_run.data.tags["mlflow.parentRunId"] == run.info.run_id
        assert study_run.data.tags["study"] == study and study_run.info.status == "FINISHED"
    assert study_runs["stroke"].data.params["split.seed"] == "42"  # its parameters, unprefixed
    # Every figure of a study is in the study's run, none in the kedro run's.
    assert not [k for k in run.data.metrics if k.split(".")[0] in study_runs]
    metrics = {f"{study}.{key}": value for study, study_run in study_runs.items()
               for key, value in study_run.data.metrics.items()}
    assert metrics["brfss.ingestion.rows_read"] == 2000
    assert metrics["insurance.ingestion.rows_quarantined"] == 1  # the duplicate record
    stroke_run = study_runs["stroke"].info.run_id
    artifacts = [a.path for a in client.list_artifacts(stroke_run, "ingestion")]
    assert artifacts == ["ingestion/validation_report.json"]
    # Personal identifiers never reach MLflow.
    logged = json.dumps([(r.data.params, r.data.tags) for r in runs])
    assert "Phone" not in logged and "555-01" not in logged

    # Modeling: every study has test metrics, artifacts and a champion in the registry.
    performed = set()
    for study, task in MODELLED.items():
        metric = PRIMARY_METRIC[task]
        assert f"{study}.test.{metric}" in metrics, study
        version = client.get_model_version_by_alias(f"health_risk_{study}", "champion")
        assert version.tags["study"] == study
        study_run = study_runs[study].info.run_id
        modeling = {a.path for a in client.list_artifacts(study_run, "modeling")}
        assert {"modeling/subgroup_metrics.csv", "modeling/shap_plot.png",
                "modeling/gate_decision.json", "modeling/model_card.md"} <= modeling, study
        cross_validation = json.loads(
            (project_copy / "data" / "08_reporting" / study / "cross_validation.json").read_text())
        if cross_validation["performed"]:  # small studies (conf/test: stroke, insurance)
            cv_metric = "roc_auc" if task == "classification" else "r2"
            assert metrics[f"{study}.cv.{cv_metric}_mean"] == pytest.approx(
                cross_validation["summary"][cv_metric]["mean"])
            performed.add(study)
        # The study's run holds the registered version and its model card; every test metric
        # has an interval.
        assert version.run_id == study_run
        assert f"{study}.test.{metric}_ci_low" in metrics and \
            metrics[f"{study}.test.{metric}_ci_low"] <= metrics[f"{study}.test.{metric}"]
    assert performed == {"insurance"}, "the test env cross-validates insurance (only)"
    assert (project_copy / "data" / "08_reporting" / "brfss" / "feature_ranking.csv").exists()

    # Synthetic batches scored by the champion: every row scored or quarantined, reports and
    # metrics on the run, one monitoring run per study.
    reporting = project_copy / "data" / "08_reporting"
    monitoring = client.get_experiment_by_name("health_risk_monitoring")
    monitored = {r.data.tags["health_risk.monitoring"]
                 for r in client.search_runs([monitoring.experiment_id])}
    assert monitored == set(MODELLED)
    measured = set()
    for study in MODELLED:
        synthetic = json.loads((reporting / study / "synthetic_report.json").read_text())
        assert synthetic["accepted"] and synthetic["privacy"]["exact_copies"] == 0
        # Train on synthetic / test on real beside train on real, in the report and MLflow.
        utility = synthetic["utility"]
        if utility["performed"]:
            compared = "roc_auc" if "roc_auc" in utility["gap"] else "r2"
            assert metrics[f"{study}.synthetic.tstr_{compared}"] == pytest.approx(
                utility["tstr"][compared])
            measured.add(study)
        else:  # the test env turns it off for brfss and the fourth study
            assert utility["reason"] == "utility.enabled is false", (study, utility)
        assert synthetic["conditioning"]["enabled"] and synthetic["conditioning"]["strata"]
        winner = json.loads((project_copy / "data" / "06_models" / study /
                             "winning_candidate.json").read_text())
        for candidate, count in winner["trials"].items():
            assert metrics[f"{study}.tuning.{candidate}.trials"] == count >= 1
        trials = client.search_runs([experiment.experiment_id], filter_string=(
            f"tags.`mlflow.parentRunId` = '{study_runs[study].info.run_id}' "
            "and tags.kind = 'tuning_trial'"), max_results=1000)
        assert len(trials) == sum(winner["trials"].values()), study  # nested in the study's run
        inference = json.loads((reporting / study / "inference_report.json").read_text())
        assert inference["batch_id"] == synthetic["batch_id"]
        assert inference["rows_in"] == synthetic["rows"] == \
            inference["rows_scored"] + inference["rows_quarantined"]
        champion = client.get_model_version_by_alias(f"health_risk_{study}", "champion")
        assert inference["model"]["version"] == str(champion.version)
        assert metrics[f"{study}.inference.model_version"] == float(champion.version)
        assert f"{study}.drift.features_drifted" in metrics
        drift = json.loads((reporting / study / "drift_report.json").read_text())
        assert drift["features"] and "psi" in drift["score"]
        predictions = spark.read.parquet(
            str(project_copy / "data" / "07_model_output" / study / "predictions"))
        batch = predictions.filter(predictions.batch_id == synthetic["batch_id"])
        assert batch.count() == inference["rows_scored"]
        # Scored by the champion the gate of this same run left (fresh store: version 1).
        gate = json.loads((reporting / study / "gate_decision.json").read_text())
        assert gate["promoted"] and gate["champion_version"] == gate["version"] == "1", study
        assert {r["model_version"] for r in batch.select("model_version").distinct()
                .collect()} == {gate["champion_version"]}, study
    assert measured == {"stroke", "insurance"}  # a classification and a regression


@pytest.mark.slow
def test_a_study_added_by_configuration_alone_runs_ingestion_through_reporting(
        finished_project):
    """No file under src/ names it: one folder, conf/test/studies/wellbeing/ (registry entry,
    catalog entry and parameter blocks), only."""
    import mlflow

    source = PROJECT / "src"
    assert not any(fourth.NAME in p.read_text() for p in source.rglob("*.py"))
    reporting = finished_project / "data" / "08_reporting" / fourth.NAME
    validation = json.loads(published(
        finished_project / "data", f"08_reporting/{fourth.NAME}/validation_report.json").read_text())
    assert validation["rows_read"] == 3000 == validation["rows_passed"] + \
        validation["rows_quarantined"]
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{finished_project / 'mlflow.db'}")
    champion = client.get_model_version_by_alias(f"health_risk_{fourth.NAME}", "champion")
    assert champion.tags["study"] == fourth.NAME
    evaluation = json.loads((reporting / "evaluation_report.json").read_text())
    assert evaluation["test"]["roc_auc"] > 0.7  # the survey answers carry real signal
    inference = json.loads((reporting / "inference_report.json").read_text())
    assert inference["rows_scored"] > 0 and inference["model"]["version"] == str(champion.version)
    section = json.loads((reporting / "report_section.json").read_text())
    assert section["study"] == fourth.NAME and section["title"].startswith("Wellbeing")
    html = (finished_project / "data" / "08_reporting" / "report.html").read_text()
    assert f'id="study-{fourth.NAME}"' in html
    # Its optional `commute` question is not in the file: the feature made from it is dropped
    # before modeling, and the feature report, the model card and MLflow say why.
    features = json.loads(published(
        finished_project / "data", f"08_reporting/{fourth.NAME}/feature_report.json").read_text())
    dropped = features["feature_availability"]["dropped"]
    assert [d["feature"] for d in dropped] == ["commute_mode"]
    assert "commute" in dropped[0]["reason"]
    assert "commute_mode" not in champion.tags["categorical_features"]
    assert champion.tags["dropped_features"].startswith("commute_mode: sources ['commute']")
    card = client.download_artifacts(champion.run_id, "modeling/model_card.md")
    assert "**Dropped** `commute_mode`" in Path(card).read_text()


@pytest.mark.slow
def test_reporting_writes_validated_manifests_charts_and_the_html_report(spark,
                                                                       finished_project):
    reporting = finished_project / "data" / "08_reporting"
    # BRFSS trends over its two survey years: yearly, pooled and change rows, nationally and
    # by state, with the published CSV's manifest checked (issue 25).
    trends = pd.read_csv(reporting / "brfss" / "population" / "trends" / "trend_estimates.csv")
    national = trends[trends["scope"] == "national"]
    assert sorted(national.loc[national["kind"] == "yearly", "year"]) == [2016, 2023]
    change = national[national["kind"] == "change"].iloc[0]
    assert (change["first_year"], change["last_year"]) == (2016, 2023) and change["se"] > 0
    assert (trends["kind"] == "pooled").sum() > 1
    aggregates = reporting / "insurance" / "aggregates"
    tables = sorted(p.stem for p in aggregates.glob("*.csv"))
    assert tables == ["charges_by_age", "charges_by_bmi_category", "charges_by_region",
                      "charges_by_sex_and_smoker", "smokers_by_region"]
    validation = json.loads((aggregates / "manifest_validation.json").read_text())
    assert validation["valid"] and validation["tables"] == len(tables)
    for table in tables:
        manifest = json.loads((aggregates / f"{table}.manifest.json").read_text())
        (uri,) = manifest["fileLocations"][0]["URIs"]
        assert uri == (aggregates / f"{table}.csv").resolve().as_uri()
        assert manifest["globalUploadSettings"]["containsHeader"] == "true"

    # The CSV equals a pandas computation on the same ingested (primary) rows.
    primary = spark.read.parquet(
        str(published(finished_project / "data", "03_primary/insurance/primary"))).toPandas()
    expected = (primary.groupby("region")["charges"].agg(["size", "mean", "max", "min"])
                .reset_index().set_axis(["region", "rows", "mean_charges", "max_charges",
                                         "min_charges"], axis=1))
    written = pd.read_csv(aggregates / "charges_by_region.csv")
    pd.testing.assert_frame_equal(written, expected, check_dtype=False, rtol=1e-9)

    for study in MODELLED:
        charts = reporting / study / "charts"
        for kind in ("bar", "pie", "line"):
            assert json.loads((charts / f"{kind}_chart.json").read_text())["data"]
        tiers = pd.read_csv(reporting / study / "risk_tiers.csv")
        inference = json.loads((reporting / study / "inference_report.json").read_text())
        assert tiers["rows"].sum() == inference["rows_scored"]

    population = reporting / "brfss" / "population"
    estimates = pd.read_csv(population / "area_estimates.csv")
    assert {"observed_weighted", "observed_weighted_ci_low", "observed_weighted_ci_high",
            "reliability", "observed_unweighted", "model_based", "model_based_mse", "gamma",
            "synthetic", "predicted_weighted", "state_poverty_pct"} <= set(estimates.columns)
    assert estimates["respondents"].sum() == json.loads(
        (reporting / "brfss" / "area_summary.json").read_text())["observed"]["respondents"]
    # Direct: every area with respondents has its Korn-Graubard interval and NCHS flag.
    answered = estimates[estimates["respondents"] > 0]
    assert answered[["observed_weighted_ci_low", "observed_weighted_ci_high",
                     "reliability"]].notna().all().all()
    assert set(answered["reliability"]) <= {"reliable", "review", "suppress"}
    # Model-based: every state of the SAIPE table (50 and DC, not its national row) has one.
    states = estimates[estimates["poverty_pct_all_ages"].notna()]
    assert len(states) == 51 and (states["model_based_mse"] > 0).all()
    assert set(states["model_based_kind"]) <= {"EBLUP", "synthetic"}
    assert states.loc[states["model_based_kind"] == "EBLUP", "gamma"].between(0, 1).all()
    assert json.loads((population / "manifest_validation.json").read_text())["valid"]
    area_map = json.loads((reporting / "brfss" / "charts" / "area_map.json").read_text())
    assert area_map["data"][0]["type"] == "choropleth" and area_map["data"][0]["locations"]
    layers = [b["label"] for b in area_map["layout"]["updatemenus"][0]["buttons"]]
    assert any(label.startswith("Model-based") for label in layers)

    html = (reporting / "report.html").read_text()
    figures = int(re.search(r'name="health-risk-figures" content="(\d+)"', html).group(1))
    # per study: 3 aggregates, tiers, drift; plus the map
    assert figures >= len(MODELLED) * 5 + 1
    assert html.count('Plotly.newPlot("figure-') == figures

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{finished_project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("health_risk")
    run = next(r for r in client.search_runs([experiment.experiment_id])
               if "mlflow.parentRunId" not in r.data.tags)
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "reporting")}
    assert "reporting/report.html" in logged
    # The Fay-Herriot model of brfss in its study run: beta, its standard errors, the variance.
    brfss_run = next(r for r in client.search_runs([experiment.experiment_id])
                     if r.data.tags.get("kind") == "study" and r.info.run_name == "brfss")
    assert brfss_run.data.metrics["small_area.model_variance"] >= 0
    assert {f"small_area.{kind}.{term}" for kind in ("beta", "beta_se")
            for term in ("intercept", "poverty_pct_all_ages", "median_household_income")
            } <= set(brfss_run.data.metrics)
    study_artifacts = {a.path for a in client.list_artifacts(brfss_run.info.run_id, "reporting")}
    assert "reporting/area_model.json" in study_artifacts


@pytest.mark.slow
def test_notebook_executes_against_the_catalog(finished_project, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("KEDRO_ENV", "test")
    notebook = nbformat.read(finished_project / "notebooks" / "explore_data.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(finished_project / "notebooks")}}
                   ).execute()
    printed = "".join(output.get("text", "") for cell in notebook.cells
                      if cell.cell_type == "code" for output in cell.get("outputs", []))
    assert "environment: test" in printed and "brfss" in printed


@pytest.mark.slow
def test_kedro_viz_build_shows_pipelines_namespaces_and_layers(finished_project):
    env = {**os.environ, "KEDRO_ENV": "test"}
    subprocess.run([str(Path(sys.executable).parent / "kedro"), "viz", "build"],
                   cwd=finished_project, env=env, check=True, capture_output=True,
                   timeout=300)
    main = json.loads((finished_project / "build" / "api" / "main").read_text())
    assert {p["id"] for p in main["pipelines"]} == {*REGISTRY_PIPELINES, "__default__"}
    assert set(STUDIES) <= set(main["modular_pipelines"])
    assert main["layers"] == ["raw", "intermediate", "primary", "feature", "model_input",
                              "models", "model_output", "reporting"]
    data = [n for n in main["nodes"] if n["type"] == "data"]
    assert data and all(n.get("layer") for n in data)
    # Collapsed, the top level is one group per registered study (and reference table) plus
    # a handful of datasets between them: raw files, the reference table a study joins, the
    # map outlines, one report section per study and the report.
    root = main["modular_pipelines"]["__root__"]["children"]
    groups = {c["id"] for c in root if c["type"] == "modularPipeline"}
    assert groups == set(STUDIES)
    kinds = {n["id"]: n["type"] for n in main["nodes"]}
    outside = sorted(n["name"] for n in main["nodes"] if n["type"] == "data"
                     and n["id"] in {c["id"] for c in root if kinds.get(c["id"]) == "data"})
    # Besides each study's raw inputs (its raw file and its incoming folder), the committed
    # registry's studies keep it within 6 (tests/test_pipeline_registry.py); the study this
    # test adds brings exactly its raw inputs and its section.
    added = [name for name in outside if name.startswith(f"{fourth.NAME}.")]
    assert added == [f"{fourth.NAME}.incoming", f"{fourth.NAME}.raw_source",
                     f"{fourth.NAME}.report_section"]
    raw = [name for name in outside if name.endswith((".raw_source", ".incoming"))]
    assert len(set(outside) - set(raw) - set(added)) <= 6, outside


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt install chromium)")
def test_html_report_renders_every_chart_in_headless_chromium(finished_project, tmp_path):
    report = finished_project / "data" / "08_reporting" / "report.html"
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=20000", "--dump-dom", report.as_uri()],
        check=True, capture_output=True, text=True, timeout=180).stdout
    figures = int(re.search(r'name="health-risk-figures" content="(\d+)"', dom).group(1))
    # plotly.js replaces each empty chart div by a plot container with SVG layers.
    assert dom.count('class="plot-container plotly"') == figures
    assert dom.count("choroplethlocation") >= 50  # the state map drew its states, offline


def _study_figures(root: Path, study: str) -> dict:
    """Row counts and the test metric one run of a study left on disk."""
    reporting = root / "data" / "08_reporting" / study
    validation = json.loads(
        published(root / "data", f"08_reporting/{study}/validation_report.json").read_text())
    splits = pd.read_parquet(root / "data" / "05_model_input" / study / "model_input",
                             columns=["split"])["split"].value_counts().to_dict()
    inference = json.loads((reporting / "inference_report.json").read_text())
    return {"rows": {"passed": validation["rows_passed"],
                     "quarantined": validation["rows_quarantined"], **splits,
                     "batch": inference["batch_id"], "scored": inference["rows_scored"]},
            "test": json.loads((reporting / "evaluation_report.json").read_text())["test"],
            "winner": json.loads((root / "data" / "06_models" / study /
                                  "winning_candidate.json").read_text()),
            "gate": json.loads((reporting / "gate_decision.json").read_text())}


@pytest.mark.slow
@pytest.mark.cluster
def test_the_same_study_runs_on_a_standalone_cluster_and_over_spark_connect(
        finished_project, early_cluster, tmp_path, record_property):
    """A real standalone cluster (a master and two one-core workers on 127.0.0.1), used twice
    with `--env cluster`: ingestion and feature engineering of insurance over Spark Connect
    (SPARK_REMOTE, a Connect server whose driver runs on the cluster), then modeling
    (xgboost.spark) and inference with a classic driver on SPARK_MASTER (over Connect they are
    refused: they need the JVM gateway). The copy's conf/cluster holds the test parameters and the
    test environment's JVM settings, so only where Spark runs differs from the local run it is
    compared with."""
    import yaml
    from mlflow import MlflowClient

    from .spark_cluster import (
        CLUSTER_TEST_SETTINGS,
        WORKER_UI,
        connect_server,
        master_status,
        wait_for,
        worker_status,
    )

    study = "insurance"
    local = _study_figures(finished_project, study)
    remote = tmp_path / "project"
    shutil.copytree(finished_project, remote,
                    ignore=shutil.ignore_patterns("spark-warehouse", "*.png", "notebooks"))
    # The test environment's parameters: its non-study files, its study defaults and the
    # committed studies' overrides (not the fourth study's folder: it is registered in
    # conf/test only).
    test_conf, cluster_conf = remote / "conf" / "test", remote / "conf" / "cluster"
    for folder in ("parameters", "study_defaults"):
        shutil.copytree(test_conf / folder, cluster_conf / folder)
    for name in REGISTRY.names:
        for overrides in (test_conf / "studies" / name).glob("parameters*"):
            target = cluster_conf / overrides.relative_to(test_conf)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(overrides, target)
    # The test environment's JVM settings for the driver and the executors (spark_cluster.py).
    with open(cluster_conf / "spark.yml", "a") as spark_yml:
        yaml.safe_dump(CLUSTER_TEST_SETTINGS, spark_yml)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", SPARK_EXECUTOR_MEMORY="1g",
               SPARK_EXECUTOR_CORES="1", SPARK_DRIVER_MEMORY="1g", SPARK_SHUFFLE_PARTITIONS="2",
               HEALTH_RISK_MLFLOW_URI=f"sqlite:///{remote / 'mlflow.db'}",
               COLUMNS="250")  # kedro's rich log: one record a line, messages unbroken

    def kedro_run(pipelines: str, log: Path, **extra: str) -> subprocess.CompletedProcess:
        with open(log, "w") as out:
            return subprocess.run(
                [f"{BIN}/kedro", "run", "--env", "cluster", "--namespaces", study,
                 "--pipelines", pipelines,
                 # Cross-validation repeats the fit; it does not change the figures compared.
                 "--params", f"{study}.modeling.cross_validation.enabled=false",
                 # Two executors: nodes whose inputs are ready run side by side.
                 "--runner", "ThreadRunner"],
                cwd=remote, env={**env, **extra}, stdout=out, stderr=subprocess.STDOUT,
                timeout=600, check=False)

    connect_log, classic_log = tmp_path / "connect_run.log", tmp_path / "cluster_run.log"
    url, logs = early_cluster.wait_alive(), early_cluster.logs
    # The cluster was started before the end-to-end run and stops with the module.
    # (A Connect run of modeling is refused before its nodes: tests/spark/test_mode.py.)
    with connect_server(early_cluster.folder, url) as connect_url:
        done = kedro_run("ingestion,feature_engineering", connect_log,
                         SPARK_REMOTE=connect_url)
    assert done.returncode == 0, connect_log.read_text()[-6000:]
    assert f"session on Spark Connect server {connect_url}" in " ".join(
        connect_log.read_text().split())
    # The Connect server's application has ended: its executors are free for the next.
    wait_for(lambda: master_status()["completedapps"], 60,
             "the Connect server's application in the master's completed list", logs)
    done = kedro_run("modeling,inference", classic_log, SPARK_MASTER=url)
    assert done.returncode == 0, classic_log.read_text()[-6000:]
    assert url in classic_log.read_text()  # "Spark ... session on spark://127.0.0.1:7177"
    # Both applications had executors on both workers (each worker's own status page).
    apps = wait_for(lambda: len(master_status()["completedapps"]) == 2 and
                    master_status()["completedapps"], 30,
                    "both applications in the master's completed list", logs)
    assert {a["name"] for a in apps} == {"Spark Connect server", "health-risk"}
    ran = {}  # (application, worker) -> its executors there
    for app in apps:
        for number in range(len(WORKER_UI)):
            worker = worker_status(number)
            ran[app["name"], worker["id"]] = sorted(
                e["id"] for e in worker["finishedexecutors"] + worker["executors"]
                if e["appid"] == app["id"])
            assert ran[app["name"], worker["id"]], \
                f"no executor of {app['name']} ({app['id']}) on {worker['id']}"
    record_property("evidence", f"standalone cluster {url}: executors (application, worker) "
                    f"-> ids {ran}, logs {connect_log}, {classic_log}")

    got = _study_figures(remote, study)
    assert got["rows"] == local["rows"]  # same rows read, quarantined, split and scored
    # One xgboost.spark worker per executor (the local run had local[1]: one); partitioning
    # and the distributed histogram change the trees, not the quality beyond this.
    assert got["winner"]["candidate"] == "xgboost" and got["winner"]["xgboost_workers"] == 2
    assert local["winner"]["xgboost_workers"] == 1
    assert got["test"]["r2"] == pytest.approx(local["test"]["r2"], abs=0.05)
    # The cluster run registered version 2 and the gate decided; a champion stands.
    assert got["gate"]["version"] == "2"
    client = MlflowClient(tracking_uri=f"sqlite:///{remote / 'mlflow.db'}")
    champion = client.get_model_version_by_alias(f"health_risk_{study}", "champion")
    assert str(champion.version) == got["gate"]["champion_version"]
    version = client.get_model_version(f"health_risk_{study}", "2")
    assert version.tags["study"] == study
    # Registered from the study's own MLflow run, under the cluster run's run.
    study_run = client.get_run(version.run_id)
    assert study_run.info.run_name == study and study_run.data.tags["kind"] == "study"
    parent = client.get_run(study_run.data.tags["mlflow.parentRunId"])
    assert set(parent.info.run_name.split("+")) == {"modeling", "inference"}


# Issue 23: the champion served by MLflow's own server, without Spark, scores a study's raw
# records as batch inference scores the same rows dropped into its incoming folder.
SERVED_ROWS = 30


def _raw_slice(root: Path, study: str) -> list[dict]:
    """The first well-formed rows of the study's raw file, written into its incoming folder as
    a file of the same format, and returned as request records (values as the file writes
    them: CSV text, XPT numbers and text)."""
    import csv
    import io

    from health_risk.framework.config_loader import CONFIG_LOADER_ARGS, StudyConfigLoader

    catalog = StudyConfigLoader(conf_source=str(root / "conf"), env="test",
                                **CONFIG_LOADER_ARGS)["catalog"]
    source = root / catalog[f"{study}.raw_source@spark"]["filepath"]
    if source.is_dir():  # a folder of survey years: the latest year is in the contract's names
        source = max(source.glob("*.XPT"))
    incoming = root / "data" / "01_raw" / study / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    if source.suffix.lower() == ".xpt":
        from health_risk.datasets import SasXportDataset

        frame = next(pd.read_sas(source, format="xport", chunksize=SERVED_ROWS, encoding="utf-8"))
        SasXportDataset(filepath=str(incoming / "served.XPT")).save(frame)
        return [{k: (None if pd.isna(v) else v) for k, v in row.items()}
                for row in frame.to_dict("records")]
    rows = list(csv.reader(io.StringIO(source.read_text(encoding="utf-8"))))
    header, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])][:SERVED_ROWS]
    with open(incoming / "served.csv", "w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows([header, *body])
    return [dict(zip(header, row, strict=True)) for row in body]


def _batch_scores(root: Path, study: str) -> pd.DataFrame:
    folders = sorted((root / "data" / "07_model_output" / study / "predictions")
                     .glob("batch_id=incoming-*"))
    assert len(folders) == 1, folders
    return pd.read_parquet(folders[0])


def _post(port: int, records: list[dict]) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    body = json.dumps({"dataframe_records": records}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _java_in_group(pgid: int) -> list[str]:
    """Command lines of the process group's members that run a JVM."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields[2]) == pgid and "java" in cmdline:
            found.append(cmdline)
    return found


def _expected_ids(records: list[dict], spec: dict) -> list[str]:
    """Each record's row id as feature engineering builds it (id columns joined with '-'; the
    reader's row number for a file without an id)."""
    columns = spec["id_column"] if isinstance(spec["id_column"], list) else [spec["id_column"]]
    ids = []
    for number, record in enumerate(records):
        lowered = {k.strip().lower(): v for k, v in record.items()}
        parts = [str(number) if c == "_source_row" else lowered.get(c) for c in columns]
        ids.append("-".join(str(int(float(p))) if isinstance(p, float) else str(p).strip()
                            for p in parts))
    return ids


@pytest.mark.slow
def test_served_champions_score_raw_records_as_batch_inference_does(finished_project,
                                                                     monkeypatch, tmp_path):
    """For every modelled study: the same raw rows scored by batch inference (dropped into
    incoming/, one inference run) and by `make serve`'s server (MLflow's, no JVM in its process
    group) get the same scores within 1e-6 and the same risk tiers; a record the contract
    refuses gets a 400 naming it while the others are still scored."""
    import contextlib
    import socket

    from kedro.runner import ThreadRunner

    from health_risk.framework.config_loader import CONFIG_LOADER_ARGS, StudyConfigLoader

    from .servers import first_status, process_group

    root = finished_project
    records = {study: _raw_slice(root, study) for study in MODELLED}
    _run(root, "inference", monkeypatch, runner=ThreadRunner(max_workers=2))
    parameters = StudyConfigLoader(conf_source=str(root / "conf"), env="test",
                                   **CONFIG_LOADER_ARGS)["parameters"]
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "KEDRO_ENV": "test"}
    ports = {}
    for study in MODELLED:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports[study] = probe.getsockname()[1]
    answers = {}
    # Every study's server starts at once (each takes seconds to import and load).
    with contextlib.ExitStack() as servers:
        started = {study: servers.enter_context(process_group(
            [sys.executable, "-m", "health_risk.framework.serve", study, "--port",
             str(ports[study])], root, env, tmp_path / f"serve-{study}.log"))
            for study in MODELLED}
        for study, server in started.items():
            status = first_status(f"http://127.0.0.1:{ports[study]}/ping", 180, server)
            assert status == 200, (tmp_path / f"serve-{study}.log").read_text()[-3000:]
            assert _java_in_group(server.pid) == []
            answers[study] = _post(ports[study], records[study])
    for study, (status, answer) in answers.items():
        batch = _batch_scores(root, study).set_index("id")
        ids = _expected_ids(records[study], parameters[study]["feature_engineering"])
        served = answer.get("predictions", [])
        refused = sorted({e["record"] for e in answer.get("errors", [])})
        # The records the batch quarantined are exactly the ones the server refused.
        assert sorted(i for i, row_id in enumerate(ids) if row_id not in batch.index) == refused
        assert status == (400 if refused else 200), answer.get("message")
        assert len(served) + len(refused) == len(ids) and served
        version = str(batch["model_version"].iloc[0])
        for result in served:
            expected = batch.loc[ids[result["record"]]]
            assert abs(result["score"] - expected["score"]) <= 1e-6, (study, result, expected)
            assert result["risk_tier"] == expected["risk_tier"]
            assert result["model_version"] == version
