"""Reporting nodes on real study tables (generated raw CSV -> loader -> ingestion -> features)
and on small hand-made frames whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from health_risk.datasets import QuickSightManifestDataset
from health_risk.pipelines.reporting.config import ReportingConfig
from health_risk.pipelines.reporting.manifest import ManifestError
from health_risk.pipelines.reporting.nodes import (
    build_aggregate_tables,
    plot_aggregate_charts,
    summarise_risk_tiers,
    validate_aggregate_manifests,
    write_aggregate_manifests,
)

from ..study_tables import build_study_tables, load_params


@pytest.fixture(scope="module")
def insurance(spark, tmp_path_factory):
    return build_study_tables(spark, "insurance", 600, tmp_path_factory.mktemp("insurance"))


@pytest.fixture(scope="module")
def insurance_params():
    return load_params("reporting")["insurance"]["reporting"]


@pytest.fixture(scope="module")
def insurance_aggregates(insurance, insurance_params):
    return build_aggregate_tables(insurance.primary, insurance_params)


def _pandas_aggregate(frame: pd.DataFrame, group_by, measures) -> pd.DataFrame:
    named = {"rows": (group_by[0], "size")}
    for column, stats in measures.items():
        for stat in stats:
            named[f"{stat}_{column}"] = (column, {"stddev": "std"}.get(stat, stat))
    return (frame.groupby(group_by, dropna=False).agg(**named).reset_index()
            .sort_values(group_by, na_position="last").reset_index(drop=True))


def test_charges_aggregates_equal_a_pandas_computation_on_the_same_ingested_rows(
        insurance, insurance_params, insurance_aggregates):
    primary = insurance.primary.toPandas()
    config = ReportingConfig.model_validate(insurance_params)
    assert set(insurance_aggregates) == {"charges_by_region", "charges_by_bmi_category",
                                         "charges_by_age", "smokers_by_region",
                                         "charges_by_sex_and_smoker"}
    for name, spec in config.aggregates.items():
        table = insurance_aggregates[name]
        expected = _pandas_aggregate(primary, spec.group_by, spec.measures)
        assert list(table.columns) == spec.columns(), name
        assert int(table["rows"].sum()) == len(primary), name  # no row left out
        pd.testing.assert_frame_equal(table.reset_index(drop=True), expected[spec.columns()],
                                      check_dtype=False, rtol=1e-9, obj=name)
    # The BMI classes: < 18.5, 18.5-25, 25-30, >= 30.
    bmi = insurance_aggregates["charges_by_bmi_category"].set_index("bmi_category")["rows"]
    assert bmi["underweight"] == (primary["bmi"] < 18.5).sum()
    assert bmi["obese"] == (primary["bmi"] >= 30).sum()
    smokers = insurance_aggregates["smokers_by_region"]
    assert set(smokers["smoker"]) == {"yes", "no"}


def test_weighted_mean_ignores_rows_without_value_or_weight(spark):
    frame = spark.createDataFrame(
        [("a", 1.0, 3.0), ("a", 0.0, 1.0), ("a", None, 5.0), ("a", 1.0, None), ("b", 0.0, 2.0)],
        "grp string, label double, survey_weight double")
    params = {"study": "t", "title": "t",
              "aggregates": {"share": {"group_by": ["grp"], "weight": "survey_weight",
                                       "measures": {"label": ["mean", "weighted_mean"]}}},
              "charts": {kind: {"table": "share", "x": "grp", "y": "weighted_mean_label",
                                "title": kind} for kind in ("bar", "pie", "line")}}
    table = build_aggregate_tables(frame, params)["share"].set_index("grp")
    assert table.loc["a", "rows"] == 4
    assert table.loc["a", "weighted_mean_label"] == pytest.approx(3.0 / 4.0)
    assert table.loc["a", "mean_label"] == pytest.approx(2.0 / 3.0)
    assert table.loc["b", "weighted_mean_label"] == 0.0


def test_aggregate_of_a_missing_column_names_table_and_column(spark):
    frame = spark.createDataFrame([("a", 1.0)], "region string, charges double")
    params = load_params("reporting")["insurance"]["reporting"]
    with pytest.raises(ValueError, match=r"insurance.primary: aggregate 'charges_by_bmi_category' "
                                         r"needs column\(s\) \['bmi_category'\]"):
        build_aggregate_tables(frame, params)


def test_config_rejects_a_chart_of_an_unknown_column(insurance_params):
    bad = {**insurance_params, "charts": {**insurance_params["charts"],
                                          "bar": {"table": "charges_by_region", "x": "region",
                                                  "y": "median_charges", "title": "x"}}}
    with pytest.raises(ValueError, match="median_charges"):
        ReportingConfig.model_validate(bad)


def _write_tables(folder, tables):
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(folder / f"{name}.csv", index=False)


def test_manifests_point_to_the_csvs_and_validate(tmp_path, insurance_aggregates,
                                                 insurance_params):
    folder = tmp_path / "aggregates"
    _write_tables(folder, insurance_aggregates)
    dataset = QuickSightManifestDataset(path=str(folder), tables_path=str(folder))
    dataset.save(write_aggregate_manifests(insurance_aggregates, insurance_params))

    manifest = (folder / "charges_by_region.manifest.json").read_text()
    assert f'"file://{folder}/charges_by_region.csv"' in manifest
    assert '"containsHeader": "true"' in manifest and '"format": "CSV"' in manifest
    report = validate_aggregate_manifests(dataset.load(), insurance_params)
    assert report["valid"] and report["tables"] == 5
    assert all(entry["header_matches"] and entry["bytes"] > 0 for entry in report["files"])


@pytest.mark.parametrize("damage, message", [
    ("header", r"charges_by_age.csv header \['age', 'rows', 'avg'\] != expected"),
    ("empty", r"charges_by_age.csv is empty"),
    ("missing", r"charges_by_age.csv does not exist"),
])
def test_manifest_validation_names_the_file_and_the_rule(tmp_path, insurance_aggregates,
                                                        insurance_params, damage, message):
    folder = tmp_path / "aggregates"
    _write_tables(folder, insurance_aggregates)
    dataset = QuickSightManifestDataset(path=str(folder), tables_path=str(folder))
    dataset.save(write_aggregate_manifests(insurance_aggregates, insurance_params))
    target = folder / "charges_by_age.csv"
    if damage == "header":
        target.write_text("age,rows,avg\n18,3,1.0\n")
    elif damage == "empty":
        target.write_text("")
    else:
        target.unlink()
    with pytest.raises(ManifestError, match=message):
        validate_aggregate_manifests(dataset.load(), insurance_params)


def test_charts_are_bar_pie_and_line_of_the_configured_tables(insurance_aggregates,
                                                              insurance_params):
    bar, pie, line = plot_aggregate_charts(insurance_aggregates, insurance_params)
    assert [f.data[0].type for f in (bar, pie, line)] == ["bar", "pie", "scatter"]
    by_region = insurance_aggregates["charges_by_region"]
    assert list(bar.data[0].y) == pytest.approx(by_region["mean_charges"].tolist())
    # The pie follows the configured BMI order, not the alphabet.
    assert list(pie.data[0].labels)[:4] == ["underweight", "normal", "overweight", "obese"]
    assert list(line.data[0].x) == sorted(insurance_aggregates["charges_by_age"]["age"])


def _predictions(spark, rows):
    return spark.createDataFrame(rows, "id string, score double, risk_tier string, "
                                 "label double, survey_weight double, state string, "
                                 "model_name string, model_version string, "
                                 "scored_at timestamp, batch_id string")


def test_risk_tiers_describe_only_the_latest_scored_batch(spark):
    from datetime import datetime
    old, new = datetime(2026, 1, 1), datetime(2026, 2, 1)
    rows = [(f"o{i}", 0.9, "high", 1.0, 1.0, "AL", "m", "1", old, "b1") for i in range(5)]
    rows += [("n1", 0.1, "low", 0.0, 3.0, "AL", "m", "2", new, "b2"),
             ("n2", 0.2, "low", 0.0, 1.0, "AK", "m", "2", new, "b2"),
             ("n3", 0.7, "high", 1.0, 4.0, "AK", "m", "2", new, "b2")]
    params = load_params("reporting")["brfss"]["reporting"]
    table, figure = summarise_risk_tiers(_predictions(spark, rows), params)
    assert table["risk_tier"].tolist() == ["low", "high"]  # ordered by score
    assert table["rows"].tolist() == [2, 1]
    assert table["weighted_share"].tolist() == pytest.approx([0.5, 0.5])
    assert table["observed_rate"].tolist() == [0.0, 1.0]
    assert "b2" in figure.layout.title.text

    empty, message = summarise_risk_tiers(None, params)
    assert empty.empty and "no scored batch" in message.layout.annotations[0].text


def test_html_report_is_self_contained_and_embeds_every_figure():
    import re

    from health_risk.pipelines.reporting import sections as blocks
    from health_risk.pipelines.reporting.charts import bar_figure
    from health_risk.pipelines.reporting.nodes import render_html_report

    section = {
        "kind": "study", "study": "s", "title": "S <study>", "key_figures": [
            blocks.key_figure("rows", 1234)],
        "overview": {"study": "s", "task": "classification", "rows_read": 10,
                     "rows_quarantined": 1, "model": "m v1", "alias": "champion",
                     "test_metric": "roc_auc 0.800", "scored_with": None,
                     "batch_rows_scored": None, "batch_rows_quarantined": None,
                     "drifted_features": None},
        "groups": [{"title": "G", "blocks": [
            blocks.figure_block("bars", bar_figure(["a", "b"], [1.0, 2.0], "t", "x", "y")),
            blocks.image_block("png", b"\x89PNG fake"),
            blocks.table_block("table", pd.DataFrame({"a": [1.5, np.nan]})),
            blocks.text_block("text", "</script><b>escaped</b>"),
        ]}],
    }
    html = render_html_report({"title": "Report"}, section)
    assert '<meta name="health-risk-figures" content="1">' in html
    assert html.count('Plotly.newPlot("figure-') == 1 and "window.PlotlyGeoAssets" in html
    assert "data:image/png;base64," in html
    assert "S &lt;study&gt;" in html and "&lt;/script&gt;&lt;b&gt;escaped" in html
    # Offline: no attribute loads anything from outside the page.
    markup = re.sub(r"<script>.*?</script>", "", html, flags=re.DOTALL)
    assert "<script src" not in html and '<link rel="stylesheet"' not in html
    outside = re.findall(r'(?:src|href)="(?!data:|#)([^"]*)"', markup)
    assert outside == []
    assert "1,234" in html  # key figures formatted


def test_study_report_assembles_every_output_and_carries_its_population_estimates(
        insurance_params):
    from health_risk.pipelines.reporting.assembly import (
        assemble_study_report,
        build_features_group,
        build_model_card_group,
        build_monitoring_group,
        build_tuning_group,
        tabulate_logged_metrics,
    )
    from health_risk.pipelines.reporting.nodes import render_html_report

    overview = dict.fromkeys(["task", "rows_read", "rows_quarantined", "model", "alias",
                              "test_metric", "scored_with", "batch_rows_scored",
                              "batch_rows_quarantined", "drifted_features"])
    study = {"kind": "study", "study": "insurance", "title": "I", "task": "regression",
             "key_figures": [], "overview": {**overview, "study": "insurance"},
             "groups": [{"title": "Model", "blocks": []}]}
    population = {"kind": "population", "study": "insurance", "title": "I by area",
                  "key_figures": [], "groups": [{"title": "Population estimates",
                                                 "blocks": []}]}
    history = pd.DataFrame({"step": [0, 0, 1], "metric": ["rows_in", "psi", "rows_in"],
                            "value": [10.0, 0.1, 12.0], "timestamp": [1, 1, 2]})
    metric_table = tabulate_logged_metrics(
        {"rmse": {"value": 1.0, "step": 0}}, {"rmse": {"value": 2.0, "step": 0}},
        {"rmse_mean": {"value": 5000.0, "step": 0}}, {"promoted": {"value": 1.0, "step": 0}},
        None, None, None)
    section = assemble_study_report(
        study,
        build_model_card_group("# Model card: m version 1", insurance_params),
        build_features_group(
            {"unmatched_joins": [{"table": "census", "left_on": "_state", "rows_unmatched": 3,
                                  "unmatched_keys": {"72": 3}}],
             "excluded_rows_by_reason": {"target_missing": 4}},
            pd.DataFrame({"feature": ["age"], "mutual_information": [0.2]})),
        build_tuning_group(
            {"performed": True, "rows": 900, "method": "2 x 5-fold", "summary": {
                "rmse": {"mean": 5000.0, "sd": 120.0}}},
            pd.DataFrame({"candidate": ["linear"]}), pd.DataFrame({"bin": [1]})),
        build_monitoring_group(None, history, metric_table, insurance_params),
        population_section=population)
    titles = [group["title"] for group in section["groups"]]
    assert titles == ["Model", "Model card", "Features", "Tuning and calibration",
                      "Monitoring"]
    monitoring = {b["title"]: b for b in section["groups"][-1]["blocks"]}
    logged = monitoring["Metrics logged to MLflow"]
    assert [row[:3] for row in logged["rows"]] == [["validation", "rmse", 1.0],
                                                    ["test", "rmse", 2.0],
                                                    ["cv", "rmse_mean", 5000.0],
                                                    ["gate", "promoted", 1.0]]
    tuning = {b["title"]: b for b in section["groups"][3]["blocks"]}
    assert tuning["Cross-validated estimate (train + validation)"]["rows"] == [
        ["rmse", 5000.0, 120.0]]
    assert monitoring["Monitoring history (one step per scored batch)"]["columns"] == [
        "step", "psi", "rows_in"]
    joins = {b["title"]: b for b in section["groups"][2]["blocks"]}["Reference-table joins"]
    assert joins["rows"] == [["census", "_state", 3, "72"]]
    assert section["population"] is population
    html = render_html_report({"title": "Report"}, section)
    assert 'id="population-insurance"' in html and 'id="study-insurance"' in html
    assert "# Model card: m version 1" in html


def test_a_refused_synthetic_batch_says_what_was_published_and_why(insurance_params):
    from health_risk.pipelines.reporting.assembly import build_monitoring_group

    refused = {"batch_id": "insurance-1", "rows": 150, "accepted": False, "published_rows": 0,
               "decision": "refused: 2 rows copy a rare real record. Nothing of batch "
                           "insurance-1 was published",
               "quality": {"score": 0.81},
               "privacy": {"exact_copies": 9, "rare_record_copies": 2,
                           "distance_to_closest_record": {
                               "median_dcr_synthetic_to_training": 0.12,
                               "median_dcr_holdout_to_training": 0.1}}}
    group = build_monitoring_group(refused, pd.DataFrame(), pd.DataFrame(), insurance_params)
    block = group["blocks"][0]
    row = dict(zip(block["columns"], block["rows"][0], strict=True))
    assert row["accepted"] is False and row["published_rows"] == 0
    assert row["rare_record_copies"] == 2 and row["exact_copies"] == 9
    assert row["median_dcr_synthetic"] == 0.12 and row["median_dcr_holdout"] == 0.1
    assert block["note"].startswith("refused: 2 rows copy a rare real record")
