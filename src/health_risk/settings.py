"""Kedro's project settings: the configuration loader and the hooks, both defined on the
framework floor (``health_risk.framework``)."""

from health_risk.framework.config_loader import CONFIG_LOADER_ARGS, StudyConfigLoader
from health_risk.framework.spark_start import start_for_command_line

# Stamps each study's namespace into its parameter blocks (health_risk.framework.config_loader).
CONFIG_LOADER_CLASS = StudyConfigLoader

# `kedro run` of a Spark pipeline: its session starts building now, in a thread, while the
# hooks below (mlflow among them), the pipelines and the catalog are imported and set up
# (framework.spark_start). The first project code Kedro runs is this module.
start_for_command_line(CONFIG_LOADER_CLASS, CONFIG_LOADER_ARGS)

from health_risk.framework.hooks import DISABLE_HOOKS_FOR_PLUGINS, HOOKS

__all__ = ["CONFIG_LOADER_ARGS", "CONFIG_LOADER_CLASS", "DISABLE_HOOKS_FOR_PLUGINS", "HOOKS"]
