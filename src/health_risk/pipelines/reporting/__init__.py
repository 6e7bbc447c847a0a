"""Reporting: aggregates with QuickSight manifests, charts, population estimates, model report
and the self-contained HTML report."""

from health_risk.pipelines.reporting.pipeline import create_pipeline

__all__ = ["create_pipeline"]
