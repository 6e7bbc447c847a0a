"""Batches of new people to score: one parquet folder per batch (``batch_id=<id>``), read as one
table, with each batch's own files and the columns each file lacks.

Spark reads a partitioned folder as one table with one schema. A file that lacks a column then
shows nulls in it (with ``mergeSchema``), or the column vanishes for every batch (without it,
Spark takes the schema of whichever file it reads first), so a check on the table cannot tell a
batch whose file has no such column from one whose values are missing. The loader therefore
reads every data file's own columns (its parquet footer: a few KiB, not the rows) and records,
per batch, its files and the columns each lacks, in the metadata of the ``batch_id`` column,
where :func:`batch_files` finds them. Inference refuses a batch whose file lacks a required
column (``core``'s contract names the columns; this module only reads what is on disk).
"""

from __future__ import annotations

import logging
import posixpath
from typing import Any, ClassVar
from urllib.parse import unquote

from kedro.io import DatasetError
from kedro_datasets.spark import SparkDatasetV2

from health_risk.datasets.paths import Location

logger = logging.getLogger(__name__)

PARTITION = "batch_id"
# Metadata key on the batch-id column: {batch id: {file: [columns the file lacks]}}.
BATCH_FILES_METADATA = "health_risk.batch_files"
NO_BATCH_ERRORS = ("PATH_NOT_FOUND", "UNABLE_TO_INFER_SCHEMA", "Path does not exist")


class SparkBatchesDataset(SparkDatasetV2):
    """``spark.SparkDatasetV2`` over a folder partitioned by ``batch_id``, read with
    ``mergeSchema`` (every batch sees the union of the files' columns, whichever file Spark
    opens first) and tagged with each batch's files and the columns each file lacks.

    A folder that does not exist yet or holds no data file loads as a table with no rows (only
    ``batch_id``): "no batch" is the reader's answer, not an error. Saving a frame without rows
    writes nothing (the previous batches stay as they were).
    """

    DEFAULT_LOAD_ARGS: ClassVar[dict[str, Any]] = {"mergeSchema": True}

    def __init__(self, *, filepath: str, file_format: str = "parquet", **kwargs: Any) -> None:
        if file_format != "parquet":
            raise DatasetError(f"SparkBatchesDataset reads parquet batches, not {file_format}")
        super().__init__(filepath=filepath, file_format=file_format, **kwargs)
        self._folder = filepath

    def _load(self):
        try:
            table = super()._load()
        except Exception as exc:  # Spark's AnalysisException: no folder, or no data file in it
            if not any(marker in str(exc) for marker in NO_BATCH_ERRORS):
                raise
            from pyspark.sql import types as T

            from health_risk.datasets.lineage import get_spark

            logger.info("no batch in %s yet", self._folder)
            schema = T.StructType([T.StructField(PARTITION, T.StringType())])
            return get_spark().createDataFrame([], schema)
        if PARTITION not in table.columns:
            return table  # not partitioned by batch: nothing to tag, the reader says so
        data_columns = [c for c in table.columns if c != PARTITION]
        files = self._file_columns()
        tagged = {batch: {name: [c for c in data_columns if c not in columns]
                          for name, columns in found.items()}
                  for batch, found in files.items()}
        return table.withMetadata(PARTITION, {BATCH_FILES_METADATA: tagged})

    def _save(self, data) -> None:
        if hasattr(data, "isEmpty") and data.isEmpty():
            logger.info("no row to write to %s: the batches there are unchanged", self._folder)
            return
        super()._save(data)

    def _file_columns(self) -> dict[str, dict[str, list[str]]]:
        """{batch id: {file URL: its columns}} from the footers of the folder's data files
        (where Python has no filesystem for the URL's scheme: {} and a warning)."""
        import pyarrow.parquet as pq

        try:
            folder = Location.of(self._folder)
        except DatasetError as exc:
            logger.warning("cannot list the batch files of %s (%s): batches are checked on "
                           "their values only", self._folder, exc)
            return {}
        root = folder.path.rstrip("/")
        found: dict[str, dict[str, list[str]]] = {}
        for path in sorted(folder.fs.find(root)):
            parts = posixpath.relpath(path, root).split("/")
            if any(p.startswith(("_", ".")) for p in parts) or not path.endswith(".parquet"):
                continue  # Spark's own markers and hidden files are not data
            batch = next((unquote(p.split("=", 1)[1]) for p in parts[:-1]
                          if p.startswith(f"{PARTITION}=")), None)
            if batch is None:
                continue
            with folder.fs.open(path, "rb") as handle:
                columns = pq.read_schema(handle).names
            url = folder.child(posixpath.relpath(path, root)).url
            found.setdefault(batch, {})[url] = columns
        return found


def batch_files(batches, batch_id: str) -> dict[str, list[str]] | None:
    """{file: [columns it lacks]} of one batch as :class:`SparkBatchesDataset` read them, or
    None when the frame does not come from that reader (an in-memory frame in a test)."""
    if PARTITION not in batches.columns:
        return None
    tagged = batches.schema[PARTITION].metadata.get(BATCH_FILES_METADATA)
    if tagged is None:
        return None
    return dict(tagged.get(batch_id) or {})
