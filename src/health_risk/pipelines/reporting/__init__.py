"""Reporting: aggregates with QuickSight manifests, charts, population estimates, model report
and one self-contained HTML report."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
