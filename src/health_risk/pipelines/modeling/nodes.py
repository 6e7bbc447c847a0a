"""Modeling nodes: model input, tune candidates, calibrate, choose a threshold, evaluate, explain,
register and gate. Every study runs the same nodes; the task (classification / regression) and
everything else comes from the feature spec and ``<study>.modeling`` parameters.
"""

from __future__ import annotations

import logging
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from health_risk.core.columns import CLASS_WEIGHT, LABEL, SCORE, SPLIT, WEIGHT
from health_risk.core.drift import build_profile
from health_risk.core.estimators import (
    balanced_class_weight,
    fit_preprocessing,
    needs_scaling,
    xgboost_workers,
)
from health_risk.core.metrics import bootstrap_intervals, weighted_classification_metrics
from health_risk.core.modeling_config import ModelingConfig, higher_is_better
from health_risk.core.scoring import collect_scores, score
from health_risk.core.serving.bundle import PortableModel
from health_risk.core.split import require_split
from health_risk.pipelines.modeling import plots
from health_risk.pipelines.modeling.calibration import (
    calibrator,
    choose_method,
    cross_fitted_brier,
    with_calibrator,
)
from health_risk.pipelines.modeling.cross_validation import cross_validate
from health_risk.pipelines.modeling.evaluation import (
    choose_threshold,
    classification_metrics,
    expected_calibration_error,
    regression_metrics,
    reliability_curve,
    subgroup_metrics,
)
from health_risk.pipelines.modeling.explain import explain, summary_figure
from health_risk.pipelines.modeling.promotion import (
    decide_promotion,
    log_and_register,
    prune_versions,
)
from health_risk.pipelines.modeling.tuning import (
    Prepared,
    TimeCap,
    TrialLogger,
    tune_candidate,
    tuning_summary,
)

logger = logging.getLogger(__name__)


def _config(params: dict[str, Any], spec: dict[str, Any]) -> ModelingConfig:
    config = ModelingConfig.model_validate(params)
    if config.task != spec["task"]:
        raise ValueError(f"{config.study}: modeling task '{config.task}' differs from the "
                         f"feature spec task '{spec['task']}'")
    return config


def _part(model_input: DataFrame, name: str) -> DataFrame:
    return model_input.filter(F.col(SPLIT) == name)


def build_model_input(features: DataFrame, spec: dict[str, Any], params: dict[str, Any]
                      ) -> DataFrame:
    """The feature table with its ``split`` (assigned once by feature engineering from
    ``<study>.split``: seeded, 60/20/20 by default, stratified by label for classification) plus
    balanced class weights computed from the training split only."""
    config = _config(params, spec)
    require_split(features, config.study)
    train = _part(features, "train")
    _require_feature_values(train, spec, config.study)
    if config.task == "classification" and config.class_weighting == "balanced":
        return features.withColumn(CLASS_WEIGHT, balanced_class_weight(train))
    return features.withColumn(CLASS_WEIGHT, F.lit(1.0))


def _require_feature_values(train: DataFrame, spec: dict[str, Any], study: str) -> None:
    """Refuse before training when a feature has no value on the training split: imputation
    and encoding would have nothing to learn from (Spark's Imputer fails deep in the JVM)."""
    columns = [*spec["numeric_features"], *spec["categorical_features"]]
    counts = train.agg(F.count(F.lit(1)).alias("__rows"),
                       *[F.count(F.col(c)).alias(c) for c in columns]).first()
    empty = [c for c in columns if counts[c] == 0]
    if counts["__rows"] and empty:
        raise ValueError(
            f"{study}: feature(s) {empty} have no value in any of the {counts['__rows']} "
            "training rows (rule: feature_has_values); drop them from the feature lists or fix "
            "the source (the ingestion report lists empty columns under empty_columns)")


