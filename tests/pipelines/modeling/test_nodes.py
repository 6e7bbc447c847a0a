"""Unit tests of the modeling nodes on a small synthetic feature table."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from pydantic import ValidationError
from pyspark.ml.feature import ImputerModel
from pyspark.sql import functions as F
from sklearn.metrics import roc_auc_score

from health_risk.core.errors import DataQualityError
from health_risk.core.estimators import expanded_feature_names
from health_risk.core.modeling_config import ModelingConfig
from health_risk.core.scoring import collect_scores
from health_risk.pipelines.modeling import nodes
from health_risk.pipelines.modeling.evaluation import (
    choose_threshold,
    classification_metrics,
    reliability_curve,
)
from health_risk.pipelines.modeling.promotion import CHAMPION, decide_promotion, prune_versions

from .toy_features import feature_spec, modeling_params

SPEC = feature_spec("classification")
PARAMS = modeling_params("classification")


@pytest.fixture(scope="module")
def model_input(classification_features):
    return nodes.build_model_input(classification_features, SPEC, PARAMS).cache()


@pytest.fixture(scope="module")
def trained(model_input):
    return nodes.train_candidates(model_input, SPEC, PARAMS)


@pytest.fixture(scope="module")
def calibrated(trained, model_input):
    return nodes.calibrate_and_choose_threshold(trained[0], model_input, SPEC, PARAMS)


def test_model_input_keeps_the_stratified_split_of_the_feature_table(classification_features,
                                                                     model_input):
    shares = {(r["split"], r["label"]): r["count"]
              for r in model_input.groupBy("split", "label").count().collect()}
    for label in (0.0, 1.0):
        total = sum(v for (s, lab), v in shares.items() if lab == label)
        assert abs(shares[("train", label)] / total - 0.6) < 0.01
        assert abs(shares[("validation", label)] / total - 0.2) < 0.01
    # Modeling reads the split feature engineering assigned; it does not recompute it.
    assert sorted(map(tuple, classification_features.select("id", "split").collect())) == \
        sorted(map(tuple, model_input.select("id", "split").collect()))
    assert model_input.select("id").distinct().count() == model_input.count()


def test_a_feature_table_without_its_split_is_refused(classification_features):
    with pytest.raises(DataQualityError, match=r"toy: the features table has no 'split' "
                                               r"column.*--pipelines feature_engineering"):
        nodes.build_model_input(classification_features.drop("split"), SPEC, PARAMS)


def test_class_weights_balance_the_training_split(model_input):
    train = model_input.filter("split = 'train'")
    totals = {r["label"]: r["w"] for r in train.groupBy("label")
              .agg(F.sum("class_weight").alias("w")).collect()}
    assert totals[0.0] == pytest.approx(totals[1.0], rel=1e-6)


def test_best_candidate_wins_on_validation_and_every_trial_is_reported(trained):
    _, summary, winner = trained
    assert len(summary) == 3  # 2 linear trials + 1 random forest trial
    best = max(winner["candidates"].values())
    assert winner["validation_roc_auc"] == best
    assert summary["best_of_candidate"].sum() == 2
    # Every candidate ran its planned trials; the safety cap cut nothing.
    assert winner["trials"] == {"linear": 2, "random_forest": 1}
    assert winner["tuning"]["cut_by_time"] is False
    assert winner["tuning"]["max_seconds"] == 900
    assert winner["tuning"]["candidates"] == {
        "linear": {"trials": 2, "planned": 2, "cut_by_time": False},
        "random_forest": {"trials": 1, "planned": 1, "cut_by_time": False}}


def test_a_reached_safety_cap_still_fits_one_trial_per_candidate(model_input):
    """The study's cap is shared by its candidates in turn: once reached, each candidate
    still runs its first trial, so all are compared, and the cut is reported."""
    params = modeling_params("classification")
    params["candidates"]["linear"]["n_trials"] = 50
    params["tuning"] = {**params.get("tuning", {}), "max_seconds": 0.01}
    _, summary, winner = nodes.train_candidates(model_input, SPEC, params)
    assert len(summary) == 2
    assert winner["trials"] == {"linear": 1, "random_forest": 1}
    assert winner["tuning"]["cut_by_time"] is True
    assert winner["tuning"]["candidates"]["linear"] == {"trials": 1, "planned": 50,
                                                        "cut_by_time": True}
    # random_forest planned one trial and ran it: nothing of it was cut.
    assert winner["tuning"]["candidates"]["random_forest"]["cut_by_time"] is False


def test_fixed_parameters_win_over_the_search_space(model_input):
    params = modeling_params("classification", candidates_to_run="linear")
    params["candidates"]["linear"]["fixed"]["regParam"] = 0.05
    _, summary, winner = nodes.train_candidates(model_input, SPEC, params)
    assert winner["params"]["regParam"] == 0.05
    assert set(summary["candidate"]) == {"linear"}


def test_preprocessing_is_fitted_on_the_training_split_only(trained, model_input):
    imputer = next(s for s in trained[0].stages if isinstance(s, ImputerModel))
    learned = imputer.surrogateDF.collect()[0]["bmi"]
    train_bmi = model_input.filter("split = 'train' and bmi is not null").select("bmi")
    all_bmi = model_input.filter("bmi is not null").select("bmi")
    train_median = float(np.median([r[0] for r in train_bmi.collect()]))
    assert learned == pytest.approx(train_median, abs=0.2)
    assert train_bmi.count() < all_bmi.count()


def test_only_declared_features_reach_the_feature_vector(trained):
    names = expanded_feature_names(trained[0], SPEC["numeric_features"],
                                   SPEC["categorical_features"])
    owners = {n.split("=", 1)[0] for n in names}
    assert owners == {"age", "bmi", "smoking", "region"}
    assert not owners & {"label", "id", "survey_weight", "sex", "age_group"}


def test_threshold_is_chosen_on_validation_only(trained, model_input, calibrated):
    flipped = model_input.withColumn(
        "label", F.when(F.col("split") == "test", 1.0 - F.col("label")).otherwise(F.col("label")))
    _, again = nodes.calibrate_and_choose_threshold(trained[0], flipped, SPEC, PARAMS)
    assert again["threshold"] == calibrated[1]["threshold"]
    assert calibrated[1]["chosen_on"] == "validation"


def test_auc_is_computed_from_probabilities_not_labels(calibrated, model_input):
    final, calibration = calibrated
    report = nodes.evaluate_model(final, model_input, SPEC, calibration, PARAMS)[2]
    scores = collect_scores(final, model_input.filter("split = 'test'"), "classification",
                            ["label"])
    assert report["test"]["roc_auc"] == pytest.approx(roc_auc_score(scores.label, scores.score))
    hard = roc_auc_score(scores.label, scores.score >= calibration["threshold"])
    assert report["test"]["roc_auc"] != pytest.approx(hard)


def test_evaluation_outputs_subgroups_with_counts(calibrated, model_input):
    outputs = nodes.evaluate_model(*calibrated[:1], model_input, SPEC, calibrated[1], PARAMS)
    validation, test, report, curve, subgroups = outputs[:5]
    assert set(test) >= {"roc_auc", "pr_auc", "log_loss", "brier", "f1"}
    assert all(set(v) == {"value", "step"} for v in validation.values())
    assert set(subgroups["subgroup"]) == {"sex", "age_group"}
    assert subgroups["rows"].sum() == 2 * report["test"]["rows"]
    assert curve["rows"].sum() == report["test"]["rows"]
    # Subgroup AUCs carry their own bootstrap interval, around the point value.
    measured = subgroups.dropna(subset=["roc_auc_ci_low"])
    assert len(measured) > 0
    assert (measured.roc_auc_ci_low <= measured.roc_auc).all()
    assert (measured.roc_auc <= measured.roc_auc_ci_high).all()
    assert {"pr_auc_ci_low", "pr_auc_ci_high"} <= set(subgroups.columns)
    # Every headline test metric has its bootstrap interval, logged beside the point value.
    roc = report["test_intervals"]["roc_auc"]
    assert roc["low"] <= report["test"]["roc_auc"] <= roc["high"]
    assert {"roc_auc_ci_low", "roc_auc_ci_high", "f1_ci_low", "brier_ci_high"} <= set(test)
    assert "stratified by label" in report["interval_method"]
    # Survey-weighted metrics beside the unweighted ones (the toy table has a weight).
    assert {"weighted_roc_auc", "weighted_brier", "weighted_observed_prevalence"} <= set(test)
    assert report["test_by_area"] == []  # no area_column configured


def test_weighted_prevalence_by_area_on_the_test_split(calibrated, model_input):
    params = {**PARAMS, "area_column": "sex"}
    report = nodes.evaluate_model(*calibrated[:1], model_input, SPEC, calibrated[1], params)[2]
    by_area = {row["sex"]: row for row in report["test_by_area"]}
    assert sum(row["test_rows"] for row in by_area.values()) == report["test"]["rows"]
    assert all(0 <= row["observed_weighted"] <= 1 and 0 < row["predicted_weighted"] < 1
               for row in by_area.values())


def test_regression_study_reports_rmse_r2_and_no_threshold(regression_features):
    spec, params = feature_spec("regression"), modeling_params("regression")
    model_input = nodes.build_model_input(regression_features, spec, params).cache()
    model, _, _ = nodes.train_candidates(model_input, spec, params)
    final, calibration = nodes.calibrate_and_choose_threshold(model, model_input, spec, params)
    report = nodes.evaluate_model(final, model_input, spec, calibration, params)[2]
    assert calibration["threshold"] is None
    assert set(report["test"]) >= {"rmse", "mae", "r2", "mape"}
    assert report["test"]["r2"] > 0.5
    importance, _ = nodes.explain_model(final, model_input, spec, params)
    assert importance["feature"].iloc[0] == "age"


def test_shap_table_maps_back_to_feature_names(calibrated, model_input):
    importance, figure = nodes.explain_model(calibrated[0], model_input, SPEC, PARAMS)
    assert set(importance["feature"]) == {"age", "bmi", "smoking", "region"}
    assert importance["mean_abs_shap"].is_monotonic_decreasing
    assert figure is not None


def test_metric_helpers():
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0.1, 0.4, 0.35, 0.8, 0.9, 0.2])
    assert choose_threshold(y, p) == pytest.approx(0.35)
    assert choose_threshold(y, p, "recall_target", 2 / 3) == pytest.approx(0.8)
    metrics = classification_metrics(y, p, 0.5)
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert reliability_curve(y, p, 3)["rows"].tolist() == [2, 2, 2]


def test_config_rejects_bad_settings():
    with pytest.raises(ValidationError, match="unknown candidates"):
        ModelingConfig.model_validate(modeling_params("classification", candidates={"svm": {}}))
    with pytest.raises(ValidationError, match="primary_metric"):
        ModelingConfig.model_validate(modeling_params("regression", primary_metric="roc_auc"))
    with pytest.raises(ValidationError, match="no enabled candidate"):
        ModelingConfig.model_validate(modeling_params("classification", candidates_to_run="gbt"))


def test_gate_promotes_only_a_better_model_keeps_the_champion_and_prunes_old_versions(tmp_path, calibrated):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    config = ModelingConfig.model_validate(PARAMS)
    client.create_registered_model(config.registered_model_name)

    def new_version(auc: float) -> dict:
        version = client.create_model_version(config.registered_model_name, "file:///nowhere")
        client.set_model_version_tag(config.registered_model_name, version.version,
                                     "validation_roc_auc", str(auc))
        return {"model_name": config.registered_model_name, "version": version.version}

    try:
        first = decide_promotion(config, new_version(0.80), {"roc_auc": 0.80}, client)
        assert first["alias"] == CHAMPION
        weak = decide_promotion(config, new_version(0.55), {"roc_auc": 0.55}, client)
        assert weak["alias"] == "challenger" and len(weak["reasons"]) == 2
        assert client.get_model_version_by_alias(config.registered_model_name,
                                                 CHAMPION).version == int(first["version"])
        better = decide_promotion(config, new_version(0.85), {"roc_auc": 0.85}, client)
        assert better["promoted"] and better["previous_champion_version"] == str(first["version"])
        assert client.get_model_version_by_alias(config.registered_model_name,
                                                 CHAMPION).version == int(better["version"])

        # Retention: every alias and the newest N stay, even an old champion.
        name = config.registered_model_name
        for auc in (0.60, 0.61, 0.62):  # v4-v6: challengers (champion v3 stays)
            decide_promotion(config, new_version(auc), {"roc_auc": auc}, client)
        assert prune_versions(name, None, client) == []
        assert prune_versions(name, 2, client) == ["1", "2", "4"]
        assert sorted(int(v.version) for v in client.search_model_versions(
            f"name = '{name}'")) == [3, 5, 6]
        assert client.get_registered_model(name).aliases == {CHAMPION: 3, "challenger": 6}
        assert prune_versions(name, 1, client) == ["5"]
        assert prune_versions(name, 1, client) == []
    finally:
        mlflow.set_tracking_uri(None)


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_each_calibrator_travels_inside_the_model(trained, model_input, method):
    params = modeling_params("classification", calibration={"method": method})
    final, info = nodes.calibrate_and_choose_threshold(trained[0], model_input, SPEC, params)
    assert info["calibration"] == method
    assert len(final.stages) > len(trained[0].stages)
    scores = collect_scores(final, model_input.filter("split = 'validation'"), "classification",
                            ["label"])
    assert scores["score"].between(0, 1).all()
    # Calibrated on validation: the mean score is close to the observed rate there.
    assert abs(scores["score"].mean() - scores["label"].mean()) < 0.03


def test_auto_calibration_compares_cross_fitted_brier_scores(calibrated):
    brier = calibrated[1]["cross_fitted_brier"]
    assert set(brier) == {"uncalibrated", "isotonic", "platt"}
    chosen = calibrated[1]["calibration"]
    best = min(brier, key=brier.get)
    assert chosen == ("none" if best == "uncalibrated" else best)


def test_a_feature_without_any_value_is_refused_before_training(classification_features):
    blank = classification_features.withColumn("bmi", F.lit(None).cast("double"))
    with pytest.raises(ValueError, match=r"toy: feature\(s\) \['bmi'\] have no value in any "
                                         r"of the \d+ training rows.*feature_has_values"):
        nodes.build_model_input(blank, SPEC, PARAMS)


def test_small_studies_get_a_repeated_stratified_cross_validated_estimate(model_input, trained):
    winner = trained[2]
    params = {**PARAMS, "cross_validation": {"folds": 2, "repeats": 2, "seed": 5}}
    report, history = nodes.cross_validate_winner(model_input, SPEC, winner, params)
    assert report["performed"] and len(report["per_fold"]) == 4
    assert {(f["repeat"], f["fold"]) for f in report["per_fold"]} == {(0, 0), (0, 1), (1, 0),
                                                                      (1, 1)}
    roc = report["summary"]["roc_auc"]
    assert 0.5 < roc["mean"] <= 1.0 and roc["sd"] > 0
    assert history["roc_auc_mean"]["value"] == roc["mean"]
    skipped, nothing = nodes.cross_validate_winner(
        model_input, SPEC, winner, {**PARAMS, "cross_validation": {"max_rows": 10}})
    assert not skipped["performed"] and "max_rows 10" in skipped["reason"] and nothing == {}
