"""Does a synthetic sample keep the signal? Train on synthetic, test on real (TSTR), against
train on real, test on real (TRTR).

The study's winning modeling configuration (candidate and tuned hyper-parameters) is refitted
twice, preprocessing included: once on synthetic rows, once on as many real TRAIN rows, and both
models score the real test split, which the synthesizer never saw. The synthetic rows go
through the study's own feature code (``feature_table``), as a batch does at inference. The
refits are uncalibrated (calibration is monotone: it leaves ROC-AUC unchanged), so the
comparison is on threshold-free metrics.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from health_risk.core.columns import CLASS_WEIGHT, ID, LABEL, SCORE, SPLIT
from health_risk.core.estimators import balanced_class_weight, fit_configuration, xgboost_workers
from health_risk.core.features.table import build_feature_table, derive_primary
from health_risk.core.metrics import classification_metrics, regression_metrics
from health_risk.core.modeling_config import ModelingConfig
from health_risk.core.scoring import collect_scores
from health_risk.core.split import train_fraction_expr

COMPARED = {"classification": ("roc_auc", "pr_auc"), "regression": ("r2", "rmse", "mae")}


def _metrics(model, test: DataFrame, task: str) -> tuple[dict[str, float], int]:
    """The compared metrics on the test rows, and how many rows were scored."""
    scores = collect_scores(model, test, task, [LABEL])
    y, s = scores[LABEL].to_numpy(), scores[SCORE].to_numpy()
    found = (classification_metrics(y, s, 0.5) if task == "classification"
             else regression_metrics(y, s))
    return {name: found[name] for name in COMPARED[task]}, len(scores)


def synthetic_features(rows: DataFrame, fe_params: dict[str, Any],
                       lookup_tables: dict[str, DataFrame]) -> DataFrame:
    """Synthetic rows in the validated table's schema -> the study's feature table."""
    return build_feature_table(derive_primary(rows, fe_params, **lookup_tables), fe_params)


def real_rows(model_input: DataFrame, rows: int, seed: int) -> tuple[DataFrame, DataFrame]:
    """(at most ``rows`` real TRAIN rows, the real test split) of the model input's split: the
    TRTR side trains on the first, both sides are scored on the second."""
    real_train = (model_input.filter(F.col(SPLIT) == "train")
                  .orderBy(train_fraction_expr(ID, seed), F.col(ID)).limit(rows)
                  .drop(CLASS_WEIGHT))
    return real_train, model_input.filter(F.col(SPLIT) == "test")


def compare_utility(synthetic: DataFrame, model_input: DataFrame, spec: dict[str, Any],
                    winner: dict[str, Any], modeling: ModelingConfig,
                    max_gap: dict[str, float], seed: int) -> dict[str, Any]:
    """The TSTR / TRTR report: metrics of each, the gap and whether it is within ``max_gap``."""
    task, name = modeling.task, winner["candidate"]
    params = {**modeling.candidates[name].fixed, **winner["params"]}
    use_weights = task == "classification" and modeling.class_weighting == "balanced"
    numeric, categorical = spec["numeric_features"], spec["categorical_features"]
    synthetic = synthetic.cache()
    if task == "classification":  # rows and classes from one aggregation
        counts = {r[LABEL]: r["count"] for r in synthetic.groupBy(LABEL).count().collect()}
        rows, labels = sum(counts.values()), set(counts)
    else:
        rows, labels = synthetic.count(), set()
    base = {"candidate": name, "params": params, "synthetic_rows": rows,
            "method": "train on synthetic / on real TRAIN rows, test on the real test split"}
    if rows == 0 or (task == "classification" and len(labels) < 2):
        synthetic.unpersist()
        return {**base, "performed": False,
                "reason": f"the synthetic sample has {rows} modelled rows and labels "
                          f"{sorted(labels)}: nothing to train a {task} model on"}
    real_train, test = real_rows(model_input, rows, seed)
    real_train = real_train.cache()
    real_count = real_train.count()
    workers = xgboost_workers(modeling.xgboost_workers, model_input, [name])
    fitted = {}
    for side, train in (("trtr", real_train), ("tstr", synthetic)):
        weighted = train.withColumn(CLASS_WEIGHT, balanced_class_weight(train)
                                    if use_weights else F.lit(1.0))
        model = fit_configuration(weighted, name, task, params, numeric, categorical,
                                  use_weights, workers)
        fitted[side], test_rows = _metrics(model, test, task)
    synthetic.unpersist()
    real_train.unpersist()
    gap = {m: fitted["tstr"][m] - fitted["trtr"][m] for m in COMPARED[task]}
    # A shortfall is "TRTR better than TSTR": lower is better for rmse/mae.
    shortfall = {m: (gap[m] if m in ("rmse", "mae") else -gap[m]) for m in gap}
    checks = {m: {"max_gap": limit, "shortfall": shortfall[m], "met": shortfall[m] <= limit}
              for m, limit in max_gap.items() if m in gap}
    return {**base, "performed": True, "real_train_rows": real_count,
            "test_rows": test_rows, "trtr": fitted["trtr"], "tstr": fitted["tstr"],
            "gap": gap, "targets": checks,
            "targets_met": all(c["met"] for c in checks.values()) if checks else None}
