"""Trials are the tuning budget (modeling.tuning): a candidate runs exactly its n_trials, the
same ones under any load and with parallel trials; wall time is only a reported safety cap."""

from __future__ import annotations

import functools
import logging
import random
import subprocess
import sys
import time

import optuna
import pytest
from pydantic import ValidationError
from pyspark.ml import PipelineModel
from pyspark.sql import functions as F

from health_risk.core.errors import ParameterError
from health_risk.core.estimators import fit_preprocessing
from health_risk.core.modeling_config import CandidateConfig, ModelingConfig
from health_risk.framework.validation import validate_parameters
from health_risk.pipelines.modeling import nodes, tuning

from .toy_features import CATEGORICAL, NUMERIC, feature_spec, modeling_params

SPEC = feature_spec("classification")
# Ridge (L-BFGS) in a few iterations: the cheapest real trial on the toy features.
LINEAR = {"fixed": {"maxIter": 5, "elasticNetParam": 0.0},
          "search_space": {"regParam": {"low": 0.001, "high": 1.0, "log": True}}}
NO_LOGGING = tuning.TrialLogger(None, None)


@pytest.fixture(scope="module")
def prepared(classification_features):
    model_input = nodes.build_model_input(classification_features, SPEC,
                                          modeling_params("classification"))
    train = model_input.filter(F.col("split") == "train")
    validation = model_input.filter(F.col("split") == "validation")
    ready = tuning.Prepared.build(fit_preprocessing(train, NUMERIC, CATEGORICAL, True),
                                  train, validation)
    yield ready
    ready.train.unpersist()
    ready.validation.unpersist()


def _tune(prepared, n_trials, cap, parallel_trials=1):
    return tuning.tune_candidate(
        "toy", "linear", CandidateConfig(n_trials=n_trials, **LINEAR), "classification",
        prepared, True, "roc_auc", 1, cap, parallel_trials, NO_LOGGING)


def _trials(result):
    return [(t["trial"], t["params"], t["validation_roc_auc"]) for t in result.trials]


def test_parallel_trials_give_the_same_search_under_load(prepared, monkeypatch):
    """Two start-up trials, then one that TPE suggests from their results: the same
    parameters and validation values with a CPU-bound process beside the second search."""
    monkeypatch.setattr(optuna.samplers, "TPESampler",
                        functools.partial(optuna.samplers.TPESampler, n_startup_trials=2))
    quiet = _tune(prepared, 3, tuning.TimeCap(900), parallel_trials=2)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        loaded = _tune(prepared, 3, tuning.TimeCap(900), parallel_trials=2)
    finally:
        busy.kill()
        busy.wait()
    assert _trials(quiet) == _trials(loaded)
    assert [t["trial"] for t in loaded.trials] == [0, 1, 2]
    assert quiet.done == loaded.done == 3 and not loaded.cut_by_time
    assert loaded.best_trial == quiet.best_trial
    assert loaded.best_params == quiet.best_params
    assert isinstance(loaded.best_model, PipelineModel)


def test_the_safety_cap_stops_after_the_first_trial_and_says_so(prepared, caplog):
    cap = tuning.TimeCap(0.001)
    with caplog.at_level(logging.WARNING, logger=tuning.__name__):
        result = _tune(prepared, 3, cap)
    assert result.done == 1 and result.planned == 3 and result.cut_by_time
    assert result.best_model is not None  # the first trial always runs: it is compared
    warning = next(r for r in caplog.records if r.levelno == logging.WARNING)
    assert "toy linear" in warning.getMessage()
    assert "after 1 of 3 trials" in warning.getMessage()
    assert "max_seconds" in warning.getMessage()
    summary = tuning.tuning_summary([result], cap, 1)
    assert summary["cut_by_time"] is True
    assert summary["max_seconds"] == 0.001
    assert summary["candidates"] == {"linear": {"trials": 1, "planned": 3,
                                                "cut_by_time": True}}


def _fake_trials(monkeypatch, *, jitter: bool):
    """Trials without Spark: the value is a function of the parameters; with jitter, each fit
    sleeps a random time so that parallel trials finish in any order."""

    class Fake:
        def __init__(self, params):
            self.params = params

        def fit(self, _train):
            if jitter:
                time.sleep(random.uniform(0, 0.02))
            return self

    monkeypatch.setattr(tuning, "build_estimator", lambda _c, _t, params, *_: Fake(params))
    monkeypatch.setattr(tuning, "validation_metric",
                        lambda fitted, *_: round(-abs(fitted.params["x"] - 0.3), 1))
    return tuning.Prepared(PipelineModel(stages=[]), None, None)


def test_the_trials_do_not_depend_on_which_parallel_trial_finishes_first(monkeypatch):
    """Beyond TPE's ten start-up trials, with fits that finish in random order."""
    prepared = _fake_trials(monkeypatch, jitter=True)
    config = CandidateConfig(n_trials=16, search_space={"x": {"low": 0.0, "high": 1.0}})

    def search(parallel_trials):
        result = tuning.tune_candidate("toy", "linear", config, "classification", prepared,
                                       False, "roc_auc", 3, tuning.TimeCap(900),
                                       parallel_trials, NO_LOGGING)
        return [(t["trial"], t["params"]["x"]) for t in result.trials]

    assert search(4) == search(4)
    assert len(search(3)) == 16


def test_equal_scores_go_to_the_lowest_trial_number(monkeypatch):
    prepared = _fake_trials(monkeypatch, jitter=False)  # values rounded: many equal scores
    config = CandidateConfig(n_trials=12, search_space={"x": {"low": 0.0, "high": 1.0}})
    result = tuning.tune_candidate("toy", "linear", config, "classification", prepared, False,
                                   "roc_auc", 3, tuning.TimeCap(900), 2, NO_LOGGING)
    best = max(t["validation_roc_auc"] for t in result.trials)
    assert result.best_trial == min(t["trial"] for t in result.trials
                                    if t["validation_roc_auc"] == best)
    assert result.best_score == best


@pytest.mark.parametrize("key", ["budget_seconds", "timeout_seconds"])
def test_a_wall_time_budget_is_refused_naming_what_replaced_it(key):
    params = modeling_params("classification", tuning={"seed": 1, key: 25})
    with pytest.raises(ValidationError, match=rf"{key}.*no longer exist.*n_trials.*max_seconds"):
        ModelingConfig.model_validate(params)
    with pytest.raises(ParameterError, match=rf"'toy\.modeling'.*tuning: .*{key}"):
        validate_parameters({"toy": {"modeling": params}})


def test_the_cap_defaults_to_a_generous_900_seconds_per_study():
    config = ModelingConfig.model_validate(modeling_params("classification"))
    assert config.tuning.max_seconds == 900
