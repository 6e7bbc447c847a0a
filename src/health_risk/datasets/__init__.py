"""Kedro datasets: the raw formats the project reads and the MLflow registry / monitoring
stores inference uses (all I/O lives here, not in nodes)."""

from health_risk.datasets.mlflow_registry import ChampionModelDataset, MonitoringMetricsDataset
from health_risk.datasets.saipe import SaipeDataset
from health_risk.datasets.sas_xport import SasXportDataset
from health_risk.datasets.spark_source import SparkFromPandasDataset, SparkSourceDataset

__all__ = ["ChampionModelDataset", "MonitoringMetricsDataset", "SaipeDataset", "SasXportDataset",
           "SparkFromPandasDataset", "SparkSourceDataset"]
