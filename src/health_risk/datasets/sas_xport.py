"""SAS transport (XPORT v5) files, as the CDC publishes the BRFSS annual survey.

Loading never holds the whole file in pandas: the file is read in chunks, each chunk is written
to a parquet staging folder, and Spark reads the folder. The staging folder is reused while the
source file is unchanged (same size and modification time), so reruns skip the conversion.

Saving takes a pandas DataFrame and writes a genuine XPORT v5 file with ``pyreadstat`` (used by
the ``sample_data`` pipeline to produce files in the real format).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from kedro.io import AbstractDataset, DatasetError

from health_risk.datasets.lineage import SOURCE_FILE, SOURCE_ROW, get_spark
from health_risk.datasets.paths import Location

XPORT_RECORD_BYTES = 80  # XPORT v5 is a sequence of 80-byte records, the last one blank-padded
XPORT_MAGIC = b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!"
# pandas decodes IBM-float true zeros as ~5.4e-79 (see docs/data.md); anything this small is 0.
IBM_ZERO_NOISE = 1e-70
# Reads of a remote source in large blocks: pandas reads an XPORT file in 80-byte records.
READ_BLOCK_BYTES = 16 * 1024 * 1024


class SasXportDataset(AbstractDataset):
    """A ``.XPT`` file (or the CDC ``.zip`` holding one) loaded as a Spark DataFrame.

    Both paths may be local or URLs any Spark understands (``s3a://``, ``hdfs://``, ...; see
    ``datasets/paths.py``): the source is read through fsspec and the staging folder is written
    where the cluster's executors can read it.

    Args:
        filepath: the ``.XPT`` file, or the ``.zip`` as downloaded from the CDC.
        staging_path: folder for the parquet staging copy (default: beside ``filepath``).
        chunksize: rows converted at a time; bounds the driver memory used.
        encoding: encoding of character variables.
        columns: optional subset of variables to keep (all by default).
        save_args: passed to ``pyreadstat.write_xport`` (e.g. ``table_name``).
    """

    def __init__(
        self,
        filepath: str,
        staging_path: str | None = None,
        chunksize: int = 50_000,
        encoding: str = "latin-1",
        columns: list[str] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._source = Location.of(filepath)
        self._staging = Location.of(staging_path) if staging_path else self._source.sibling(
            self._source.name.strip() + ".parquet-staging")
        self._chunksize = int(chunksize)
        self._encoding = encoding
        self._columns = columns
        self._save_args = {"file_format_version": 5, "table_name": "LLCP"} | (save_args or {})
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._source.url, "staging_path": self._staging.url,
                "chunksize": self._chunksize}

    def _exists(self) -> bool:
        return self._resolve_source() is not None

    # -- loading ---------------------------------------------------------------------------
    def load(self):
        source = self._resolve_source()
        if source is None:
            raise DatasetError(
                f"BRFSS file not found: '{self._source}' (also tried the CDC name with a "
                "trailing space). See README 'Using the real public data'."
            )
        if not self._staging_is_current(source):
            self._convert_to_parquet(source)
        return get_spark().read.parquet(self._staging.child("data").spark_path())

    def _resolve_source(self) -> Location | None:
        # The 2022/2023 CDC zips unpack to 'LLCP2023.XPT ' (trailing space): accept both.
        for candidate in (self._source, self._source.with_suffix_space()):
            if candidate.is_file():
                return candidate
        return None

    def _fingerprint(self, source: Location) -> dict[str, Any]:
        return {"source": source.url, **source.version(), "columns": self._columns,
                "encoding": self._encoding}

    def _staging_is_current(self, source: Location) -> bool:
        marker = self._staging.child("_SOURCE.json")
        return marker.is_file() and json.loads(marker.read_text()) == self._fingerprint(source)

    def _convert_to_parquet(self, source: Location) -> None:
        self._staging.remove_tree()
        data_dir = self._staging.child("data")
        data_dir.makedirs()
        with tempfile.TemporaryDirectory(prefix="xpt-unzip-") as scratch:
            xpt = self._extract_if_zipped(source, Path(scratch))
            self._write_parts(source, xpt, data_dir)
        # Last: a half-written staging folder is never taken for a current one.
        self._staging.child("_SOURCE.json").write_text(json.dumps(self._fingerprint(source)))

    def _write_parts(self, source: Location, xpt: Location, data_dir: Location) -> None:
        label = str(source)
        check_xport_file(xpt, label=label)
        schema = None
        offset = 0
        with xpt.open("rb", block_size=READ_BLOCK_BYTES) as handle:
            try:
                reader = pd.read_sas(
                    handle, format="xport", chunksize=self._chunksize, encoding=self._encoding
                )
            except Exception as exc:  # pandas raises ValueError/OSError with terse messages
                raise DatasetError(f"Cannot read SAS transport file '{label}': {exc}") from exc
            check_whole_observations(handle, xpt.size(), reader, label=label)
            with reader:
                for part, chunk in enumerate(_iter_chunks(reader, label, self._chunksize)):
                    table = _chunk_to_arrow(chunk, offset, label, self._columns)
                    if schema is None:
                        schema = table.schema
                    table = _conform(table, schema, label)
                    with data_dir.child(f"part-{part:05d}.parquet").open("wb") as out:
                        pq.write_table(table, out)
                    offset += len(chunk)
        if schema is None:
            raise DatasetError(f"SAS transport file '{label}' holds no observations (0 rows).")

    def _extract_if_zipped(self, source: Location, scratch: Path) -> Location:
        """The ``.XPT`` member of a CDC zip, unpacked into ``scratch`` (local: pandas reads
        it twice, and a zip member cannot be seeked cheaply); any other file as it is."""
        if not source.name.lower().endswith(".zip"):
            return source
        try:
            with source.open("rb") as raw, zipfile.ZipFile(raw) as archive:
                members = [m for m in archive.namelist() if m.strip().upper().endswith(".XPT")]
                if len(members) != 1:
                    raise DatasetError(
                        f"'{source}' should hold exactly one .XPT member, found {members}"
                    )
                target = scratch / PurePosixPath(members[0].strip()).name
                with archive.open(members[0]) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, length=16 * 1024 * 1024)
        except zipfile.BadZipFile as exc:
            raise DatasetError(f"'{source}' is not a valid zip archive: {exc}") from exc
        return Location.of(str(target))

    # -- saving ----------------------------------------------------------------------------
    def save(self, data: pd.DataFrame) -> None:
        import pyreadstat

        too_long = [c for c in data.columns if len(str(c)) > 8]
        if too_long:
            raise DatasetError(f"XPORT v5 names are at most 8 characters: {too_long}")
        # pyreadstat writes local files only: write one, then copy it where it belongs.
        with tempfile.TemporaryDirectory(prefix="xpt-write-") as scratch:
            local = Path(scratch) / "out.xpt"
            pyreadstat.write_xport(data, str(local), **self._save_args)
            self._source.make_parent()
            self._source.fs.put_file(str(local), self._source.path)
        self._staging.remove_tree()


def check_xport_file(source: Location, label: str) -> None:
    """Fail early, naming the file, on anything that is not a whole XPORT v5 file.

    pandas silently drops a partial last observation of a truncated file, so a truncation is
    caught here: every XPORT file is a whole number of 80-byte records.
    """
    size = source.size()
    if size == 0:
        raise DatasetError(f"SAS transport file '{label}' is empty (0 bytes).")
    with source.open("rb") as handle:
        head = handle.read(len(XPORT_MAGIC))
    if head != XPORT_MAGIC:
        raise DatasetError(
            f"'{label}' is not a SAS transport (XPORT v5) file: it does not start with the "
            "XPORT library header record."
        )
    if size % XPORT_RECORD_BYTES:
        raise DatasetError(
            f"SAS transport file '{label}' is truncated or corrupt: its size ({size} bytes) is "
            f"not a whole number of {XPORT_RECORD_BYTES}-byte records."
        )


def check_whole_observations(handle, size: int, reader, label: str) -> None:
    """The bytes after the last whole observation must be the blank padding XPORT writes.

    A file cut on an 80-byte boundary inside an observation passes the record-size check, and
    pandas then reads the whole observations before the cut and drops the rest silently.
    ``handle`` is the one ``reader`` reads: its position is restored (a second handle would
    not do on every filesystem, fsspec's memory:// hands out the same buffer).
    """
    start, length, observations = reader.record_start, reader.record_length, reader.nobs
    end = start + observations * length
    tail = size - end
    if tail <= 0:
        return
    position = handle.tell()
    handle.seek(end)
    rest = handle.read(tail)
    handle.seek(position)
    if rest.strip(b" "):
        raise DatasetError(
            f"SAS transport file '{label}' is truncated: {tail} byte(s) of a "
            f"{length}-byte observation follow the last whole one (observation "
            f"{observations + 1}), and they are data, not the blank padding XPORT ends with "
            "(rule: whole_observations). Download the file again.")


def _iter_chunks(reader, source: str, chunksize: int):
    while True:
        try:
            # An explicit row count: ``read()`` without one reads every remaining row at once.
            chunk = reader.read(chunksize)
        except StopIteration:
            return
        except Exception as exc:
            raise DatasetError(f"SAS transport file '{source}' is corrupt: {exc}") from exc
        if chunk is None or chunk.empty:
            return
        yield chunk


def _chunk_to_arrow(chunk: pd.DataFrame, offset: int, source: str, columns) -> pa.Table:
    if columns:
        missing = [c for c in columns if c not in chunk.columns]
        if missing:
            raise DatasetError(f"SAS transport file '{source}' lacks variables {missing}")
        chunk = chunk[list(columns)]
    chunk = chunk.copy()
    for name in chunk.columns:
        values = chunk[name]
        if values.dtype.kind == "f":
            arr = values.to_numpy()
            arr[np.abs(arr) < IBM_ZERO_NOISE] = 0.0
            chunk[name] = arr
        else:
            # Character variables: keep text, blanks (not asked) become null.
            chunk[name] = values.map(_clean_text).astype("object")
    # One concat, not two inserts: a chunk of a wide file is a frame of many blocks, and
    # inserting into it makes pandas warn (and copy) once per column added.
    lineage = pd.DataFrame({SOURCE_FILE: source,
                            SOURCE_ROW: np.arange(offset, offset + len(chunk), dtype="int64")},
                           index=chunk.index)
    chunk = pd.concat([chunk, lineage], axis=1)
    # Explicit types: a character variable that is blank in a whole chunk must stay a string.
    fields = [
        pa.field(name, pa.string() if chunk[name].dtype == object else pa.from_numpy_dtype(
            chunk[name].dtype))
        for name in chunk.columns
    ]
    return pa.Table.from_pandas(chunk, schema=pa.schema(fields), preserve_index=False)


def _clean_text(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    text = text.strip()
    return text or None


def _conform(table: pa.Table, schema: pa.Schema, source: str) -> pa.Table:
    if table.schema.names != schema.names:
        raise DatasetError(f"SAS transport file '{source}': variables changed between chunks")
    return table if table.schema.equals(schema) else table.cast(schema)
