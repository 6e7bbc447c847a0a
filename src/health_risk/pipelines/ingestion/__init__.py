"""The ingestion pipeline."""

from health_risk.pipelines.ingestion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
