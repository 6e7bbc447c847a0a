"""The modeling pipeline."""

from health_risk.pipelines.modeling.pipeline import create_pipeline

__all__ = ["create_pipeline"]
