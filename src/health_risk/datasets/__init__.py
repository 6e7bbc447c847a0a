"""Kedro datasets: the raw formats the project reads, the MLflow model-registry / monitoring
stores inference uses, and the reporting outputs (all I/O lives here, not in nodes)."""

from health_risk.datasets.batches import SparkBatchesDataset
from health_risk.datasets.figures import PngFigureDataset
from health_risk.datasets.geo import UsStateBoundariesDataset
from health_risk.datasets.incoming import IncomingFilesDataset
from health_risk.datasets.json_report import JsonReportDataset
from health_risk.datasets.manifest import QuickSightManifestDataset
from health_risk.datasets.mlflow_models import ChampionModelDataset, MonitoringMetricsDataset
from health_risk.datasets.optional import OptionalDataset
from health_risk.datasets.publication import PublishedDataset
from health_risk.datasets.saipe import SaipeDataset
from health_risk.datasets.sas_xport import SasXportDataset
from health_risk.datasets.spark_memory import CachedSparkMemoryDataset
from health_risk.datasets.spark_source import SparkFromPandasDataset, SparkSourceDataset

__all__ = ["CachedSparkMemoryDataset", "ChampionModelDataset", "IncomingFilesDataset", "JsonReportDataset", "MonitoringMetricsDataset", "OptionalDataset",
           "PngFigureDataset", "PublishedDataset", "QuickSightManifestDataset", "SaipeDataset", "SasXportDataset",
           "SparkBatchesDataset", "SparkFromPandasDataset", "SparkSourceDataset", "UsStateBoundariesDataset"]
