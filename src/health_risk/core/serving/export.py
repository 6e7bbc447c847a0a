"""Export a fitted Spark ``PipelineModel`` into the parts the portable scorer runs without Spark.

Each stage goes to the runtime that reproduces Spark's numbers (measured, see
docs/serving.md "Runtime per stage"):

- preprocessing (``Imputer``, ``StringIndexer``, ``OneHotEncoder``, ``VectorAssembler``,
  ``StandardScaler``): their fitted parameters (medians, label lists, slot counts, 1/std),
  applied in float64 by ``core.serving.runtime``. onnxmltools 1.16's graph for these stages
  is refused by onnxruntime at its default opset (``Split`` with a ``split`` attribute) and
  encodes the null/unseen level as zeros where Spark gives it its own slot.
- ``linear`` (logistic / linear regression): coefficients and intercept in float64. ONNX-ML's
  ``LinearClassifier`` / ``LinearRegressor`` hold float32 coefficients: a predicted cost was
  off by 1e-3 and a probability by 5e-7; float64 gives Spark's value and the exact
  per-feature contributions the reasons need.
- ``random_forest`` and ``gbt`` classifiers, ``random_forest`` regressor: ONNX through
  onnxmltools' Spark ML converter, run by onnxruntime (float32 trees).
- ``gbt`` regressor: onnxmltools 1.16 converts it to a graph whose predictions are wrong
  (off by the whole prediction): refused here, so such a version is batch-only.
- ``xgboost`` (xgboost.spark): the native Booster, whose probabilities equal Spark's.
- calibration: isotonic = Spark's boundaries and predictions, Platt = one coefficient and an
  intercept on the raw margin; both evaluated exactly as Spark's models do.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
from pyspark.ml import PipelineModel
from pyspark.ml.feature import (
    ImputerModel,
    OneHotEncoderModel,
    StandardScalerModel,
    StringIndexerModel,
    VectorAssembler,
)
from pyspark.ml.functions import vector_to_array
from pyspark.ml.stat import Summarizer
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from health_risk.core.columns import FEATURES
from health_risk.core.errors import HealthRiskError
from health_risk.core.estimators import expanded_feature_names
from health_risk.core.lazy_import import LAZY_IMPORT_LOCK


class NotPortableError(HealthRiskError):
    """A fitted model has a stage no Spark-free runtime reproduces."""


def _split_stages(model: PipelineModel) -> tuple[list, Any, list]:
    """(preprocessing stages, the estimator, calibration stages)."""
    stages = list(model.stages)
    last = max(i for i, s in enumerate(stages)
               if s.hasParam("featuresCol") and s.getOrDefault("featuresCol") == FEATURES)
    return stages[:last], stages[last], stages[last + 1:]


def preprocessing_parameters(stages: list, numeric: list[str], categorical: list[str]
                             ) -> dict[str, Any]:
    """Fitted parameters of the preprocessing stages, in the order the vector is assembled."""
    imputer = next((s for s in stages if isinstance(s, ImputerModel)), None)
    indexer = next((s for s in stages if isinstance(s, StringIndexerModel)), None)
    encoder = next((s for s in stages if isinstance(s, OneHotEncoderModel)), None)
    scaler = next((s for s in stages if isinstance(s, StandardScalerModel)), None)
    known = (ImputerModel, StringIndexerModel, OneHotEncoderModel, StandardScalerModel,
             VectorAssembler)
    unknown = [type(s).__name__ for s in stages if not isinstance(s, known)]
    if unknown:
        raise NotPortableError(f"preprocessing stage(s) {unknown} have no portable form")
    medians = {}
    if numeric:
        row = imputer.surrogateDF.first()
        medians = {c: float(row[c]) for c in imputer.getInputCols()}
    levels, slots = {}, {}
    if categorical:
        for column, labels, size in zip(indexer.getInputCols(), indexer.labelsArray,
                                        encoder.categorySizes, strict=True):
            levels[column] = list(labels)
            keeps = encoder.getHandleInvalid() == "keep"
            slots[column] = int(size - 1 if encoder.getDropLast() and not keeps else size)
    factors = None
    if scaler is not None and scaler.getWithStd():
        std = np.asarray(scaler.std.toArray(), dtype=float)
        # Spark multiplies by 1/std, and by 0 where std is 0 (a constant slot).
        factors = [float(1.0 / s) if s != 0.0 else 0.0 for s in std]
    return {"numeric": list(numeric), "categorical": list(categorical),
            "medians": medians, "levels": levels, "slots": slots, "scale_factors": factors}


def _family(estimator) -> str:
    name = type(estimator).__name__
    for family, prefixes in (("linear", ("LogisticRegression", "LinearRegression")),
                             ("random_forest", ("RandomForest",)), ("gbt", ("GBT",)),
                             ("xgboost", ("SparkXGB",))):
        if name.startswith(prefixes):
            return family
    raise NotPortableError(f"estimator {name} has no portable form")


# onnxmltools 1.16 saves every tree of a forest into ``<tempfile.tempdir>/<Model>_<time.time()>``
# to read its nodes back, and never removes it: 40 KB per tree, hundreds of folders per
# registration of a forest. Conversions run one at a time, so what one leaves is told apart by
# name and removed.
_CONVERSION = threading.Lock()
_TREE_FOLDER = re.compile(r"^[A-Za-z]+Model_\d+(\.\d+)?$")


def _onnx_bytes(estimator, width: int, spark) -> bytes:
    with LAZY_IMPORT_LOCK:
        from onnxmltools import convert_sparkml
        from onnxmltools.convert.common.data_types import FloatTensorType

    with _CONVERSION:
        # None: onnxmltools then uses a Spark temporary folder, which the JVM removes at exit.
        folder = Path(tempfile.tempdir) if tempfile.tempdir else None
        before = set(folder.iterdir()) if folder else set()
        try:
            graph = convert_sparkml(estimator, "estimator",
                                    [(FEATURES, FloatTensorType([None, width]))],
                                    spark_session=spark)
        finally:
            for left in (set(folder.iterdir()) - before) if folder else ():
                if _TREE_FOLDER.match(left.name) and left.is_dir():
                    shutil.rmtree(left, ignore_errors=True)
    return graph.SerializeToString()


def estimator_parameters(estimator, task: str, width: int, spark) -> tuple[dict, dict]:
    """(estimator description, binary files) for the fitted estimator stage."""
    family = _family(estimator)
    if family == "linear":
        return {"family": family, "runtime": "float64",
                "coefficients": [float(v) for v in estimator.coefficients.toArray()],
                "intercept": float(estimator.intercept)}, {}
    if family == "xgboost":
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "booster.json"
            estimator.get_booster().save_model(str(path))
            return {"family": family, "runtime": "xgboost", "file": "booster.json"}, {
                "booster.json": path.read_bytes()}
    if family == "gbt" and task == "regression":
        raise NotPortableError(
            "a gbt regressor has no portable form: onnxmltools 1.16 converts it to a graph "
            "whose predictions are wrong (tested); this version is batch-only")
    extra = {"trees": int(estimator.getNumTrees)} if family == "random_forest" else {}
    return {"family": family, "runtime": "onnxruntime", "file": "estimator.onnx", **extra}, {
        "estimator.onnx": _onnx_bytes(estimator, width, spark)}


def calibration_parameters(stages: list) -> dict[str, Any]:
    """The calibrator appended after the estimator: none, isotonic or Platt."""
    from pyspark.ml.classification import LogisticRegressionModel
    from pyspark.ml.regression import IsotonicRegressionModel

    if not stages:
        return {"method": "none"}
    last = stages[-1]
    if isinstance(last, IsotonicRegressionModel):
        return {"method": "isotonic",
                "boundaries": [float(v) for v in last.boundaries.toArray()],
                "predictions": [float(v) for v in last.predictions.toArray()]}
    if isinstance(last, LogisticRegressionModel):
        return {"method": "platt", "coefficient": float(last.coefficients.toArray()[0]),
                "intercept": float(last.intercept)}
    raise NotPortableError(f"calibration stage {type(last).__name__} has no portable form")


def feature_means(model: PipelineModel, train: DataFrame) -> list[float]:
    """Mean of each assembled (imputed, encoded, scaled) feature slot on the training rows:
    the baseline of the linear model's per-feature contributions."""
    preprocessing = PipelineModel(stages=_split_stages(model)[0])
    row = (preprocessing.transform(train)
           .select(Summarizer.mean(F.col(FEATURES)).alias("mean")).first())
    return [float(v) for v in row["mean"].toArray()]


def export_model(model: PipelineModel, task: str, numeric: list[str], categorical: list[str],
                 train: DataFrame) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Everything the Spark-free scorer needs of the fitted model, as (description, files)."""
    stages, estimator, calibrators = _split_stages(model)
    preprocessing = preprocessing_parameters(stages, numeric, categorical)
    names = expanded_feature_names(PipelineModel(stages=stages), numeric, categorical)
    spec, files = estimator_parameters(estimator, task, len(names), train.sparkSession)
    calibration = calibration_parameters(calibrators) if task == "classification" else {
        "method": "none"}
    means = feature_means(model, train) if spec["family"] == "linear" else None
    return {"preprocessing": preprocessing, "feature_names": names, "estimator": spec,
            "calibration": calibration, "feature_means": means}, files


def feature_vectors(model: PipelineModel, df: DataFrame) -> np.ndarray:
    """The assembled feature vectors Spark computes (for parity tests)."""
    preprocessing = PipelineModel(stages=_split_stages(model)[0])
    rows = preprocessing.transform(df).select(vector_to_array(F.col(FEATURES)).alias("x"))
    return np.array([r["x"] for r in rows.collect()], dtype=float)
