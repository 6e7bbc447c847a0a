"""SHAP explanations of the fitted model on a bounded sample of the training split.

Tree models are explained with ``shap.TreeExplainer`` on the last stage of the PipelineModel
(the Spark tree model, or the XGBoost booster); building that explainer walks every tree node
through py4j (~1.7 ms per node), so it is skipped above ``max_tree_nodes`` and the model's own
impurity importances are reported instead, labelled as such. The linear model uses
``shap.LinearExplainer`` on its coefficients. One-hot slots are summed back to their feature.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from health_risk.core.columns import FEATURES
from health_risk.core.estimators import expanded_feature_names
from health_risk.core.lazy_import import LAZY_IMPORT_LOCK
from health_risk.spark.mode import TREE_SHAP_REASON, require_classic

logger = logging.getLogger(__name__)


def _estimator_stage(model: PipelineModel):
    """(preprocessing, estimator): the stages before and at the estimator, calibrator dropped."""
    from health_risk.core.columns import FEATURES

    stages = list(model.stages)
    # The estimator is the last stage reading the assembled feature vector.
    last = max(i for i, s in enumerate(stages)
               if s.hasParam("featuresCol") and s.getOrDefault("featuresCol") == FEATURES)
    return PipelineModel(stages=stages[:last]), stages[last]


def assembled_sample(model: PipelineModel, sample: DataFrame, names: list[str]) -> pd.DataFrame:
    preprocessing, _ = _estimator_stage(model)
    vectors = preprocessing.transform(sample).select(vector_to_array(F.col(FEATURES)).alias("x"))
    matrix = np.array([row["x"] for row in vectors.collect()], dtype=float)
    return pd.DataFrame(matrix.reshape(len(matrix), len(names)), columns=names)


def tree_node_count(stage) -> int | None:
    if hasattr(stage, "totalNumNodes"):
        return int(stage.totalNumNodes)
    if hasattr(stage, "get_booster"):
        return int(stage.get_booster().trees_to_dataframe().shape[0])
    return None


@dataclass
class Explanation:
    importance: pd.DataFrame  # feature, mean_abs_shap, rank, method
    shap_values: pd.DataFrame | None  # per row and one-hot slot, when SHAP ran
    features: pd.DataFrame  # the assembled sample the values explain
    method: str


def explain(model: PipelineModel, sample: DataFrame, numeric: list[str], categorical: list[str],
            max_tree_nodes: int) -> Explanation:
    """SHAP (or, above the node budget, impurity importances) mapped back to feature names."""
    with LAZY_IMPORT_LOCK:
        import shap

    preprocessing, estimator = _estimator_stage(model)
    names = expanded_feature_names(preprocessing, numeric, categorical)
    features = assembled_sample(model, sample, names)
    nodes = tree_node_count(estimator)
    if nodes is not None and nodes > max_tree_nodes:
        logger.warning("SHAP skipped: %d tree nodes > max_tree_nodes %d; using impurity "
                       "importances", nodes, max_tree_nodes)
        importance = np.asarray(estimator.featureImportances.toArray())
        table = _by_feature(pd.DataFrame([importance], columns=names), "impurity_importance")
        return Explanation(table, None, features, "impurity_importance")
    if nodes is None:  # linear model: exact SHAP of a linear function, interventional
        coefficients = np.asarray(estimator.coefficients.toArray())
        explainer = shap.LinearExplainer((coefficients, float(estimator.intercept)), features)
        values = explainer.shap_values(features)
        method = "shap_linear"
    else:
        if not hasattr(estimator, "get_booster"):  # a Spark tree model, read through Py4J
            require_classic(sample, "SHAP of the winning tree model", TREE_SHAP_REASON)
        target = estimator.get_booster() if hasattr(estimator, "get_booster") else estimator
        explainer = shap.TreeExplainer(target)
        # A plain array: XGBoost rejects one-hot names such as "bmi_category=<18.5" as
        # feature names; the names are put back below.
        values = explainer.shap_values(features.to_numpy(), check_additivity=False)
        method = "shap_tree"
    values = np.asarray(values)
    if values.ndim == 3:  # (rows, features, classes) for some classifiers: positive class
        values = values[..., -1]
    shap_frame = pd.DataFrame(values, columns=names)
    return Explanation(_by_feature(shap_frame.abs(), method), shap_frame, features, method)


def _by_feature(abs_values: pd.DataFrame, column: str) -> pd.DataFrame:
    """Sum one-hot slots ``col=value`` back into ``col``, then average over rows."""
    owners = [name.split("=", 1)[0] for name in abs_values.columns]
    per_feature = abs_values.T.groupby(owners).sum().T.mean(axis=0)
    table = per_feature.sort_values(ascending=False).rename(column).reset_index()
    table.columns = ["feature", "mean_abs_shap"]
    table["rank"] = np.arange(1, len(table) + 1)
    table["method"] = column
    return table


def summary_figure(explanation: Explanation, title: str):
    """SHAP beeswarm when SHAP values exist, else a bar chart of the importances."""
    with LAZY_IMPORT_LOCK:
        import matplotlib

        matplotlib.use("Agg")  # headless, before pyplot picks a backend
        import matplotlib.pyplot as plt

    from health_risk.pipelines.modeling.plots import PYPLOT_LOCK, shap_bar_figure

    if explanation.shap_values is None:
        return shap_bar_figure(explanation.importance, title)
    with LAZY_IMPORT_LOCK:
        import shap

    with PYPLOT_LOCK:  # shap draws on pyplot's current figure: one study at a time
        fig = plt.figure()
        shap.summary_plot(explanation.shap_values.to_numpy(), explanation.features, show=False,
                          max_display=20)
        fig.suptitle(title)
        fig.tight_layout()
        plt.close(fig)  # out of pyplot's registry; the figure itself stays drawable
    return fig
