"""The fitted model evaluated without Spark: preprocessing, estimator, calibration, tiers and
reasons, from what ``core.serving.export`` wrote. No pyspark import here (nor below): a served
model must start without a JVM.

Every formula is Spark's own for the stage (see ``export`` for which runtime runs which stage
and why); ``tests/core/serving`` holds them equal to Spark's ``transform``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from health_risk.core.lazy_import import LAZY_IMPORT_LOCK

# Reasons: what the contribution of a feature means for each family.
REASONS_METHOD = {
    "linear": "coefficient x (value - training mean), on the {scale}",
    "xgboost": "exact TreeSHAP of the booster, on the {scale}",
}
NO_REASONS = ("not computed for {family}: exact attributions need TreeSHAP over every tree of "
              "the ensemble through a second runtime, too slow per request; the model card "
              "lists the global SHAP importances")


class Assembler:
    """Spark's preprocessing stages on numbers, set up once per served model (the label
    lookups and medians are reused by every request).

    - Imputer: null and NaN become the training median;
    - StringIndexer (frequency order; null and unseen get the index after the labels), then
      OneHotEncoder (a slot per index below the column's slot count; others all zeros);
    - VectorAssembler, then StandardScaler's 1/std factors when the model scales.
    """

    def __init__(self, prep: dict[str, Any]) -> None:
        self.numeric, self.categorical = list(prep["numeric"]), list(prep["categorical"])
        self.medians = np.array([prep["medians"][c] for c in self.numeric], dtype=float)
        self.levels = [({label: i for i, label in enumerate(prep["levels"][c])},
                        len(prep["levels"][c]), int(prep["slots"][c])) for c in self.categorical]
        self.width = len(self.numeric) + sum(slots for _, _, slots in self.levels)
        factors = prep.get("scale_factors")
        self.factors = None if factors is None else np.asarray(factors, dtype=float)

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        matrix = np.zeros((len(frame), self.width))
        for j, column in enumerate(self.numeric):
            values = np.asarray(frame[column].to_numpy(dtype=float, na_value=np.nan))
            matrix[:, j] = np.where(np.isnan(values), self.medians[j], values)
        offset, rows = len(self.numeric), np.arange(len(frame))
        for column, (index, unseen, slots) in zip(self.categorical, self.levels, strict=True):
            codes = np.fromiter((index.get(v, unseen) if isinstance(v, str) else unseen
                                 for v in frame[column].to_numpy(dtype=object)), dtype=int,
                                count=len(frame))
            hit = codes < slots
            matrix[rows[hit], offset + codes[hit]] = 1.0
            offset += slots
        return matrix if self.factors is None else matrix * self.factors


def _sigmoid(margin: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-margin))


@dataclass
class Estimate:
    """The model's output for each row: the score and, where the family has one, the raw
    margin (log-odds or the regression value) the reasons add up to."""

    score: np.ndarray
    margin: np.ndarray | None
    contributions: np.ndarray | None  # per assembled slot, on the margin scale


class Estimator:
    """The fitted estimator in its runtime, loaded once per served model."""

    def __init__(self, spec: dict[str, Any], files: dict[str, bytes], task: str,
                 means: list[float] | None) -> None:
        self.family, self.task = spec["family"], task
        self._spec, self._means = spec, None if means is None else np.asarray(means)
        if spec["runtime"] == "xgboost":
            with LAZY_IMPORT_LOCK:
                import xgboost as xgb

            self._booster = xgb.Booster()
            self._booster.load_model(bytearray(files[spec["file"]]))
            self._booster.set_param({"nthread": 1})  # one request, one core: no thread start-up
        elif spec["runtime"] == "onnxruntime":
            with LAZY_IMPORT_LOCK:
                import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(files[spec["file"]], options,
                                                 providers=["CPUExecutionProvider"])
            self._outputs = [o.name for o in self._session.get_outputs()]

    def estimate(self, matrix: np.ndarray, explain: bool) -> Estimate:
        runtime = self._spec["runtime"]
        if runtime == "float64":
            coefficients = np.asarray(self._spec["coefficients"])
            margin = matrix @ coefficients + self._spec["intercept"]
            score = _sigmoid(margin) if self.task == "classification" else margin
            contributions = ((matrix - self._means) * coefficients
                             if explain and self._means is not None else None)
            return Estimate(score, margin, contributions)
        if runtime == "xgboost":
            return self._xgboost(matrix, explain)
        return self._onnx(matrix)

    def _xgboost(self, matrix: np.ndarray, explain: bool) -> Estimate:
        with LAZY_IMPORT_LOCK:
            import xgboost as xgb
            from scipy.special import expit

        # xgboost.spark: margins in float32, probability = expit(margin) in float32.
        if self.task == "classification":
            margin = self._booster.inplace_predict(matrix, predict_type="margin")
            score = expit(margin).astype(float)
        else:
            margin = self._booster.inplace_predict(matrix, predict_type="value")
            score = margin.astype(float)
        contributions = None
        if explain:
            values = self._booster.predict(xgb.DMatrix(matrix), pred_contribs=True)
            contributions = np.asarray(values, dtype=float)[:, :-1]  # last column: the bias
        return Estimate(score, np.asarray(margin, dtype=float), contributions)

    def _onnx(self, matrix: np.ndarray) -> Estimate:
        outputs = self._session.run(None, {"features": matrix.astype(np.float32)})
        if self.task == "classification":
            probability = np.asarray(outputs[self._outputs.index("probability")], dtype=float)
            return Estimate(probability[:, 1], None, None)
        prediction = np.asarray(outputs[self._outputs.index("prediction")], dtype=float)
        return Estimate(prediction.ravel(), None, None)

    def raw_margin(self, estimate: Estimate) -> np.ndarray:
        """Spark's ``rawPrediction[1]``, what a Platt calibrator reads: the margin of linear
        and boosted models, the trees' summed positive-class votes of a random forest."""
        if estimate.margin is not None:
            return estimate.margin
        if self.family == "random_forest":
            return estimate.score * self._spec["trees"]
        # GBT: probability = 1 / (1 + exp(-2 margin))
        clipped = np.clip(estimate.score, 1e-300, 1 - 1e-16)
        return 0.5 * np.log(clipped / (1.0 - clipped))

    def reasons_method(self) -> str | None:
        scale = "log-odds scale" if self.task == "classification" else "predicted value"
        template = REASONS_METHOD.get(self.family)
        return template.format(scale=scale) if template else None

    def no_reasons(self) -> str:
        return NO_REASONS.format(family=self.family)


def isotonic(values: np.ndarray, boundaries: list[float], predictions: list[float]
             ) -> np.ndarray:
    """Spark's ``IsotonicRegressionModel.predict``: the prediction at a boundary, linear
    interpolation between boundaries, the end values beyond them."""
    x = np.asarray(boundaries)
    y = np.asarray(predictions)
    position = np.searchsorted(x, values, side="left")
    out = np.empty(len(values))
    for i, (value, at) in enumerate(zip(values, position, strict=True)):
        if at < len(x) and x[at] == value:
            out[i] = y[at]
        elif at == 0:
            out[i] = y[0]
        elif at == len(x):
            out[i] = y[-1]
        else:
            x1, x2, y1, y2 = x[at - 1], x[at], y[at - 1], y[at]
            out[i] = y1 + (y2 - y1) * (value - x1) / (x2 - x1)
    return out


def calibrate(estimator: Estimator, estimate: Estimate, spec: dict[str, Any]) -> np.ndarray:
    method = spec["method"]
    if method == "none":
        return estimate.score
    if method == "isotonic":
        return isotonic(estimate.score, spec["boundaries"], spec["predictions"])
    margin = estimator.raw_margin(estimate)
    return _sigmoid(spec["coefficient"] * margin + spec["intercept"])


def tiers(scores: np.ndarray, edges: list[float], labels: list[str]) -> list[str]:
    """``core.risk_tiers.tier_column`` on numbers: a score equal to an edge is in the lower
    tier."""
    positions = np.searchsorted(np.asarray(edges), scores, side="left")
    return [labels[int(p)] for p in positions]


def top_reasons(contributions: np.ndarray, names: list[str], frame: pd.DataFrame,
                count: int = 3) -> list[list[dict[str, Any]]]:
    """Per row, the ``count`` features whose contributions (one-hot slots summed back into
    their feature) moved the score most, signed, with the row's value of that feature."""
    owners = [name.split("=", 1)[0] for name in names]
    features = list(dict.fromkeys(owners))
    index = {f: i for i, f in enumerate(features)}
    summed = np.zeros((contributions.shape[0], len(features)))
    for slot, owner in enumerate(owners):
        summed[:, index[owner]] += contributions[:, slot]
    rows = []
    for r in range(summed.shape[0]):
        order = np.argsort(-np.abs(summed[r]), kind="stable")[:count]
        rows.append([{"feature": features[j], "value": _plain(frame[features[j]].iloc[r]),
                      "contribution": float(summed[r, j])} for j in order])
    return rows


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value
