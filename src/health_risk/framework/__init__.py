"""The framework floor: Kedro settings and hooks, configuration loading, the study registry
as configuration, parameter validation and pipeline registration. It may import every floor
below it; nothing imports it but ``health_risk.settings`` and ``health_risk.pipeline_registry``."""
