"""The feature_engineering pipeline."""

from health_risk.pipelines.feature_engineering.pipeline import create_pipeline

__all__ = ["create_pipeline"]
