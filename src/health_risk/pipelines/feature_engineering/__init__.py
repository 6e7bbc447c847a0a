"""The feature_engineering pipeline."""

from health_risk.pipelines import lazy_create_pipeline

__all__ = ["create_pipeline"]
__getattr__ = lazy_create_pipeline(__name__)
