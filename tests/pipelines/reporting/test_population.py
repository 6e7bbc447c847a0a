"""Population estimates by area (pipelines/reporting/population.py and its nodes): direct
estimates with Korn-Graubard intervals and NCHS flags, the Fay-Herriot estimates beside them,
the published CSV with its manifest, the map and the report section. Small hand-made frames;
Spark only for the node that aggregates the primary table."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from health_risk.core.small_area import fit_fay_herriot
from health_risk.core.survey_design import korn_graubard
from health_risk.datasets import QuickSightManifestDataset
from health_risk.pipelines.reporting.config import ReportingConfig
from health_risk.pipelines.reporting.manifest import ManifestError
from health_risk.pipelines.reporting.nodes import (
    build_population_section,
    estimate_area_prevalence,
    estimate_small_areas,
    plot_area_map,
    validate_area_manifest,
    write_area_manifest,
)
from health_risk.pipelines.reporting.population import (
    DIRECT,
    PREDICTED_COLUMNS,
    area_table_columns,
    direct_columns,
)

from ..study_tables import load_params


@pytest.fixture(scope="module")
def params():
    return load_params("reporting")["brfss"]["reporting"]


@pytest.fixture(scope="module")
def population(params):
    return ReportingConfig.model_validate(params).population


def _predictions(spark, rows):
    return spark.createDataFrame(rows, "id string, score double, risk_tier string, "
                                 "label double, survey_weight double, state string, "
                                 "model_name string, model_version string, "
                                 "scored_at timestamp, batch_id string")


def test_direct_estimates_carry_korn_graubard_intervals_and_nchs_flags(spark, params,
                                                                        population):
    primary = spark.createDataFrame(
        [(1, "AL", 1.0, 1.0, 15.0, 11.0, 1.0), (1, "AL", 0.0, 3.0, 15.0, 11.0, 2.0),
         (1, "AL", None, 9.0, 15.0, 11.0, 2.0), (2, "AK", 1.0, 2.0, 10.0, 21.0, 1.0),
         (2, "AK", 1.0, 2.0, 10.0, 21.0, 2.0)],
        "_state int, state string, label double, survey_weight double, state_poverty_pct double,"
        " _ststr double, _psu double")
    rows = [("n1", 0.2, "low", None, 1.0, "AL", "m", "3", datetime(2026, 2, 1), "b2"),
            ("n2", 0.6, "high", None, 3.0, "AL", "m", "3", datetime(2026, 2, 1), "b2"),
            ("o1", 0.9, "high", None, 1.0, "AL", "m", "2", datetime(2026, 1, 1), "b1")]
    table, summary = estimate_area_prevalence(primary, _predictions(spark, rows), params)
    assert list(table.columns) == [*direct_columns(population), *PREDICTED_COLUMNS,
                                   "state_poverty_pct"]
    al = table.set_index("state").loc["AL"]
    assert al["_state"] == "01" and al["respondents"] == 2  # the unanswered row is out
    assert al[DIRECT] == pytest.approx(0.25)  # (1*1 + 3*0) / 4
    assert al["observed_unweighted"] == pytest.approx(0.5)
    assert al["kish_effective_n"] == pytest.approx(16 / 10)
    # Design-based: AL has one stratum with two PSUs of one answered respondent each, so
    # z = w (y - 0.25) / 4 per PSU = (0.1875, -0.1875) and V = 2/1 * 2 * 0.1875^2; df = 2 - 1.
    variance = 2 * 2 * 0.1875 ** 2
    assert al["design_se"] == pytest.approx(variance ** 0.5)
    assert al["degrees_of_freedom"] == 1
    kg = korn_graubard([0.25], [variance], [2], [1]).iloc[0]
    assert [al["observed_weighted_ci_low"], al["observed_weighted_ci_high"]] == pytest.approx(
        [kg["ci_low"], kg["ci_high"]])
    assert al["effective_n"] == pytest.approx(0.25 * 0.75 / variance)
    assert al["reliability"] == "suppress"
    assert "effective n" in al["reliability_reason"] and "degrees of freedom 1 < 8" in \
        al["reliability_reason"]
    ak = table.set_index("state").loc["AK"]
    assert ak[DIRECT] == 1.0 and ak["effective_n"] == 2  # p = 1: the sample size
    assert ak["observed_weighted_ci_high"] == 1.0 and "estimate is 1" in ak["reliability_reason"]
    assert al["predicted_weighted"] == pytest.approx((0.2 + 3 * 0.6) / 4)  # batch b2 only
    assert np.isnan(ak["predicted_weighted"])
    assert summary["observed"][DIRECT] == pytest.approx((1 + 2 + 2) / 8)
    assert summary["observed"]["reliability"] == "suppress"
    assert summary["reliability"]["suppress"] == ["AK", "AL"]
    assert summary["scored_batch"]["batch_id"] == "b2"
    assert "Korn-Graubard" in summary["method"] and "Fay-Herriot" in summary["method"]

    no_batch, no_summary = estimate_area_prevalence(primary, None, params)
    assert no_batch["predicted_weighted"].isna().all() and no_summary["scored_batch"] == {}


# --- the area model -----------------------------------------------------------------------------
POSTAL = ["AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL"]
FIPS = [1, 2, 4, 5, 6, 8, 9, 10, 11, 12, 13, 15, 16, 17]


def _census(spark):
    """A SAIPE-like reference table: 14 states and the national row (state_fips 0, which the
    configuration excludes), poverty % and median income."""
    rng = np.random.default_rng(8)
    return spark.createDataFrame(
        [(fips, code, float(rng.uniform(8, 22)), float(rng.uniform(50_000, 95_000)))
         for fips, code in zip([*FIPS, 0], [*POSTAL, "US"], strict=True)],
        "state_fips int, postal_code string, poverty_pct_all_ages double, "
        "median_household_income double")


def _direct(population, census: pd.DataFrame) -> pd.DataFrame:
    """Direct estimates for the first 12 states (the last two have no respondents) and
    Guam, which the reference table does not have; AZ has fewer respondents than the minimum."""
    rng = np.random.default_rng(9)
    states = census.iloc[:12]
    respondents = rng.integers(40, 400, len(states))
    respondents[2] = population.small_area.min_respondents - 1  # AZ
    p = np.clip(0.02 + 0.01 * states["poverty_pct_all_ages"].to_numpy()
                + rng.normal(0, 0.03, len(states)), 0.05, 0.6)
    se = np.sqrt(p * (1 - p) / respondents * 1.5)
    frame = pd.DataFrame({"_state": [f"{c:02d}" for c in states["state_fips"]] + ["66"],
                          "state": [*states["postal_code"], "GU"],
                          "respondents": [*respondents, 60], DIRECT: [*p, 0.2],
                          "observed_weighted_se": [*se, 0.05]})
    kg = korn_graubard(frame[DIRECT], frame["observed_weighted_se"] ** 2,
                       frame["respondents"], frame["respondents"] - 2)
    frame = frame.assign(
        weighted_population=frame["respondents"] * 900.0, observed_unweighted=frame[DIRECT],
        observed_weighted_ci_low=kg["ci_low"], observed_weighted_ci_high=kg["ci_high"],
        observed_weighted_cv=frame["observed_weighted_se"] / frame[DIRECT],
        effective_n=kg["effective_n"], kish_effective_n=frame["respondents"] * 0.8,
        degrees_of_freedom=frame["respondents"] - 2, design_se=frame["observed_weighted_se"],
        singleton_strata=0, reliability="reliable", reliability_reason="",
        predicted_rows=np.nan, predicted_unweighted=np.nan, predicted_weighted=np.nan,
        state_poverty_pct=np.nan)
    frame.loc[0, ["reliability", "reliability_reason"]] = ["suppress", "effective n 12.0 < 30"]
    return frame[[*direct_columns(population), *PREDICTED_COLUMNS, "state_poverty_pct"]]


@pytest.fixture(scope="module")
def estimated(spark, params, population):
    census = _census(spark)
    direct = _direct(population, census.toPandas())
    table, report, metrics = estimate_small_areas(direct, params, census=census)
    return direct, census.toPandas(), table, report, metrics


def test_the_model_based_estimates_sit_beside_the_direct_ones_for_every_area(estimated,
                                                                              population):
    direct, census, table, report, metrics = estimated
    assert list(table.columns) == area_table_columns(population)
    by_state = table.set_index("state")
    # 12 with respondents, 2 without (census), Guam (no covariates); not the national row.
    assert len(by_state) == 15 and "US" not in by_state.index
    assert by_state["respondents"].dtype == int
    # Every area with respondents keeps its direct figures unchanged.
    kept = by_state.loc[direct["state"], DIRECT].to_numpy()
    assert kept == pytest.approx(direct[DIRECT].to_numpy())
    # In the model: at least the minimum of respondents; EBLUP as the core fit gives it.
    fitted = by_state[by_state["model_input"].astype(bool)]
    assert set(fitted.index) == set(POSTAL[:12]) - {"AZ"}
    census = census[census["state_fips"] > 0]
    census = census.assign(_state=[f"{c:02d}" for c in census["state_fips"]]).set_index("_state")
    keyed = direct.set_index("_state")
    usable = keyed["respondents"] >= population.small_area.min_respondents
    fit = fit_fay_herriot(keyed[DIRECT].where(usable), keyed["observed_weighted_se"] ** 2,
                          census[population.small_area.covariates])
    expected = fit.areas.set_index(census["postal_code"])
    assert by_state.loc[expected.index, "model_based"].to_numpy() == pytest.approx(
        expected["model_based"].to_numpy())
    assert by_state.loc[expected.index, "gamma"].to_numpy() == pytest.approx(
        expected["gamma"].to_numpy(), nan_ok=True)
    assert (fitted["model_based_kind"] == "EBLUP").all()
    assert ((fitted["model_based_rmse"] ** 2).to_numpy() == pytest.approx(
        fitted["model_based_mse"].to_numpy()))
    assert (fitted["model_based_ci_low"] < fitted["model_based"]).all()
    # No respondents (ID, IL: only in the reference) or too few (AZ): synthetic.
    for state in ("ID", "IL"):
        row = by_state.loc[state]
        assert row["model_based_kind"] == "synthetic" and row["respondents"] == 0, state
        assert row["reliability"] == "no respondents" and np.isnan(row[DIRECT])
        assert row["model_based"] == pytest.approx(row["synthetic"]) and np.isnan(row["gamma"])
    assert by_state.loc["AZ", "model_based_kind"] == "synthetic"
    assert by_state.loc["AZ", DIRECT] == pytest.approx(direct.set_index("state").loc["AZ",
                                                                                     DIRECT])
    assert by_state.loc["ID", "_state"] == "16"  # the reference's key, as area code text
    # Guam: respondents, but no covariates: no model-based estimate.
    assert np.isnan(by_state.loc["GU", "model_based"])
    assert pd.isna(by_state.loc["GU", "model_based_kind"])
    # The fitted model, for the report and MLflow.
    assert report["fitted"] and report["converged"] and report["areas_in_model"] == 11
    assert report["synthetic_areas"] == ["AZ", "ID", "IL"]
    assert report["areas_without_covariates"] == ["GU"]
    assert [c["term"] for c in report["coefficients"]] == [
        "intercept", "poverty_pct_all_ages", "median_household_income"]
    assert report["model_variance"] == pytest.approx(fit.model_variance)
    assert {"model_variance", "beta.intercept", "beta.poverty_pct_all_ages",
            "beta_se.median_household_income", "areas_in_model"} <= set(metrics)
    assert metrics["beta.poverty_pct_all_ages"] == {
        "value": pytest.approx(fit.coefficients.loc["poverty_pct_all_ages", "estimate"]),
        "step": 0}


def test_a_model_that_cannot_be_fitted_leaves_its_columns_empty_and_says_why(spark, params,
                                                                             population):
    census = _census(spark)
    direct = _direct(population, census.toPandas()).iloc[:4]
    table, report, metrics = estimate_small_areas(direct, params, census=census)
    assert list(table.columns) == area_table_columns(population)
    assert table["model_based"].isna().all() and not report["fitted"]
    assert "needs at least 5" in report["reason"] and metrics == {}
    with pytest.raises(ValueError, match="'census' is not one of the study's reference"):
        estimate_small_areas(direct, params)


def test_the_area_table_has_a_validated_quicksight_manifest(tmp_path, estimated, params,
                                                           population):
    table = estimated[2]
    folder = tmp_path / "population"
    folder.mkdir()
    table.to_csv(folder / "area_estimates.csv", index=False)
    dataset = QuickSightManifestDataset(path=str(folder), tables_path=str(folder))
    dataset.save(write_area_manifest(table, params))
    manifest = (folder / "area_estimates.manifest.json").read_text()
    assert f'"file://{folder}/area_estimates.csv"' in manifest
    report = validate_area_manifest(dataset.load(), params)
    assert report["valid"] and report["files"][0]["header_matches"]
    table.drop(columns=["gamma"]).to_csv(folder / "area_estimates.csv", index=False)
    with pytest.raises(ManifestError, match="area_estimates.csv header"):
        validate_area_manifest(dataset.load(), params)


def test_map_and_section_show_direct_and_model_based_side_by_side(tmp_path, estimated, params,
                                                                   population):
    _, _, table, report, metrics = estimated
    # As the next nodes read it: back from the CSV (area codes are numbers again).
    table.to_csv(tmp_path / "area.csv", index=False)
    table = pd.read_csv(tmp_path / "area.csv")
    boundaries = {"type": "FeatureCollection",
                  "features": [{"type": "Feature", "id": f"{c:02d}", "properties": {},
                                "geometry": None} for c in FIPS]}
    summary = {"observed": {"respondents": 2000, DIRECT: 0.2, "observed_weighted_ci_low": 0.18,
                            "observed_weighted_ci_high": 0.22, "observed_unweighted": 0.21},
               "predicted": {}, "areas": 13, "scored_batch": {}, "method": "How.",
               "reliability": {"suppress": ["AL"], "review": [], "reliable": []}}
    figure = plot_area_map(table, summary, boundaries, params)
    menu = [b["label"] for b in figure.layout.updatemenus[0].buttons]
    assert menu[:3] == ["Direct fair/poor health (survey-weighted, %; suppressed areas blank)",
                        "Model-based fair/poor health (Fay-Herriot, %)",
                        "CV of the model-based estimate (%)"]
    # Every area drawn grey underneath, the layer on top (the menu restyles trace 1 only).
    grey, layer = figure.data
    locations = list(layer.locations)
    assert list(grey.locations) == locations and set(grey.z) == {0.0}
    assert len(locations) == 14 and "66" not in locations  # Guam has no outline here
    assert all(list(button.args[2]) == [1] for button in figure.layout.updatemenus[0].buttons)
    direct_z = dict(zip(locations, layer.z, strict=True))
    assert direct_z["01"] is None  # AL is suppressed: grey
    model_z = dict(zip(locations, figure.layout.updatemenus[0].buttons[1].args[0]["z"][0],
                       strict=True))
    assert model_z["01"] == pytest.approx(100 * table.loc[table["state"] == "AL",
                                                          "model_based"].iloc[0])
    assert model_z["16"] is not None  # ID: no respondents, a synthetic estimate

    validation = {"tables": 1, "checked_at": "now"}
    section = build_population_section(table, summary, report, metrics, figure, validation,
                                       params)
    blocks = {b["title"]: b for b in section["groups"][0]["blocks"]}
    shown = blocks["Estimates by state: direct and model-based"]
    assert shown["columns"] == ["state", "respondents", "direct (95% KG CI)", "NCHS flag",
                                "model-based ± rMSE (pp)", "kind", "gamma", "CV (model-based)",
                                "predicted (weighted)", "why flagged"]
    rows = {row[0]: dict(zip(shown["columns"], row, strict=True)) for row in shown["rows"]}
    assert rows["AL"]["direct (95% KG CI)"] == "suppressed" and rows["AL"]["kind"] == "EBLUP"
    assert rows["AL"]["model-based ± rMSE (pp)"].endswith(tuple("0123456789"))
    assert rows["ID"]["direct (95% KG CI)"] == "no respondents"
    assert rows["ID"]["kind"] == "synthetic" and rows["ID"]["gamma"] is None
    assert rows["AK"]["direct (95% KG CI)"].endswith("%)")
    model = blocks["Fay-Herriot area model"]
    assert [row[0] for row in model["rows"]] == ["intercept", "poverty_pct_all_ages",
                                                 "median_household_income"]
    assert "small_area.model_variance" in model["note"]
    figures = {f["label"]: f["value"] for f in section["key_figures"]}
    assert figures["direct estimates suppressed (NCHS)"] == "1"
    assert figures["areas with the synthetic estimate only"] == "3"
