"""Candidate estimators and the preprocessing stages fitted with them.

Every candidate is a Spark ML ``Pipeline``: imputation, encoding, assembly (and scaling for the
linear model) followed by the estimator. Fitting the pipeline on the training split fits the
preprocessing on the training split only, and the fitted ``PipelineModel`` carries it to
inference.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import (
    Imputer,
    OneHotEncoder,
    StandardScaler,
    StringIndexer,
    VectorAssembler,
)
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from health_risk.core.columns import CLASS_WEIGHT, FEATURES, LABEL
from health_risk.core.lazy_import import LAZY_IMPORT_LOCK


def preprocessing_stages(numeric: list[str], categorical: list[str], scale: bool) -> list:
    """Median imputation of numerics, one-hot of categoricals (unseen/null -> own level)."""
    stages: list = []
    inputs: list[str] = []
    if numeric:
        imputed = [f"{c}__imputed" for c in numeric]
        stages.append(Imputer(inputCols=numeric, outputCols=imputed, strategy="median"))
        inputs += imputed
    if categorical:
        indexed = [f"{c}__index" for c in categorical]
        encoded = [f"{c}__onehot" for c in categorical]
        # 'keep' gives nulls and categories unseen in training their own index.
        stages.append(StringIndexer(inputCols=categorical, outputCols=indexed,
                                    handleInvalid="keep", stringOrderType="frequencyDesc"))
        stages.append(OneHotEncoder(inputCols=indexed, outputCols=encoded, handleInvalid="keep",
                                    dropLast=True))
        inputs += encoded
    stages.append(VectorAssembler(inputCols=inputs, outputCol=f"{FEATURES}__raw",
                                  handleInvalid="keep"))
    # Always end with a StandardScaler: with scaling off it is the identity, and either way its
    # output drops the one-hot "binary attribute" metadata. Without that, Spark trees make
    # categorical splits, which SHAP's TreeExplainer cannot read.
    stages.append(StandardScaler(inputCol=f"{FEATURES}__raw", outputCol=FEATURES,
                                 withMean=False, withStd=scale))
    return stages


def expanded_feature_names(model, numeric: list[str], categorical: list[str]) -> list[str]:
    """Names of the assembled vector's slots, e.g. ``bmi``, ``smoking=current``.

    With ``handleInvalid='keep'`` the indexer adds a level for null/unseen values after the
    learned labels; the encoder's ``categorySizes`` says how many slots each column really has.
    """
    from pyspark.ml.feature import OneHotEncoderModel, StringIndexerModel

    names = list(numeric)
    indexers = [s for s in model.stages if isinstance(s, StringIndexerModel)]
    encoders = [s for s in model.stages if isinstance(s, OneHotEncoderModel)]
    if categorical and indexers and encoders:
        sizes = encoders[0].categorySizes
        for column, labels, size in zip(categorical, indexers[0].labelsArray, sizes, strict=True):
            slots = size - 1 if encoders[0].getDropLast() and not _keeps_invalid(encoders[0]) \
                else size
            levels = list(labels)[:slots] + ["<missing or unseen>"] * max(0, slots - len(labels))
            names += [f"{column}={level}" for level in levels]
    return names


def _keeps_invalid(encoder) -> bool:
    # 'keep' adds one invalid slot that dropLast then removes: net slots == categorySizes.
    return encoder.getHandleInvalid() == "keep"


def task_slots(df: DataFrame) -> int:
    """How many tasks the Spark application can run at once (executor cores / task cpus; the
    N of local[N]): what xgboost.spark's barrier stage needs, one slot per worker."""
    with LAZY_IMPORT_LOCK:
        from xgboost.spark.utils import _get_max_num_concurrent_tasks

    from health_risk.spark.mode import XGBOOST_REASON, require_classic

    require_classic(df, "the xgboost candidate", XGBOOST_REASON)
    return max(1, int(_get_max_num_concurrent_tasks(df.sparkSession.sparkContext)))


