"""Bayesian hyper-parameter search (Optuna TPE) per candidate, each trial a nested MLflow run.

Trials are the budget: a candidate runs exactly its ``n_trials`` trials, so the same data and
configuration give the same trials, the same champion and the same metrics on any machine and
under any load. The study's wall time (``tuning.max_seconds``) is only a safety cap: when it
cuts a search, a warning and the tuning summary (``cut_by_time``) say so.

Trials are asked, fitted and told in batches of ``tuning.parallel_trials``: the batch's
parameters are suggested in trial-number order, the batch is fitted (in threads when above 1:
Spark runs their jobs side by side) and its results are told in trial-number order before the
next batch is asked. With the seeded TPE sampler, the suggestions then depend on the seed and on
the results alone, never on which trial finished first.

The preprocessing is fitted once on the training split and its output cached; trials fit only
the estimator on it, which keeps a trial's cost to the model itself.
"""

from __future__ import annotations

import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import optuna
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from optuna.trial import TrialState
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
class TimeCap:
    """The study's safety cap on tuning wall time (``tuning.max_seconds``), counted from its
    creation. Not a budget: a search it cuts is reported as ``cut_by_time``."""

    max_seconds: float
    started: float = field(default_factory=time.perf_counter)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def reached(self) -> bool:
        return self.elapsed >= self.max_seconds


@dataclass
class TuningResult:
    candidate: str
    planned: int  # the candidate's n_trials
    best_params: dict[str, Any] = field(default_factory=dict)
    best_score: float = float("nan")
    best_trial: int | None = None
    best_model: PipelineModel | None = None
    trials: list[dict[str, Any]] = field(default_factory=list)  # sorted by trial number
    cut_by_time: bool = False  # the safety cap stopped it before its planned trials

    @property
    def done(self) -> int:
        return len(self.trials)


def tuning_summary(results: list[TuningResult], cap: TimeCap,
                   parallel_trials: int) -> dict[str, Any]:
    """What the search did, for ``winning_candidate.json`` and the study's MLflow run: trials
    done of planned per candidate, and whether the safety cap cut any of them."""
    return {"max_seconds": cap.max_seconds, "seconds": round(cap.elapsed, 2),
            "parallel_trials": parallel_trials,
            "cut_by_time": any(r.cut_by_time for r in results),
            "candidates": {r.candidate: {"trials": r.done, "planned": r.planned,
                                         "cut_by_time": r.cut_by_time} for r in results}}


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

    def log_trial_counts(self, summary: dict[str, Any]) -> None:
        """The tuning summary on the study's run: ``tuning.<candidate>.trials`` (done),
        ``tuning.<candidate>.cut_by_time`` (1 when the safety cap cut its search) and
        ``tuning.seconds``."""
        if self.parent_run_id is None:
            return
        now = int(time.time() * 1000)
        metrics = []
        for candidate, counts in summary["candidates"].items():
            metrics += [Metric(f"tuning.{candidate}.trials", float(counts["trials"]), now, 0),
                        Metric(f"tuning.{candidate}.cut_by_time",
                               float(counts["cut_by_time"]), now, 0)]
        metrics.append(Metric("tuning.seconds", float(summary["seconds"]), now, 0))
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


def _better(value: float, best: float, maximize: bool) -> bool:
    """Strictly better (ties keep the earlier trial); a missing value is worse than any."""
    if math.isnan(value):
        return False
    if math.isnan(best):
        return True
    return value > best if maximize else value < best


def tune_candidate(
    study: str, candidate: str, config: CandidateConfig, task: str, prepared: Prepared,
    use_weights: bool, metric: str, seed: int, cap: TimeCap, parallel_trials: int,
    trial_logger: TrialLogger, xgboost_workers: int = 1,
) -> TuningResult:
    """Fit ``n_trials`` configurations on train, score each on validation, keep the best (the
    lowest trial number among equal scores).

    Trials run in batches of ``parallel_trials`` (see the module). The safety cap is checked
    before each batch: once reached, no further batch starts and the result says
    ``cut_by_time``; the first trial always runs, so every candidate is compared. Fixed
    parameters win over the search space (so ``--params`` can pin one). The returned model is
    the fitted preprocessing followed by the best estimator.
    """
    space = {k: v for k, v in config.search_space.items() if k not in config.fixed}
    maximize = higher_is_better(metric)
    result = TuningResult(candidate, planned=config.n_trials)
    tuner = optuna.create_study(direction="maximize" if maximize else "minimize",
                                study_name=f"{study}.{candidate}",
                                sampler=optuna.samplers.TPESampler(seed=seed))

    def fit(params: dict[str, Any]) -> tuple[Any, float, float]:
        started = time.perf_counter()
        fitted = build_estimator(candidate, task, params, use_weights,
                                 xgboost_workers).fit(prepared.train)
        value = validation_metric(fitted, prepared.validation, task, metric)
        return fitted, value, time.perf_counter() - started

    pool = ThreadPoolExecutor(max_workers=parallel_trials,
                              thread_name_prefix=f"trial-{candidate}") \
        if parallel_trials > 1 else None
    try:
        while result.done < config.n_trials:
            size = min(parallel_trials, config.n_trials - result.done)
            if cap.reached():
                if result.done:
                    result.cut_by_time = True
                    break
                size = 1  # the first trial always runs
            # Asked and suggested here, in trial-number order: the sampler's state advances
            # the same way whatever the threads do.
            asked = []
            for _ in range(size):
                trial = tuner.ask()
                asked.append((trial, {**config.fixed,
                                      **{k: _suggest(trial, k, r) for k, r in space.items()}}))
            if pool is None:
                fits = [fit(params) for _, params in asked]
            else:
                futures = [pool.submit(fit, params) for _, params in asked]
                fits = [future.result() for future in futures]
            for (trial, params), (fitted, value, seconds) in zip(asked, fits, strict=True):
                finite = math.isfinite(value)
                tuner.tell(trial, value if finite else None,
                           state=TrialState.COMPLETE if finite else TrialState.FAIL)
                trial_logger.log(study, candidate, trial.number, params, metric, value,
                                 seconds)
                result.trials.append({"candidate": candidate, "trial": trial.number,
                                      "params": params, f"validation_{metric}": value,
                                      "fit_seconds": round(seconds, 2)})
                if result.best_model is None or _better(value, result.best_score, maximize):
                    result.best_params, result.best_score = params, value
                    result.best_trial = trial.number
                    result.best_model = PipelineModel(
                        stages=[*prepared.preprocessing.stages, fitted])
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    if result.cut_by_time:
        logger.warning(
            "%s %s: tuning.max_seconds (%g s) reached after %d of %d trials: the search was "
            "cut (cut_by_time) and its result depends on this machine's speed; raise "
            "%s.modeling.tuning.max_seconds or lower the candidate's n_trials",
            study, candidate, cap.max_seconds, result.done, result.planned, study)
    logger.info("%s %s: best validation %s = %.4f (trial %s) after %d of %d trials", study,
                candidate, metric, result.best_score, result.best_trial, result.done,
                result.planned)
    return result
