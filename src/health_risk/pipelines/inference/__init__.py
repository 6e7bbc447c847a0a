"""The inference pipeline."""

from health_risk.pipelines.inference.pipeline import create_pipeline

__all__ = ["create_pipeline"]