def train_candidates(model_input: DataFrame, spec: dict[str, Any],
                     params: dict[str, Any]) -> tuple[PipelineModel, pd.DataFrame, dict]:
    """Tune every enabled candidate on train/validation; return the best model, the summary of
    all trials and which candidate won."""
    config = _config(params, spec)
    numeric, categorical = spec["numeric_features"], spec["categorical_features"]
    train = _part(model_input, "train").cache()
    validation = _part(model_input, "validation")
    use_weights = config.task == "classification" and config.class_weighting == "balanced"
    run = mlflow.active_run()
    trial_logger = TrialLogger(run.info.run_id if run else None,
                               run.info.experiment_id if run else None)
    prepared: dict[bool, Prepared] = {}
    results = []
    cap = TimeCap(config.tuning.max_seconds)  # a safety cap, reported when it cuts
    workers = xgboost_workers(config.xgboost_workers, train, config.active_candidates)
    for name in config.active_candidates:
        scale = needs_scaling(name)
        if scale not in prepared:  # preprocessing fitted on train once per scaling choice
            prepared[scale] = Prepared.build(
                fit_preprocessing(train, numeric, categorical, scale), train, validation)
        results.append(tune_candidate(
            config.study, name, config.candidates[name], config.task, prepared[scale],
            use_weights, config.metric, config.tuning.seed, cap,
            config.tuning.parallel_trials, trial_logger, workers))
    for ready in prepared.values():
        ready.train.unpersist()
        ready.validation.unpersist()
    sign = 1 if higher_is_better(config.metric) else -1
    best = max(results, key=lambda r: sign * r.best_score)  # ties: the first listed
    summary = pd.DataFrame([{**t, "params": str(t["params"])} for r in results for t in r.trials])
    summary["best_of_candidate"] = [t["trial"] == r.best_trial
                                    for r in results for t in r.trials]
    tuning = tuning_summary(results, cap, config.tuning.parallel_trials)
    winner = {"candidate": best.candidate, "params": {k: _plain(v) for k, v in
                                                      best.best_params.items()},
              f"validation_{config.metric}": best.best_score,
              "candidates": {r.candidate: r.best_score for r in results},
              "trials": {r.candidate: r.done for r in results},
              "tuning": tuning, "xgboost_workers": workers}
    trial_logger.log_trial_counts(tuning)
    logger.info("%s: best candidate %s (validation %s %.4f)", config.study, best.candidate,
                config.metric, best.best_score)
    return best.best_model, summary, winner


def cross_validate_winner(model_input: DataFrame, spec: dict[str, Any], winner: dict,
                          params: dict[str, Any]) -> tuple[dict, dict]:
    """Repeated stratified k-fold of the winning configuration for small studies (mean and
    sd beside the single-split test figure); see ``cross_validation``."""
    config = _config(params, spec)
    report, history = cross_validate(model_input, spec, winner, config)
    if report["performed"]:
        summary = report["summary"][config.metric] if config.metric in report["summary"] \
            else next(iter(report["summary"].values()))
        logger.info("%s: %s %d x %d-fold CV %.4f +- %.4f", config.study, config.metric,
                    report["repeats"], report["folds"], summary["mean"], summary["sd"])
    return report, history


def calibrate_and_choose_threshold(best_model: PipelineModel, model_input: DataFrame,
                                   spec: dict[str, Any], params: dict[str, Any]
                                   ) -> tuple[PipelineModel, dict]:
    """Append a calibrator fitted on validation (``auto``: isotonic, Platt or none, whichever
    has the lowest Brier score in 2-fold cross-fitting on validation), then choose the decision
    threshold on the validation scores of the final model."""
    config = _config(params, spec)
    if config.task == "regression":
        return best_model, {"calibration": "not applicable", "threshold": None}
    validation = _part(model_input, "validation")
    scored = best_model.transform(validation).select(LABEL, "id", "probability",
                                                     "rawPrediction").cache()
    requested = config.calibration.method
    brier = cross_fitted_brier(scored, config.tuning.seed) if requested == "auto" else {}
    method = choose_method(requested, brier)
    final = best_model
    if method != "none":
        final = with_calibrator(best_model, calibrator(method).fit(scored))
    scored.unpersist()
    scores = collect_scores(final, validation, config.task, [LABEL])
    threshold = choose_threshold(scores[LABEL].to_numpy(), scores[SCORE].to_numpy(),
                                 config.threshold.strategy, config.threshold.recall_target)
    info = {"calibration": method, "cross_fitted_brier": brier, "threshold": threshold,
            "threshold_strategy": config.threshold.strategy,
            "recall_target": config.threshold.recall_target, "chosen_on": "validation"}
    return final, info