def xgboost_workers(setting: int | str, df: DataFrame, candidates: Iterable[str]) -> int:
    """``auto``: one xgboost worker per task slot (both cores of a laptop, every executor core
    of a cluster); a number is capped at the slots, since a barrier stage asking for more
    would wait for executors that never come. 1 (unused) when xgboost is not among
    ``candidates``: counting slots reads the SparkContext, which Spark Connect does not have."""
    if "xgboost" not in candidates:
        return 1
    slots = task_slots(df)
    return slots if setting == "auto" else max(1, min(int(setting), slots))


def build_estimator(name: str, task: str, params: dict[str, Any], use_weights: bool,
                    xgboost_workers: int = 1):
    """The Spark estimator for a candidate name and task, with the given hyper-parameters
    (``xgboost_workers``: xgboost.spark's ``num_workers``, unless ``params`` sets it)."""
    weight = {"weightCol": CLASS_WEIGHT} if use_weights else {}
    common = {"featuresCol": FEATURES, "labelCol": LABEL}
    if name == "linear":
        if task == "classification":
            from pyspark.ml.classification import LogisticRegression

            return LogisticRegression(**common, **weight, **params)
        from pyspark.ml.regression import LinearRegression

        return LinearRegression(**common, **params)
    if name == "random_forest":
        if task == "classification":
            from pyspark.ml.classification import RandomForestClassifier

            return RandomForestClassifier(**common, **weight, **params)
        from pyspark.ml.regression import RandomForestRegressor

        return RandomForestRegressor(**common, **params)
    if name == "gbt":
        if task == "classification":
            from pyspark.ml.classification import GBTClassifier

            return GBTClassifier(**common, **weight, **params)
        from pyspark.ml.regression import GBTRegressor

        return GBTRegressor(**common, **params)
    if name == "xgboost":
        xgb = {"features_col": FEATURES, "label_col": LABEL, "num_workers": xgboost_workers,
               **({"weight_col": CLASS_WEIGHT} if use_weights and task == "classification"
                  else {}), **params}
        if task == "classification":
            with LAZY_IMPORT_LOCK:
                from xgboost.spark import SparkXGBClassifier

            return SparkXGBClassifier(**xgb)
        with LAZY_IMPORT_LOCK:
            from xgboost.spark import SparkXGBRegressor

        return SparkXGBRegressor(**xgb)
    raise ValueError(f"unknown candidate '{name}'")


def fit_preprocessing(train, numeric: list[str], categorical: list[str], scale: bool):
    """Fit the preprocessing stages on the training split only (once per study and scaling)."""
    return Pipeline(stages=preprocessing_stages(numeric, categorical, scale)).fit(train)


def needs_scaling(candidate: str) -> bool:
    # Only the linear model needs scaled inputs (regularisation is scale-sensitive).
    return candidate == "linear"


def balanced_class_weight(train: DataFrame) -> Column:
    """``n / (k * n_c)`` by label, counted on ``train``: each class carries the same total
    weight in training."""
    counts = {r[LABEL]: r["n"] for r in train.groupBy(LABEL)
              .agg(F.count(F.lit(1)).alias("n")).collect()}
    total = sum(counts.values())
    weight = F.lit(1.0)
    for label, n in counts.items():
        weight = F.when(F.col(LABEL) == label, total / (len(counts) * n)).otherwise(weight)
    return weight


def fit_configuration(train: DataFrame, name: str, task: str, params: dict[str, Any],
                      numeric: list[str], categorical: list[str], use_weights: bool,
                      workers: int = 1) -> PipelineModel:
    """Preprocessing fitted on ``train`` followed by candidate ``name`` fitted with ``params``
    (a refit of a tuned configuration on other rows: cross-validation folds, synthetic rows)."""
    preprocessing = fit_preprocessing(train, numeric, categorical, needs_scaling(name))
    estimator = build_estimator(name, task, params, use_weights, workers)
    fitted = estimator.fit(preprocessing.transform(train))
    return PipelineModel(stages=[*preprocessing.stages, fitted])
