"""The exported model evaluated without Spark equals Spark's ``transform``: every candidate
family, both tasks, every calibrator, unseen and null categories, missing numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.ml import PipelineModel

from health_risk.core.columns import LABEL
from health_risk.core.estimators import expanded_feature_names, fit_configuration
from health_risk.core.scoring import collect_scores
from health_risk.core.serving.export import (
    NotPortableError,
    calibration_parameters,
    export_model,
    feature_vectors,
    preprocessing_parameters,
)
from health_risk.core.serving.runtime import Assembler, Estimator, calibrate, isotonic
from health_risk.pipelines.modeling.calibration import calibrator
from tests.pipelines.modeling.toy_features import CATEGORICAL, NUMERIC, feature_frame

# Probabilities: float64 runtimes (linear, preprocessing) are exact; float32 trees (ONNX) and
# xgboost margins stay within this.
TOLERANCE = 1e-6

FAST = {"linear": {"maxIter": 30, "regParam": 0.01},
        "random_forest": {"numTrees": 8, "maxDepth": 4, "seed": 1},
        "gbt": {"maxIter": 8, "maxDepth": 3, "seed": 1},
        "xgboost": {"n_estimators": 15, "max_depth": 3}}


@pytest.fixture(scope="module")
def toy(spark):
    def build(task: str):
        frame = feature_frame(500, task, seed=11)
        # Unseen and null levels and a missing number reach the scorer as they reach Spark.
        frame.loc[0, "smoking"] = "vaping"
        frame.loc[1, "region"] = None
        frame.loc[2, "bmi"] = np.nan
        frame["class_weight"] = 1.0
        return frame, spark.createDataFrame(frame).cache()
    return {task: build(task) for task in ("classification", "regression")}


@pytest.fixture(scope="module")
def fitted(toy):
    """Each (task, family) fitted once for the module: the fits are most of its time."""
    cache: dict[tuple[str, str], PipelineModel] = {}

    def fit(task: str, family: str) -> PipelineModel:
        if (task, family) not in cache:
            cache[task, family] = fit_configuration(toy[task][1], family, task, FAST[family],
                                                    NUMERIC, CATEGORICAL, False, 1)
        return cache[task, family]
    return fit


@pytest.fixture(scope="module")
def exported(toy, fitted):
    """Each fitted model exported once (a tree model's ONNX conversion saves it through the
    JVM: seconds each)."""
    cache: dict[tuple[str, str], tuple[dict, dict]] = {}

    def export(task: str, family: str) -> tuple[dict, dict]:
        if (task, family) not in cache:
            cache[task, family] = export_model(fitted(task, family), task, NUMERIC, CATEGORICAL,
                                               toy[task][1])
        return cache[task, family]
    return export


def _portable_scores(exported_model: tuple[dict, dict], task: str, frame: pd.DataFrame):
    spec, files = exported_model
    estimator = Estimator(spec["estimator"], files, task, spec["feature_means"])
    matrix = Assembler(spec["preprocessing"])(frame[NUMERIC + CATEGORICAL])
    estimate = estimator.estimate(matrix, explain=True)
    return spec, matrix, estimate, calibrate(estimator, estimate, spec["calibration"])


def _spark_scores(model: PipelineModel, df, task: str) -> np.ndarray:
    return collect_scores(model, df, task, ["id"])["score"].to_numpy()


@pytest.mark.parametrize("family", ["linear", "random_forest"])  # scaled and not
def test_assembled_features_equal_spark_vectors(toy, fitted, family):
    frame, df = toy["classification"]
    model = fitted("classification", family)
    prep = preprocessing_parameters(model.stages[:-1], NUMERIC, CATEGORICAL)
    matrix = Assembler(prep)(frame[NUMERIC + CATEGORICAL])
    np.testing.assert_allclose(matrix, feature_vectors(model, df), rtol=0, atol=1e-12)
    names = expanded_feature_names(PipelineModel(stages=model.stages[:-1]), NUMERIC, CATEGORICAL)
    assert len(names) == matrix.shape[1]


@pytest.mark.parametrize("family", ["linear", "random_forest", "gbt", "xgboost"])
def test_classifier_scores_equal_spark(toy, fitted, exported, family):
    frame, df = toy["classification"]
    model = fitted("classification", family)
    spec, _, estimate, scores = _portable_scores(exported("classification", family),
                                                 "classification", frame)
    assert np.abs(scores - _spark_scores(model, df, "classification")).max() < TOLERANCE
    if family in ("linear", "xgboost"):  # exact attributions, one per assembled slot
        assert estimate.contributions.shape == (len(frame), len(spec["feature_names"]))


@pytest.mark.parametrize(("family", "method"), [
    ("linear", "platt"), ("xgboost", "isotonic"), ("xgboost", "platt"),
    ("random_forest", "isotonic"), ("random_forest", "platt")])
def test_calibrated_scores_equal_spark(toy, fitted, exported, family, method):
    frame, df = toy["classification"]
    model = fitted("classification", family)
    calibration = calibrator(method).fit(model.transform(df)).stages
    final = PipelineModel(stages=[*model.stages, *calibration])
    spec, files = exported("classification", family)
    spec = {**spec, "calibration": calibration_parameters(calibration)}
    _, _, _, scores = _portable_scores((spec, files), "classification", frame)
    assert spec["calibration"]["method"] == method
    # A random forest runs in float32 (ONNX): an isotonic step between two close boundaries
    # multiplies its ~6e-8 error by the step's slope (measured 1.2e-6 here).
    tolerance = 2e-5 if family == "random_forest" else TOLERANCE
    assert np.abs(scores - _spark_scores(final, df, "classification")).max() < tolerance


@pytest.mark.parametrize("family", ["linear", "random_forest", "xgboost"])
def test_regression_scores_equal_spark(toy, fitted, exported, family):
    frame, df = toy["regression"]
    model = fitted("regression", family)
    _, _, _, scores = _portable_scores(exported("regression", family), "regression", frame)
    # Costs: float64 linear is exact; float32 trees agree to 1e-6 of the value.
    np.testing.assert_allclose(scores, _spark_scores(model, df, "regression"), rtol=TOLERANCE,
                               atol=TOLERANCE)


def test_gbt_regressor_is_refused_with_the_reason(toy, fitted):
    with pytest.raises(NotPortableError, match="gbt regressor.*batch-only"):
        export_model(fitted("regression", "gbt"), "regression", NUMERIC, CATEGORICAL,
                     toy["regression"][1])


def test_isotonic_follows_spark_rule_at_and_between_boundaries():
    boundaries, predictions = [0.1, 0.3, 0.6], [0.0, 0.5, 1.0]
    values = np.array([0.0, 0.1, 0.2, 0.3, 0.45, 0.6, 0.9])
    expected = [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    np.testing.assert_allclose(isotonic(values, boundaries, predictions), expected)


def test_linear_contributions_add_up_to_the_margin_minus_baseline(toy, exported):
    frame, _ = toy["classification"]
    spec, _, estimate, _ = _portable_scores(exported("classification", "linear"),
                                            "classification", frame)
    coefficients = np.asarray(spec["estimator"]["coefficients"])
    baseline = np.asarray(spec["feature_means"]) @ coefficients + spec["estimator"]["intercept"]
    np.testing.assert_allclose(estimate.contributions.sum(axis=1), estimate.margin - baseline,
                               atol=1e-9)
    assert LABEL not in spec["feature_names"]


def test_a_forest_converted_to_onnx_leaves_no_tree_folder_behind(toy, fitted, monkeypatch,
                                                                 tmp_path):
    """onnxmltools saves each tree into the temporary folder and never removes it (hundreds of
    folders per forest registered); the export removes them, and nothing else there."""
    import tempfile

    from health_risk.core.serving.export import estimator_parameters

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / "someone_elses.txt").write_text("kept")
    model = fitted("classification", "random_forest")
    width = len(expanded_feature_names(PipelineModel(stages=model.stages[:-1]), NUMERIC,
                                       CATEGORICAL))
    _, files = estimator_parameters(model.stages[-1], "classification", width,
                                    toy["classification"][1].sparkSession)
    assert files["estimator.onnx"]
    assert [p.name for p in tmp_path.iterdir()] == ["someone_elses.txt"]
