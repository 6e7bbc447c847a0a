"""Project settings: hooks, configuration loader and environment-variable resolver."""

import os

from health_risk.config_loader import StudyConfigLoader
from health_risk.hooks import (
    HyperparameterValidationHooks,
    ParameterValidationHooks,
    RunTerminationHooks,
    SparkHooks,
    StudyRegistryHooks,
    StudyRunHooks,
)


def _env(name: str, default: str | None = None) -> str | None:
    """``${env:NAME,default}`` in any config file (Kedro only enables ``oc.env`` for credentials)."""
    return os.environ.get(name, default)


# The registry hook hands the run's config loader to pipeline registration. Pluggy calls hooks
# last-registered first: ParameterValidationHooks (last) validates the blocks before SparkHooks
# starts the JVM, and HyperparameterValidationHooks then checks the candidates' values against
# the estimators' own validators (MLlib needs the JVM for that). RunTerminationHooks runs first
# of ours, after kedro-mlflow (a plugin, registered later) has started the MLflow run it guards.
HOOKS = (StudyRegistryHooks(), HyperparameterValidationHooks(), SparkHooks(),
         ParameterValidationHooks(), RunTerminationHooks(), StudyRunHooks())

# Stamps each study's namespace into its parameter blocks (health_risk.studies).
CONFIG_LOADER_CLASS = StudyConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "spark": ["spark*", "spark*/**"],
        "studies": ["studies*", "studies*/**"],
        "parameters": ["parameters*", "parameters*/**", "**/parameters*"],
    },
    "custom_resolvers": {"env": _env},
    # conf/test and conf/cluster override single keys, not whole files.
    "merge_strategy": {"studies": "soft", "parameters": "soft", "catalog": "soft",
                       "spark": "soft", "mlflow": "soft"},
}
