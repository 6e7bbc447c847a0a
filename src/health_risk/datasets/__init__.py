"""Kedro datasets for the raw formats the project reads (all I/O lives here, not in nodes)."""

from health_risk.datasets.saipe import SaipeDataset
from health_risk.datasets.sas_xport import SasXportDataset
from health_risk.datasets.spark_source import SparkFromPandasDataset, SparkSourceDataset

__all__ = ["SaipeDataset", "SasXportDataset", "SparkFromPandasDataset", "SparkSourceDataset"]
