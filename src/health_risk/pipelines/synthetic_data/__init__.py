"""The synthetic-data pipeline."""

from health_risk.pipelines.synthetic_data.pipeline import create_pipeline

__all__ = ["create_pipeline"]
