"""Bayesian hyper-parameter search (Optuna TPE) per candidate, each trial a nested MLflow run."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import mlflow
import optuna
from pyspark.sql import DataFrame

from health_risk.pipelines.modeling.config import CandidateConfig, SearchRange, higher_is_better
from health_risk.pipelines.modeling.estimators import LABEL, build_pipeline
from health_risk.pipelines.modeling.evaluation import classification_metrics, regression_metrics
from health_risk.pipelines.modeling.scoring import SCORE, collect_scores

logger = logging.getLogger(__name__)
optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass
class TuningResult:
    candidate: str
    best_params: dict[str, Any]
    best_score: float
    best_model: Any
    trials: list[dict[str, Any]] = field(default_factory=list)


def _suggest(trial: optuna.Trial, name: str, rng: SearchRange):
    if rng.type == "categorical":
        return trial.suggest_categorical(name, rng.choices)
    if rng.type == "int":
        return trial.suggest_int(name, int(rng.low), int(rng.high), log=rng.log)
    return trial.suggest_float(name, rng.low, rng.high, log=rng.log)


def validation_metric(model, validation: DataFrame, task: str, metric: str) -> float:
    scores = collect_scores(model, validation, task, [LABEL])
    if task == "classification":
        return classification_metrics(scores[LABEL], scores[SCORE], threshold=0.5)[metric]
    return regression_metrics(scores[LABEL], scores[SCORE])[metric]


def tune_candidate(
    study: str, candidate: str, config: CandidateConfig, task: str, train: DataFrame,
    validation: DataFrame, numeric: list[str], categorical: list[str], use_weights: bool,
    metric: str, seed: int, timeout_seconds: float,
) -> TuningResult:
    """Fit ``n_trials`` configurations on train, score each on validation, keep the best model.

    Fixed parameters win over the search space (so ``--params`` can pin one).
    """
    space = {k: v for k, v in config.search_space.items() if k not in config.fixed}
    direction = "maximize" if higher_is_better(metric) else "minimize"
    result = TuningResult(candidate, {}, float("nan"), None)

    def objective(trial: optuna.Trial) -> float:
        params = {**config.fixed, **{k: _suggest(trial, k, r) for k, r in space.items()}}
        started = time.perf_counter()
        model = build_pipeline(candidate, task, params, numeric, categorical,
                               use_weights).fit(train)
        value = validation_metric(model, validation, task, metric)
        seconds = time.perf_counter() - started
        record = {"candidate": candidate, "trial": trial.number, "params": params,
                  f"validation_{metric}": value, "fit_seconds": round(seconds, 2)}
        result.trials.append(record)
        _log_trial(study, candidate, trial.number, params, metric, value, seconds)
        better = (value > result.best_score if direction == "maximize"
                  else value < result.best_score)
        if result.best_model is None or better:
            result.best_model, result.best_params, result.best_score = model, params, value
        return value

    sampler = optuna.samplers.TPESampler(seed=seed)
    tuner = optuna.create_study(direction=direction, sampler=sampler,
                                study_name=f"{study}.{candidate}")
    tuner.optimize(objective, n_trials=config.n_trials, timeout=timeout_seconds)
    logger.info("%s %s: best validation %s = %.4f after %d trials", study, candidate, metric,
                result.best_score, len(result.trials))
    return result


def _log_trial(study, candidate, number, params, metric, value, seconds) -> None:
    """One nested MLflow run per trial, when a run is active (kedro-mlflow opens one)."""
    if mlflow.active_run() is None:
        return
    with mlflow.start_run(run_name=f"{study}.{candidate}.trial{number}", nested=True):
        mlflow.set_tags({"study": study, "candidate": candidate, "kind": "tuning_trial"})
        mlflow.log_params({k: str(v)[:250] for k, v in params.items()})
        mlflow.log_metrics({f"validation_{metric}": value, "fit_seconds": seconds})
