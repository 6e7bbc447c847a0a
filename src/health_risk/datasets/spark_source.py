"""Spark loaders for delimited files and SQL tables, with lineage columns.

``SparkSourceDataset`` is ``spark.SparkDatasetV2`` plus: a clear error naming the file when it is
missing or empty, and the ``_source_file`` / ``_source_row`` lineage columns.

``SparkFromPandasDataset`` wraps any pandas dataset (a SQL table or query, an Excel sheet) and
hands it to Spark: the catalog entry alone decides whether a study reads a CSV or a database.
"""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import parse_dataset_definition
from kedro_datasets._utils.databricks_utils import to_spark_path
from kedro_datasets.spark import SparkDatasetV2

from health_risk.datasets.lineage import MALFORMED_RECORD, add_lineage, get_spark
from health_risk.datasets.paths import Location


class SparkSourceDataset(SparkDatasetV2):
    """A raw file read by Spark (CSV by default: every column as text, header kept as is)."""

    def __init__(self, *, filepath: str, file_format: str = "csv", **kwargs: Any) -> None:
        load_args = {"header": True, "inferSchema": False, "encoding": "UTF-8",
                     "multiLine": False} if file_format == "csv" else {}
        load_args.update(kwargs.pop("load_args", None) or {})
        super().__init__(filepath=filepath, file_format=file_format, load_args=load_args,
                         **kwargs)
        self._raw_filepath = filepath

    # SparkDatasetV2 implements ``_load``, which Kedro aliases to ``load`` in every subclass:
    # override ``_load`` so these checks run.
    def _load(self):
        self._check_source()
        df = super()._load()
        if not df.columns:
            raise DatasetError(f"Raw file '{self._raw_filepath}' has no header row / no columns.")
        if self._file_format == "csv":
            df = self._with_malformed_records(df)
        return add_lineage(df, self._raw_filepath)

    def _check_source(self) -> None:
        """Missing or empty: a clear error naming the file, local or remote. Spark reads the
        file itself, so where Python has no fsspec package for the scheme (Spark has the
        connector jar, Python not s3fs) the check is left to Spark."""
        try:
            source = Location.of(self._raw_filepath)
        except DatasetError:
            return
        if not source.fs.exists(source.path):
            raise DatasetError(f"Raw file not found: '{source}'. See README 'Using the real "
                               "public data' for where each download goes.")
        if source.is_file() and source.size() == 0:
            raise DatasetError(f"Raw file '{source}' is empty (0 bytes): no header, no rows.")

    def _with_malformed_records(self, header_read):
        """Read again with the header's columns plus Spark's corrupt-record column: a record
        with more fields than the header (Spark would silently drop the extras) or fewer keeps
        its raw line in ``_malformed_record``, and ingestion quarantines it (``field_count``).

        Column pruning is off for this read: with it, Spark's CSV parser tokenises only the
        columns a query selects and judges a record by those alone, so once the contract drops
        a column (a personal or undeclared one) a line with a field too many, or an unquoted
        comma inside an address, was no longer malformed: the extra value was dropped, or the
        shifted values were checked as if they were the columns'. The count is taken on the
        whole raw line, whatever columns the contract keeps."""
        from pyspark.sql import types as T

        names = header_read.columns
        if MALFORMED_RECORD in names:
            raise DatasetError(f"Raw file '{self._raw_filepath}' has a column named "
                               f"'{MALFORMED_RECORD}', which the reader reserves")
        schema = T.StructType([*(T.StructField(n, T.StringType()) for n in names),
                               T.StructField(MALFORMED_RECORD, T.StringType())])
        options = {**self._load_args, "mode": "PERMISSIVE",
                   "columnNameOfCorruptRecord": MALFORMED_RECORD, "enforceSchema": True,
                   "columnPruning": False}
        options.pop("inferSchema", None)
        load_path = to_spark_path(self._protocol, str(self._get_load_path()))
        # Spark refuses queries that touch only the corrupt-record column of a raw CSV scan;
        # every ingestion query reads the data columns too.
        return get_spark().read.schema(schema).options(**options).format("csv").load(load_path)


class SparkFromPandasDataset(AbstractDataset):
    """Any pandas dataset, loaded as a Spark DataFrame (all columns as text, like a CSV).

    ``save`` delegates to the wrapped dataset, so the same entry can seed a sample database.
    """

    def __init__(self, dataset: dict[str, Any], source_label: str | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        dataset_class, dataset_args = parse_dataset_definition(dict(dataset))
        self._inner = dataset_class(**dataset_args)
        self._label = source_label or _label_for(dataset_args)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"dataset": str(self._inner), "source": self._label}

    def _exists(self) -> bool:
        return self._inner.exists()

    def load(self):
        try:
            frame = self._inner.load()
        except Exception as exc:
            raise DatasetError(f"Cannot read raw source '{self._label}': {exc}") from exc
        if frame.columns.empty:
            raise DatasetError(f"Raw source '{self._label}' returned no columns.")
        # Text like a CSV, so the ingestion casts and validates every source the same way.
        text = frame.astype("string").astype(object).where(frame.notna(), None)
        spark = get_spark()
        schema = ", ".join(f"`{name}` string" for name in text.columns)
        df = spark.createDataFrame(text, schema=schema)
        return add_lineage(df.coalesce(1), self._label)

    def save(self, data) -> None:
        self._inner.save(data)


def _label_for(args: dict[str, Any]) -> str:
    # Never put credentials in a label: it ends up in quarantine rows and reports.
    for key in ("table_name", "sql", "filepath"):
        if key in args:
            return f"{key}={args[key]}"
    return "pandas source"
