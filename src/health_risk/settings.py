"""Project settings: hooks, configuration loader and environment-variable resolver."""

import os

from kedro.config import OmegaConfigLoader

from health_risk.hooks import ParameterValidationHooks, SparkHooks


def _env(name: str, default: str | None = None) -> str | None:
    """``${env:NAME,default}`` in any config file (Kedro only enables ``oc.env`` for credentials)."""
    return os.environ.get(name, default)


# Parameters are validated first, then the Spark session is built.
HOOKS = (ParameterValidationHooks(), SparkHooks())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "spark": ["spark*", "spark*/**"],
        "parameters": ["parameters*", "parameters*/**", "**/parameters*"],
    },
    "custom_resolvers": {"env": _env},
    # conf/test and conf/cluster override single keys, not whole files.
    "merge_strategy": {"parameters": "soft", "catalog": "soft", "spark": "soft", "mlflow": "soft"},
}
