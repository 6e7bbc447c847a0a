"""Hyper-parameter values are checked against the estimators' own validators before a run."""

from __future__ import annotations

import pytest

from health_risk.core.modeling_config import ModelingConfig
from health_risk.pipelines.modeling.hyperparameters import (
    HyperparameterError,
    check_hyperparameters,
)

from ...committed_config import committed_params, studies_running
from .toy_features import modeling_params


def _config(**candidates) -> ModelingConfig:
    params = modeling_params("classification", study="stroke")
    params["candidates"] = candidates
    return ModelingConfig.model_validate(params)


def test_the_committed_candidates_pass_their_estimators(spark):
    params = committed_params("modeling")
    for study in studies_running("modeling"):
        assert check_hyperparameters(ModelingConfig.model_validate(params[study]["modeling"]))


@pytest.mark.parametrize("candidates, where", [
    ({"linear": {"fixed": {"maxIter": -1}}},
     r"stroke\.modeling\.candidates\.linear\.fixed': .*maxIter given invalid value -1"),
    ({"linear": {"search_space": {"elasticNetParam": {"low": 0.0, "high": 1.5}}}},
     r"linear\.search_space\.elasticNetParam=1\.5': .*elasticNetParam given invalid value"),
    ({"random_forest": {"fixed": {"numTrees": 0}}}, r"random_forest\.fixed': .*numTrees"),
    ({"xgboost": {"fixed": {"max_depth": 3, "learning_rate": -0.5}}},
     r"xgboost\.fixed': .*(eta|learning_rate)"),
])
def test_a_value_the_estimator_refuses_stops_before_the_run(spark, candidates, where):
    with pytest.raises(HyperparameterError, match=where + r".*rule: estimator_validator"):
        check_hyperparameters(_config(**candidates))
