"""Feature ranking by mutual information, on TRAINING rows only, and the feature spec.

Only TRAIN rows of the study's split (the feature table's ``split`` column, the one modeling
trains on) are looked at, so the ranking - and any pruning based on it - never sees validation
or test labels. The
statistic is computed on a bounded, seeded sample collected to pandas; the full table never
leaves Spark.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from health_risk.core.columns import ID, LABEL, SPLIT, WEIGHT
from health_risk.core.features.availability import dropped_features, feature_availability
from health_risk.core.features.config import FeatureEngineeringConfig, LeakageError
from health_risk.core.lazy_import import LAZY_IMPORT_LOCK
from health_risk.core.split import SplitConfig, require_split

logger = logging.getLogger(__name__)

RANKING_COLUMNS = ["feature", "kind", "mutual_information", "rank", "kept"]


def training_sample(features: DataFrame, config: FeatureEngineeringConfig,
                    seed: int) -> pd.DataFrame:
    """At most ``selection.sample_rows`` TRAIN rows (id, label, candidate features) of the
    feature table's ``split`` column: the rows with the smallest hash of the id salted with
    ``seed``, deterministic whatever the partitioning."""
    require_split(features, config.study)
    train = features.filter(F.col(SPLIT) == "train").select(ID, LABEL, *config.features)
    order = F.xxhash64(F.col(ID), F.lit(int(seed)), F.lit("feature_selection"))
    return train.orderBy(order, ID).limit(config.selection.sample_rows).toPandas()


def _design_matrix(sample: pd.DataFrame, config: FeatureEngineeringConfig) -> np.ndarray:
    columns = []
    for name in config.numeric_features:
        values = pd.to_numeric(sample[name], errors="coerce").astype(float)
        median = values.median()  # of the TRAIN sample only, and only for this statistic
        columns.append(values.fillna(0.0 if np.isnan(median) else median).to_numpy())
    for name in config.categorical_features:
        # Label-encode with null as a level of its own: "unknown" can carry information.
        codes, _ = pd.factorize(sample[name].astype(object), use_na_sentinel=False)
        columns.append(codes.astype(float))
    return np.column_stack(columns)


def mutual_information(sample: pd.DataFrame, config: FeatureEngineeringConfig,
                       seed: int) -> np.ndarray:
    """MI of each candidate feature (numeric first, then categorical) with the label."""
    with LAZY_IMPORT_LOCK:
        from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

    n_features = len(config.features)
    if sample.empty:
        raise ValueError(f"{config.study}: no training rows to rank features on")
    y = sample[LABEL].astype(float).to_numpy()
    if config.task == "classification" and len(np.unique(y)) < 2:
        logger.warning("%s: the training sample holds one class only; MI is 0 for every "
                       "feature", config.study)
        return np.zeros(n_features)
    discrete = np.array([False] * len(config.numeric_features)
                        + [True] * len(config.categorical_features))
    x = _design_matrix(sample, config)
    n_neighbors = min(config.selection.n_neighbors, max(len(sample) - 1, 1))
    estimator = mutual_info_classif if config.task == "classification" \
        else mutual_info_regression
    target = y.astype(int) if config.task == "classification" else y
    return estimator(x, target, discrete_features=discrete, n_neighbors=n_neighbors,
                     random_state=seed)


def _kept(ranking: pd.DataFrame, config: FeatureEngineeringConfig) -> pd.Series:
    selection = config.selection
    kept = pd.Series(True, index=ranking.index)
    if not selection.prune:
        return kept
    # With both rules set a feature must pass both: top_k bounds the width, the MI floor drops
    # features that carry nothing even when fewer than top_k remain.
    if selection.top_k is not None:
        kept &= ranking["rank"] <= selection.top_k
    if selection.min_mutual_information is not None:
        kept &= ranking["mutual_information"] >= selection.min_mutual_information
    return kept


def rank_features(features: DataFrame, params: dict[str, Any], split_params: dict[str, Any],
                  validation_report: dict[str, Any] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The MI ranking table and the ``feature_spec`` modeling reads (after optional pruning),
    on TRAIN rows of the study's split only (``<study>.split`` seeds the sample and the MI
    estimator).

    A feature none of whose sources any year of the data has (the ingestion report's absent
    columns, ``core.features.availability``) is neither ranked nor modelled: the spec lists it
    under ``dropped_features`` with the reason, and the features some years lack under
    ``partially_available_features`` with how the model treats those years."""
    config = FeatureEngineeringConfig.model_validate(params)
    split = SplitConfig.model_validate(split_params)
    availability = feature_availability(config, validation_report or {})
    dropped = dropped_features(availability)
    if dropped:
        logger.warning("%s: feature(s) %s dropped: %s", config.study, sorted(dropped),
                       "; ".join(d["reason"] for d in availability["dropped"]))
        config = config.model_copy(update={
            "numeric_features": [c for c in config.numeric_features if c not in dropped],
            "categorical_features": [c for c in config.categorical_features
                                     if c not in dropped]})
    sample = training_sample(features, config, split.seed)
    scores = mutual_information(sample, config, split.seed)
    ranking = pd.DataFrame({
        "feature": config.features,
        "kind": ["numeric"] * len(config.numeric_features)
        + ["categorical"] * len(config.categorical_features),
        "mutual_information": np.round(scores.astype(float), 6),
    }).sort_values(["mutual_information", "feature"], ascending=[False, True],
                   ignore_index=True)
    ranking["rank"] = np.arange(1, len(ranking) + 1)
    ranking["kept"] = _kept(ranking, config)
    kept = set(ranking.loc[ranking["kept"], "feature"])
    spec = {
        "task": config.task,
        "id_column": ID,
        "label_column": LABEL,
        # The table always has the column (1.0 without a design weight); null tells modeling
        # the study is not weighted.
        "weight_column": WEIGHT if config.weight_column else None,
        "numeric_features": [c for c in config.numeric_features if c in kept],
        "categorical_features": [c for c in config.categorical_features if c in kept],
        "subgroup_columns": list(config.subgroup_columns),
        "dropped_features": availability["dropped"],
        "partially_available_features": availability["partial"],
    }
    leaks = config.leakage_in([*spec["numeric_features"], *spec["categorical_features"]])
    if leaks:
        raise LeakageError(f"leakage in study '{config.study}': {leaks} in the feature spec")
    logger.info("%s: ranked %d features on %d training rows; top 5: %s", config.study,
                len(ranking), len(sample), ranking["feature"].head(5).tolist())
    return ranking[RANKING_COLUMNS], spec


__all__ = ["mutual_information", "rank_features", "training_sample"]