def evaluate_model(final_model: PipelineModel, model_input: DataFrame, spec: dict[str, Any],
                   calibration: dict, params: dict[str, Any]):
    """Validation and test metrics, reliability curve, subgroup table and evaluation plots."""
    config = _config(params, spec)
    weighted = bool(spec.get("weight_column")) and WEIGHT in model_input.columns
    keep = [LABEL, *[c for c in spec["subgroup_columns"] if c in model_input.columns],
            *([WEIGHT] if weighted else [])]
    valid = collect_scores(final_model, _part(model_input, "validation"), config.task, [LABEL])
    test = collect_scores(final_model, _part(model_input, "test"), config.task, keep)
    y_test, s_test = test[LABEL].to_numpy(), test[SCORE].to_numpy()
    title = f"{config.study}: {config.registered_model_name}"
    if config.task == "classification":
        threshold = calibration["threshold"]
        validation_metrics = classification_metrics(valid[LABEL], valid[SCORE], threshold)
        test_metrics = classification_metrics(y_test, s_test, threshold)
        curve = reliability_curve(y_test, s_test, config.calibration.n_bins)
        test_metrics["expected_calibration_error"] = expected_calibration_error(curve)
        figures = (plots.roc_pr_figure(y_test, s_test, title),
                   plots.reliability_figure(curve, f"{title}\nreliability (test)"),
                   plots.confusion_figure(y_test, s_test, threshold, title))
    else:
        threshold = None
        validation_metrics = regression_metrics(valid[LABEL], valid[SCORE])
        test_metrics = regression_metrics(y_test, s_test)
        # The same quantile-bin table: mean actual vs mean predicted per bin of the prediction.
        curve = reliability_curve(y_test, s_test, config.calibration.n_bins)
        figures = (plots.residual_figure(y_test, s_test, title),
                   plots.reliability_figure(_scaled(curve), f"{title}\nmean actual vs predicted"
                                            " by decile (scaled to max)"),
                   plots.error_histogram_figure(y_test - s_test, title))
    groups = [c for c in keep[1:] if c != WEIGHT]
    uncertainty = config.uncertainty
    subgroups = subgroup_metrics(test.rename(columns={SCORE: "score"}), groups, config.task,
                                 threshold, config.subgroup_min_count, uncertainty)
    if weighted and config.task == "classification":
        test_metrics.update(weighted_classification_metrics(y_test, s_test, test[WEIGHT]))
    intervals = bootstrap_intervals(y_test, s_test, config.task, threshold,
                                    uncertainty.bootstrap_replicates, uncertainty.confidence,
                                    uncertainty.seed)
    report = {"study": config.study, "task": config.task, "primary_metric": config.metric,
              "validation": validation_metrics, "test": test_metrics,
              "test_intervals": intervals,
              "test_by_area": (_weighted_by_area(test, config.area_column)
                               if weighted and config.area_column in test.columns else []),
              "interval_method": (f"{uncertainty.confidence:.0%} percentile interval, "
                                  f"{uncertainty.bootstrap_replicates} bootstrap replicates of "
                                  "the test rows" + (" stratified by label"
                                                     if config.task == "classification" else "")
                                  + f", seed {uncertainty.seed}"),
              **calibration}
    logged = {**test_metrics, **{f"{name}_ci_{end}": bounds[end]
                                 for name, bounds in intervals.items() for end in ("low", "high")}}
    return (_as_metric_history(validation_metrics), _as_metric_history(logged), report,
            curve, subgroups, *figures)


def _weighted_by_area(test: pd.DataFrame, area: str) -> list[dict[str, Any]]:
    """Survey-weighted observed prevalence and mean score per area on the test split."""
    rows = []
    for value, part in test.groupby(area, dropna=False):
        w = part[WEIGHT].astype(float)
        rows.append({area: None if pd.isna(value) else value, "test_rows": len(part),
                     "observed_weighted": float(np.average(part[LABEL], weights=w)),
                     "predicted_weighted": float(np.average(part[SCORE], weights=w))})
    return rows


def _scaled(curve: pd.DataFrame) -> pd.DataFrame:
    top = float(max(curve["mean_predicted"].max(), curve["observed_rate"].max()) or 1.0)
    return curve.assign(mean_predicted=curve["mean_predicted"] / top,
                        observed_rate=curve["observed_rate"] / top)


