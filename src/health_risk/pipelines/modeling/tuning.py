"""Bayesian hyper-parameter search (Optuna TPE) per candidate, each trial a nested MLflow run.

The preprocessing is fitted once on the training split and its output cached; trials fit only
the estimator on it, which keeps a trial's cost to the model itself. Trials may run in parallel
threads (``tuning.parallel_trials``): Spark runs their jobs side by side.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import optuna
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame

from health_risk.core.columns import CLASS_WEIGHT, FEATURES, LABEL, SCORE
from health_risk.core.estimators import build_estimator
from health_risk.core.modeling_config import CandidateConfig, SearchRange, higher_is_better
from health_risk.core.scoring import collect_scores
from health_risk.pipelines.modeling.evaluation import classification_metrics, regression_metrics

logger = logging.getLogger(__name__)
optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass
class Prepared:
    """Training and validation splits already through the fitted preprocessing."""

    preprocessing: PipelineModel
    train: DataFrame
    validation: DataFrame

    @classmethod
    def build(cls, preprocessing: PipelineModel, train: DataFrame,
              validation: DataFrame) -> Prepared:
        columns = [LABEL, CLASS_WEIGHT, FEATURES]
        return cls(preprocessing,
                   preprocessing.transform(train).select(*columns).cache(),
                   preprocessing.transform(validation).select(*columns).cache())


@dataclass
class TuningResult:
    candidate: str
    best_params: dict[str, Any] = field(default_factory=dict)
    best_score: float = float("nan")
    best_model: PipelineModel | None = None
    trials: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TuningBudget:
    """A study's search time (``tuning.budget_seconds``), handed to its candidates in turn.

    Each candidate may use what is left divided by the candidates still to tune, at most
    ``timeout_seconds``; what it leaves unused passes on. Optuna checks the timeout between
    trials, so a candidate can overrun its share by the trial it had started.
    """

    total: float | None
    per_candidate_cap: float
    candidates: int
    spent: float = 0.0
    given: list[float] = field(default_factory=list)

    @contextmanager
    def candidate(self):
        done = len(self.given)
        share = self.per_candidate_cap
        if self.total is not None:
            remaining = max(self.total - self.spent, 0.0)
            # A candidate with no time left still gets its first trial (tune_candidate).
            share = min(share, remaining / max(self.candidates - done, 1))
        self.given.append(share)
        started = time.perf_counter()
        try:
            yield share
        finally:
            self.spent += time.perf_counter() - started

    def summary(self) -> dict[str, Any]:
        return {"budget_seconds": self.total, "timeout_seconds": self.per_candidate_cap,
                "seconds_given": [round(s, 2) for s in self.given],
                "seconds_spent": round(self.spent, 2)}


@dataclass
class TrialLogger:
    """Logs each trial as a child of the study's MLflow run (thread-safe: explicit run ids)."""

    parent_run_id: str | None
    experiment_id: str | None

    def log(self, study, candidate, number, params, metric, value, seconds) -> None:
        if self.parent_run_id is None:
            return
        client = MlflowClient()
        run = client.create_run(self.experiment_id, run_name=f"{study}.{candidate}.trial{number}",
                                tags={"mlflow.parentRunId": self.parent_run_id, "study": study,
                                      "candidate": candidate, "kind": "tuning_trial"})
        now = int(time.time() * 1000)
        client.log_batch(run.info.run_id,
                         metrics=[Metric(f"validation_{metric}", value, now, 0),
                                  Metric("fit_seconds", seconds, now, 0)],
                         params=[Param(k, str(v)[:250]) for k, v in params.items()])
        client.set_terminated(run.info.run_id)

    def log_trial_counts(self, study: str, trials: dict[str, int], seconds: float) -> None:
        """How many trials each candidate got (under a time budget this depends on the
        machine), on the study's run."""
        if self.parent_run_id is None:
            return
        now = int(time.time() * 1000)
        metrics = [Metric(f"tuning.{c}.trials", float(n), now, 0)
                   for c, n in trials.items()]
        metrics.append(Metric("tuning.seconds", float(seconds), now, 0))
        MlflowClient().log_batch(self.parent_run_id, metrics=metrics)


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
    study: str, candidate: str, config: CandidateConfig, task: str, prepared: Prepared,
    use_weights: bool, metric: str, seed: int, timeout_seconds: float, n_jobs: int,
    trial_logger: TrialLogger, xgboost_workers: int = 1,
) -> TuningResult:
    """Fit up to ``n_trials`` configurations on train within ``timeout_seconds`` (at least
    one), score each on validation, keep the best.

    Fixed parameters win over the search space (so ``--params`` can pin one). The returned
    model is the fitted preprocessing followed by the best estimator.
    """
    space = {k: v for k, v in config.search_space.items() if k not in config.fixed}
    direction = "maximize" if higher_is_better(metric) else "minimize"
    result = TuningResult(candidate)
    lock = threading.Lock()

    def objective(trial: optuna.Trial) -> float:
        params = {**config.fixed, **{k: _suggest(trial, k, r) for k, r in space.items()}}
        started = time.perf_counter()
        fitted = build_estimator(candidate, task, params, use_weights,
                                 xgboost_workers).fit(prepared.train)
        value = validation_metric(fitted, prepared.validation, task, metric)
        seconds = time.perf_counter() - started
        trial_logger.log(study, candidate, trial.number, params, metric, value, seconds)
        with lock:
            result.trials.append({"candidate": candidate, "trial": trial.number,
                                  "params": params, f"validation_{metric}": value,
                                  "fit_seconds": round(seconds, 2)})
            better = (value > result.best_score if direction == "maximize"
                      else value < result.best_score)
            if result.best_model is None or better:
                result.best_params, result.best_score = params, value
                result.best_model = PipelineModel(
                    stages=[*prepared.preprocessing.stages, fitted])
        return value

    tuner = optuna.create_study(direction=direction, study_name=f"{study}.{candidate}",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    # The first trial always runs, so every candidate is compared even when the budget is
    # spent; the rest stop at the cap or when the candidate's time is up.
    started = time.perf_counter()
    tuner.optimize(objective, n_trials=1)
    left = timeout_seconds - (time.perf_counter() - started)
    if config.n_trials > 1 and left > 0:
        tuner.optimize(objective, n_trials=config.n_trials - 1, timeout=left, n_jobs=n_jobs)
    result.trials.sort(key=lambda t: t["trial"])
    logger.info("%s %s: best validation %s = %.4f after %d trials", study, candidate, metric,
                result.best_score, len(result.trials))
    return result
