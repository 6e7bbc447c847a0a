"""Trends of the population template (pipelines/reporting/trends.py and its nodes): the trend
nodes run as a pipeline slice on a catalog built in the test (the CSV, its QuickSight manifest
and the check of it, the chart, the report's group), the population section and the HTML page
with them, one year only, no trend configured, and the configuration checks."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import CSVDataset
from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType

from health_risk.datasets import QuickSightManifestDataset
from health_risk.pipelines.reporting.config import ReportingConfig
from health_risk.pipelines.reporting.manifest import ManifestError
from health_risk.pipelines.reporting.nodes import (
    build_population_section,
    build_trend_group,
    estimate_trends,
    plot_trends,
    render_html_report,
    validate_trend_manifest,
)
from health_risk.pipelines.reporting.trends import NATIONAL_LABEL, trend_table_columns

from ...committed_config import committed_params
from ...core.test_survey_trends import _survey

SCHEMA = StructType([StructField("_state", IntegerType()), StructField("state", StringType()),
                     StructField("_survey_year", IntegerType()),
                     StructField("_ststr", DoubleType()), StructField("_psu", DoubleType()),
                     StructField("survey_weight", DoubleType()),
                     StructField("label", DoubleType())])
TREND_NODES = ("estimate_trends", "write_trend_manifest", "validate_trend_manifest",
               "plot_trends", "build_trend_group")


def _params(trend: dict | None = None) -> dict:
    params = copy.deepcopy(committed_params("reporting")["brfss"]["reporting"])
    population = params["population"]
    population.pop("trend", None)
    if trend is not None:
        population["trend"] = trend
    return params


@pytest.fixture(scope="module")
def params():
    return _params({"year": "_survey_year"})


@pytest.fixture(scope="module")
def population(params):
    return ReportingConfig.model_validate(params).population


@pytest.fixture(scope="module")
def primary(spark):
    frame = _survey()  # three years, four states, stratum codes repeated across years
    return spark.createDataFrame(frame.astype(object).where(frame.notna(), None), SCHEMA)


class Kept(MemoryDataset):
    def _release(self) -> None:  # keep in-memory outputs readable after the run
        pass


def _trend_slice():
    from health_risk.pipelines.reporting.pipeline import population_template

    class Brfss:  # what the template reads of a registry entry
        references = ("census",)

    template = population_template(Brfss)
    return template.only_nodes(*TREND_NODES)


@pytest.fixture(scope="module")
def ran(primary, params, tmp_path_factory):
    """The trend nodes of the population template run by Kedro's runner: the CSV and its
    manifest on disk (as the catalog declares them), the rest in memory."""
    folder = tmp_path_factory.mktemp("trends")
    pipeline = _trend_slice()
    catalog = DataCatalog(datasets={
        "primary": MemoryDataset(primary, copy_mode="assign"),
        "params:reporting": MemoryDataset(params),
        "trend_estimates": CSVDataset(filepath=str(folder / "trend_estimates.csv"),
                                      save_args={"index": False}),
        "trend_manifest": QuickSightManifestDataset(path=str(folder), tables_path=str(folder)),
        **{name: Kept() for name in ("trend_manifest_validation", "trend_chart",
                                     "section_trends")}})
    assert pipeline.inputs() == {"primary", "params:reporting"}
    SequentialRunner().run(pipeline, catalog)
    return folder, catalog


def test_the_trend_table_is_written_with_a_validated_manifest(ran, population, params):
    folder, catalog = ran
    table = pd.read_csv(folder / "trend_estimates.csv")
    assert list(table.columns) == trend_table_columns(population)
    assert list(table["kind"].drop_duplicates()) == ["yearly", "pooled", "change"]
    counts = table["kind"].value_counts()
    # 3 national years + 11 state-years (AR not in 2021); 4 states + nation pooled and changed.
    assert (counts["yearly"], counts["pooled"], counts["change"]) == (14, 5, 5)
    yearly = table[table["kind"] == "yearly"]
    assert yearly["year"].dtype == np.int64 or yearly["year"].eq(yearly["year"].round()).all()
    national = table[table["scope"] == "national"]
    assert national["state"].isna().all() and national["_state"].isna().all()
    # Area codes as the zero-padded text the map uses (numbers again when read back).
    assert set(table["_state"].dropna()) == {1, 2, 4, 5}
    assert sorted(catalog.load("trend_estimates")["_state"].dropna().unique()) == [1, 2, 4, 5]
    survey = _survey()
    answered = survey[(survey["state"] == "AL") & survey["y"].notna() & (survey["w"] > 0)]
    expected = answered.groupby("year").apply(lambda f: (f["w"] * f["y"]).sum() / f["w"].sum(),
                                              include_groups=False)
    al = yearly[yearly["state"] == "AL"].sort_values("year")
    assert al["weighted"].to_numpy() == pytest.approx(expected.to_numpy(), rel=1e-9)
    assert (al["se"] > 0).all() and (al["reliability"] != "").all()
    change = table[(table["kind"] == "change") & (table["scope"] == "national")].iloc[0]
    assert (change["first_year"], change["last_year"]) == (2021, 2023)
    assert 0 <= change["p_value"] <= 1 and change["ci_low"] < change["weighted"]

    manifest = (folder / "trend_estimates.manifest.json").read_text()
    assert f'"file://{folder}/trend_estimates.csv"' in manifest
    validation = catalog.load("trend_manifest_validation")
    assert validation["valid"] and validation["files"][0]["header_matches"]
    table.drop(columns=["p_value"]).to_csv(folder / "trend_estimates.csv", index=False)
    dataset = QuickSightManifestDataset(path=str(folder), tables_path=str(folder))
    with pytest.raises(ManifestError, match="(?s)trend estimates.*trend_estimates.csv header"):
        validate_trend_manifest(dataset.load(), params)
    table.to_csv(folder / "trend_estimates.csv", index=False)


def test_the_chart_has_a_series_per_area_and_nationally_with_interval_bands(ran):
    figure = ran[1].load("trend_chart")
    menu = figure.layout.updatemenus[0].buttons
    assert [b.label for b in menu] == [NATIONAL_LABEL, "AK", "AL", "AR", "AZ"]
    # A grey national reference, then per series: band top, band bottom (filled), line, pooled.
    assert len(figure.data) == 1 + 4 * 5
    line = figure.data[3]
    assert list(line.x) == [2021, 2022, 2023] and line.visible is True
    assert figure.data[2].fill == "tonexty"
    assert all(high >= mid for high, mid in zip(figure.data[1].y, line.y, strict=True))
    # Picking AL shows its four traces and the national reference, nothing else.
    visible = menu[2].args[0]["visible"]
    assert visible[0] is True and sum(visible) == 5 and all(visible[9:13])
    ar = figure.data[1 + 3 * 4 + 2]  # AR's line: no 2021
    assert list(ar.x) == [2022, 2023]
    assert figure.layout.xaxis.tickvals == (2021, 2022, 2023)


def test_the_population_section_gets_a_trends_group(ran, params):
    group = ran[1].load("section_trends")
    assert group["title"] == "Trends"
    found = {block["title"]: block for block in group["blocks"]}
    national = found["National series (3 years: 2021, 2022, 2023)"]
    periods = [row[0] for row in national["rows"]]
    assert periods == ["2021", "2022", "2023", "2021-2023 pooled", "change 2021 to 2023"]
    assert "year-specific" in national["note"] and "survey-weighted" in national["note"]
    assert "CDC's adjustment" in national["note"]
    change = found["Change by state, 2021 to 2023"]
    rows = {row[0]: dict(zip(change["columns"], row, strict=True)) for row in change["rows"]}
    assert rows["AR"]["2021"] == "no respondents"
    assert rows["AR"]["change (95% CI), p"] == "no respondents in 2021"
    assert " pp (" in rows["AL"]["change (95% CI), p"]
    assert found["QuickSight manifest (trends)"]["text"].startswith("1 manifest validated")

    summary = {"observed": {}, "predicted": {}, "areas": 4, "scored_batch": {},
               "method": "How.", "reliability": {}}
    section = build_population_section(pd.DataFrame(columns=["state"]), summary,
                                       {"fitted": False, "reason": "none"}, {},
                                       ran[1].load("trend_chart"),
                                       {"tables": 1, "checked_at": "now"}, params, group)
    assert [g["title"] for g in section["groups"]] == ["Population estimates", "Trends"]
    html = render_html_report({"title": "Report"}, section)
    assert "National series (3 years" in html and html.count('Plotly.newPlot("figure-') == 2


def test_one_year_shows_the_year_and_says_there_is_no_change(primary, params):
    table = estimate_trends(primary.filter(primary["_survey_year"] == 2023), params)
    assert set(table["kind"]) == {"yearly", "pooled"} and set(table["year"].dropna()) == {2023}
    pooled, yearly = (table[table["kind"] == kind].set_index("state", drop=False)
                      for kind in ("pooled", "yearly"))
    assert pooled["weighted"].to_numpy() == pytest.approx(yearly["weighted"].to_numpy())
    figure = plot_trends(table, params)
    assert figure.data[3].error_y.array is not None  # one point: error bars, not a band
    group = build_trend_group(table, figure, {"tables": 1, "checked_at": "now"}, params)
    found = {block["title"]: block for block in group["blocks"]}
    assert "One data year only (2023)" in found[
        "Change between the first and the last year"]["text"]
    assert [row[0] for row in found["National series (1 year: 2023)"]["rows"]] == [
        "2023", "2023-2023 pooled"]


def test_without_a_trend_block_the_table_is_its_header_and_the_report_says_so(primary):
    params = _params()
    population = ReportingConfig.model_validate(params).population
    table = estimate_trends(primary.drop("_survey_year"), params)  # no Spark job
    assert table.empty and list(table.columns) == trend_table_columns(population)
    figure = plot_trends(table, params)
    assert "no trend configured" in figure.layout.annotations[0].text
    group = build_trend_group(table, figure, {"tables": 1, "checked_at": "now"}, params)
    assert "reporting.population.trend is not set" in group["blocks"][0]["text"]


def test_a_missing_year_column_is_named_before_any_spark_job(primary, params):
    from health_risk.core.errors import DataQualityError

    with pytest.raises(DataQualityError, match=r"\['_survey_year'\].*data year"):
        estimate_trends(primary.drop("_survey_year"), params)


def test_the_trend_block_is_validated_before_the_run():
    from health_risk.core.errors import ParameterError
    from health_risk.framework.validation import validate_parameters

    from ...committed_config import committed_registry

    registry = committed_registry()
    for trend, message in [
            ({"year": "_survey_year", "pooled_weighting": "mean"}, "pooled_weighting"),
            ({"year": "_survey_year", "window": 5}, "trend.window"),
            ({"pooled_weighting": "equal"}, "trend.year")]:
        params = committed_params()
        params["brfss"]["reporting"]["population"]["trend"] = trend
        with pytest.raises(ParameterError, match=message):
            validate_parameters(params, registry)
    params = committed_params()
    population = params["brfss"]["reporting"]["population"]
    population["trend"] = {"year": "_survey_year"}
    validate_parameters(params, registry)
    del population["psu"]
    with pytest.raises(ParameterError, match="trend: the yearly standard errors are design"):
        validate_parameters(params, registry)