def explain_model(final_model: PipelineModel, model_input: DataFrame, spec: dict[str, Any],
                  params: dict[str, Any]):
    """Mean |SHAP| per feature on a seeded sample of the training split, and a summary plot."""
    config = _config(params, spec)
    train = _part(model_input, "train")
    total = train.count()
    fraction = min(1.0, 1.2 * config.explain.sample_rows / max(total, 1))
    sample = train.sample(fraction=fraction, seed=config.tuning.seed).limit(
        config.explain.sample_rows)
    explanation = explain(final_model, sample, spec["numeric_features"],
                          spec["categorical_features"], config.explain.max_tree_nodes)
    figure = summary_figure(explanation, f"{config.study}: feature effects ({explanation.method})")
    return explanation.importance, figure


def build_reference_profile(final_model: PipelineModel, model_input: DataFrame,
                            spec: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Summaries of the training split (every feature and the final model's score) that
    inference compares each batch with; registered with the model (see ``register_model``)."""
    config = _config(params, spec)
    numeric, categorical = spec["numeric_features"], spec["categorical_features"]
    scored = score(final_model, _part(model_input, "train"), config.task,
                   [*numeric, *categorical]).cache()
    profile = build_profile(scored, [*numeric, SCORE], categorical)
    scored.unpersist()
    return {"study": config.study, "task": config.task, "split": "train",
            "numeric_features": numeric, "categorical_features": categorical,
            "score_column": SCORE, **profile,
            "created_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")}


def register_model(final_model: PipelineModel, portable: PortableModel, spec: dict[str, Any],
                   winner: dict, calibration: dict, evaluation: dict,
                   reference_profile: dict[str, Any], params: dict[str, Any]) -> dict:
    """Register the final model as ``health_risk_<study>``: the Spark flavour for batch
    inference and the portable scorer as its ``python_function`` flavour (serving), with the
    reference profile of its training data beside it in the same run."""
    config = _config(params, spec)
    batch_only = portable.spec.get("batch_only")
    tags = {
        "study": config.study, "task": config.task, "candidate": winner["candidate"],
        "primary_metric": config.metric,
        f"validation_{config.metric}": evaluation["validation"][config.metric],
        f"test_{config.metric}": evaluation["test"][config.metric],
        "threshold": calibration.get("threshold"), "calibration": calibration.get("calibration"),
        "numeric_features": ",".join(spec["numeric_features"]),
        "categorical_features": ",".join(spec["categorical_features"]),
        "serving": (f"batch-only: {batch_only}" if batch_only else
                    f"python_function ({portable.spec['estimator']['runtime']})"),
    }
    dropped = spec.get("dropped_features") or []
    if dropped:  # which feature left the model, and why (feature_spec.json has the detail)
        tags["dropped_features"] = "; ".join(f"{d['feature']}: {d['reason']}" for d in dropped)
    return log_and_register(final_model, None if batch_only else portable, config, tags,
                            reference_profile, batch_only)


def promote_model(registration: dict, evaluation: dict, spec: dict[str, Any],
                  params: dict[str, Any]) -> tuple[dict, dict, dict]:
    """The quality gate: champion only if it passes thresholds and beats the champion; then
    the model-registry retention (``retention.keep_last_versions``) prunes old unaliased
    versions.

    The third output is the champion record that inference loads its model from: a dataset
    edge, so scoring waits for this gate under any runner and uses the version it left as
    champion.
    """
    config = _config(params, spec)
    decision = decide_promotion(config, registration, evaluation["validation"])
    decision["pruned_versions"] = prune_versions(decision["model_name"],
                                                 config.retention.keep_last_versions)
    champion = {"model_name": decision["model_name"], "version": decision["champion_version"],
                "gate_version": decision["version"], "promoted": decision["promoted"],
                "reasons": decision["reasons"]}
    return decision, {"promoted": {"value": float(decision["promoted"]), "step": 0}}, champion


def _as_metric_history(values: dict[str, float]) -> dict[str, dict[str, float]]:
    return {k: {"value": float(v), "step": 0} for k, v in values.items()
            if v is not None and not (isinstance(v, float) and np.isnan(v))}


def _plain(value):
    return value.item() if hasattr(value, "item") else value
