"""Hyper-parameters checked against each estimator's own validators before any node runs.

A ``fixed`` value or a search-space bound that the estimator refuses (``maxIter=-1``) would
otherwise pass the configuration check, let the split be written, and fail minutes later
inside training. MLlib estimators validate a value when it reaches the JVM object, so each value
(and both ends of each numeric range, every categorical choice) is set on a fresh estimator;
xgboost validates at training time, so its values are tried on a fit of four rows.
"""

from __future__ import annotations

from typing import Any

from health_risk.core.errors import HealthRiskError
from health_risk.core.estimators import build_estimator
from health_risk.core.lazy_import import LAZY_IMPORT_LOCK
from health_risk.core.modeling_config import ModelingConfig


class HyperparameterError(HealthRiskError):
    """A hyper-parameter value the estimator refuses."""


def _values_to_check(candidate) -> list[tuple[str, dict[str, Any]]]:
    """(where, params) pairs: the fixed values, then each search bound or choice with them."""
    checks = [("fixed", dict(candidate.fixed))]
    for key, space in candidate.search_space.items():
        if key in candidate.fixed:
            continue  # fixed wins over the search space
        values = space.choices if space.type == "categorical" else [space.low, space.high]
        for value in values:
            if space.type == "int":
                value = int(value)
            checks.append((f"search_space.{key}={value}", {**candidate.fixed, key: value}))
    return checks


def _check_xgboost(task: str, params: dict[str, Any]) -> None:
    import numpy as np
    with LAZY_IMPORT_LOCK:
        import xgboost

    model = (xgboost.XGBClassifier if task == "classification" else xgboost.XGBRegressor)(
        **{k: v for k, v in params.items() if k not in ("num_workers", "use_gpu")})
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    model.fit(x, np.array([0, 1, 0, 1]))


def check_hyperparameters(config: ModelingConfig, jvm: bool = True) -> int:
    """Raise ``HyperparameterError`` naming study, candidate, parameter and the estimator's own
    message on the first refused value; return how many value sets were checked. Needs an active
    classic SparkSession for the MLlib candidates; with ``jvm=False`` (Spark Connect: the
    validators live in the server's JVM, which checks each value when the estimator is fitted)
    only xgboost's values are checked."""
    checked = 0
    for name in config.active_candidates:
        if name != "xgboost" and not jvm:
            continue
        candidate = config.candidates[name]
        for where, params in _values_to_check(candidate):
            try:
                estimator = build_estimator(name, config.task, params, use_weights=False)
                if name == "xgboost":
                    _check_xgboost(config.task, params)
                else:
                    estimator._transfer_params_to_java()  # the JVM runs its validators here
            except Exception as exc:  # each library raises its own type
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise HyperparameterError(
                    f"Invalid parameters '{config.study}.modeling.candidates.{name}.{where}': "
                    f"{message} (rule: estimator_validator)") from exc
            checked += 1
    return checked
