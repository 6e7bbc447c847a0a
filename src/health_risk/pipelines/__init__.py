"""The generic pipelines, one package each, siblings: none imports another (import-linter's
``siblings`` contract). What two of them share lives in ``health_risk.core``.
``health_risk.pipeline_registry`` finds them by name and builds each from the study registry."""
