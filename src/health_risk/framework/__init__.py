"""The framework floor: Kedro settings and hooks, configuration loading, the study registry
as configuration, parameter validation and pipeline registration. It may import every floor
below it; nothing imports it but ``health_risk.settings`` and ``health_risk.pipeline_registry``."""

from health_risk.framework.library_warnings import silence_library_noise

# Before any framework module imports kedro-mlflow (the hooks), whose import warns; again when
# each config loader is created (``StudyConfigLoader.__init__``).
silence_library_noise()
