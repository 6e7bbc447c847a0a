"""Kedro's project settings: the configuration loader and the hooks, both defined on the
framework floor (``health_risk.framework``)."""

from health_risk.framework.config_loader import CONFIG_LOADER_ARGS, StudyConfigLoader
from health_risk.framework.hooks import DISABLE_HOOKS_FOR_PLUGINS, HOOKS

# Stamps each study's namespace into its parameter blocks (health_risk.framework.config_loader).
CONFIG_LOADER_CLASS = StudyConfigLoader
__all__ = ["CONFIG_LOADER_ARGS", "CONFIG_LOADER_CLASS", "DISABLE_HOOKS_FOR_PLUGINS", "HOOKS"]
