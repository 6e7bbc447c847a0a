"""Kedro datasets: the raw formats the project reads, the MLflow model-registry / monitoring
stores inference uses, and the reporting outputs (all I/O lives here, not in nodes).

Each class is imported from its module when first asked for (``health_risk.datasets.X`` in a
catalog entry, or ``from health_risk.datasets import X``): a run that reads a few tables does
not import the plotting, geography and model-registry libraries the others need (matplotlib
alone was 0.35 s of every ``kedro run``'s start).
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULE_OF = {
    "CachedSparkMemoryDataset": "spark_memory",
    "ChampionModelDataset": "mlflow_models",
    "IncomingFilesDataset": "incoming",
    "JsonReportDataset": "json_report",
    "MonitoringMetricsDataset": "mlflow_models",
    "OptionalDataset": "optional",
    "PngFigureDataset": "figures",
    "PublishedDataset": "publication",
    "QuickSightManifestDataset": "manifest",
    "SaipeDataset": "saipe",
    "SasXportDataset": "sas_xport",
    "SparkBatchesDataset": "batches",
    "SparkFromPandasDataset": "spark_source",
    "SparkSourceDataset": "spark_source",
    "UsStateBoundariesDataset": "geo",
}

__all__ = ["CachedSparkMemoryDataset", "ChampionModelDataset", "IncomingFilesDataset",
           "JsonReportDataset", "MonitoringMetricsDataset", "OptionalDataset", "PngFigureDataset",
           "PublishedDataset", "QuickSightManifestDataset", "SaipeDataset", "SasXportDataset",
           "SparkBatchesDataset", "SparkFromPandasDataset", "SparkSourceDataset",
           "UsStateBoundariesDataset"]  # the keys of _MODULE_OF (a test holds them equal)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})
