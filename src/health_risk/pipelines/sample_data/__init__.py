"""The sample_data pipeline."""

from health_risk.pipelines.sample_data.pipeline import create_pipeline

__all__ = ["create_pipeline"]
