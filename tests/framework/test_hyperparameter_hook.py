"""HyperparameterValidationHooks checks the candidates of the studies whose nodes fit them
(tagged FITS_CANDIDATES), before any node runs."""

from __future__ import annotations

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node

from health_risk.framework.hooks.validation import HyperparameterValidationHooks
from health_risk.pipelines.modeling.hyperparameters import HyperparameterError
from health_risk.spark.mode import FITS_CANDIDATES

from ..pipelines.modeling.toy_features import modeling_params


def _pipeline(tags) -> Pipeline:
    return Pipeline([node(lambda x: x, "a", "b", name="fit", namespace="toy", tags=tags)])


def test_a_refused_value_stops_the_run_only_where_candidates_are_fitted(spark):
    params = modeling_params("classification", study="toy", candidates_to_run="linear")
    params["candidates"] = {"linear": {"fixed": {"maxIter": -1}}}
    catalog = DataCatalog(datasets={"params:toy.modeling": MemoryDataset(params)})
    hooks = HyperparameterValidationHooks()
    with pytest.raises(HyperparameterError, match=r"toy\.modeling\.candidates\.linear\.fixed"):
        hooks.before_pipeline_run({}, _pipeline([FITS_CANDIDATES]), catalog)
    hooks.before_pipeline_run({}, _pipeline([]), catalog)  # nothing fits: nothing checked
