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
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from kedro.io import AbstractDataset, DatasetError

from health_risk.datasets.lineage import SOURCE_FILE, SOURCE_ROW, get_spark

XPORT_RECORD_BYTES = 80  # XPORT v5 is a sequence of 80-byte records, the last one blank-padded
XPORT_MAGIC = b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!"
# pandas decodes IBM-float true zeros as ~5.4e-79 (see docs/data.md); anything this small is 0.
IBM_ZERO_NOISE = 1e-70


class SasXportDataset(AbstractDataset):
    """A ``.XPT`` file (or the CDC ``.zip`` holding one) loaded as a Spark DataFrame.

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
        self._filepath = Path(filepath)
        self._staging = Path(staging_path) if staging_path else self._filepath.with_name(
            self._filepath.name.strip() + ".parquet-staging"
        )
        self._chunksize = int(chunksize)
        self._encoding = encoding
        self._columns = columns
        self._save_args = {"file_format_version": 5, "table_name": "LLCP"} | (save_args or {})
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "staging_path": str(self._staging),
                "chunksize": self._chunksize}

    def _exists(self) -> bool:
        return self._resolve_source() is not None

    # -- loading ---------------------------------------------------------------------------
    def load(self):
        source = self._resolve_source()
        if source is None:
            raise DatasetError(
                f"BRFSS file not found: '{self._filepath}' (also tried the CDC name with a "
                "trailing space). See README 'Using the real public data'."
            )
        if not self._staging_is_current(source):
            self._convert_to_parquet(source)
        # Absolute: Spark resolves relative paths against the JVM's start directory, which is
        # not necessarily Python's current one.
        return get_spark().read.parquet(str((self._staging / "data").absolute()))

    def _resolve_source(self) -> Path | None:
        # The 2022/2023 CDC zips unpack to 'LLCP2023.XPT ' (trailing space): accept both.
        for candidate in (self._filepath, Path(str(self._filepath) + " ")):
            if candidate.is_file():
                return candidate
        return None

    def _fingerprint(self, source: Path) -> dict[str, Any]:
        stat = source.stat()
        return {"source": str(source), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                "columns": self._columns, "encoding": self._encoding}

    def _staging_is_current(self, source: Path) -> bool:
        marker = self._staging / "_SOURCE.json"
        return marker.is_file() and json.loads(marker.read_text()) == self._fingerprint(source)

    def _convert_to_parquet(self, source: Path) -> None:
        shutil.rmtree(self._staging, ignore_errors=True)
        data_dir = self._staging / "data"
        data_dir.mkdir(parents=True)
        xpt_path = self._extract_if_zipped(source)
        check_xport_file(xpt_path, label=str(source))
        try:
            reader = pd.read_sas(
                xpt_path, format="xport", chunksize=self._chunksize, encoding=self._encoding
            )
        except Exception as exc:  # pandas raises ValueError/OSError with terse messages
            raise DatasetError(f"Cannot read SAS transport file '{source}': {exc}") from exc
        check_whole_observations(xpt_path, reader, label=str(source))
        schema = None
        offset = 0
        with reader:
            for part, chunk in enumerate(_iter_chunks(reader, source, self._chunksize)):
                table = _chunk_to_arrow(chunk, offset, str(source), self._columns)
                if schema is None:
                    schema = table.schema
                table = _conform(table, schema, source)
                pq.write_table(table, data_dir / f"part-{part:05d}.parquet")
                offset += len(chunk)
        if schema is None:
            raise DatasetError(f"SAS transport file '{source}' holds no observations (0 rows).")
        if xpt_path != source:
            xpt_path.unlink(missing_ok=True)
        (self._staging / "_SOURCE.json").write_text(json.dumps(self._fingerprint(source)))

    def _extract_if_zipped(self, source: Path) -> Path:
        if source.suffix.lower() != ".zip":
            return source
        try:
            with zipfile.ZipFile(source) as archive:
                members = [m for m in archive.namelist() if m.strip().upper().endswith(".XPT")]
                if len(members) != 1:
                    raise DatasetError(
                        f"'{source}' should hold exactly one .XPT member, found {members}"
                    )
                target = self._staging / PurePosixPath(members[0].strip()).name
                with archive.open(members[0]) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, length=16 * 1024 * 1024)
        except zipfile.BadZipFile as exc:
            raise DatasetError(f"'{source}' is not a valid zip archive: {exc}") from exc
        return target

    # -- saving ----------------------------------------------------------------------------
    def save(self, data: pd.DataFrame) -> None:
        import pyreadstat

        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        too_long = [c for c in data.columns if len(str(c)) > 8]
        if too_long:
            raise DatasetError(f"XPORT v5 names are at most 8 characters: {too_long}")
        pyreadstat.write_xport(data, str(self._filepath), **self._save_args)
        shutil.rmtree(self._staging, ignore_errors=True)


def check_xport_file(path: Path, label: str) -> None:
    """Fail early, naming the file, on anything that is not a whole XPORT v5 file.

    pandas silently drops a partial last observation of a truncated file, so a truncation is
    caught here: every XPORT file is a whole number of 80-byte records.
    """
    size = path.stat().st_size
    if size == 0:
        raise DatasetError(f"SAS transport file '{label}' is empty (0 bytes).")
    with open(path, "rb") as handle:
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


def check_whole_observations(path: Path, reader, label: str) -> None:
    """The bytes after the last whole observation must be the blank padding XPORT writes.

    A file cut on an 80-byte boundary inside an observation passes the record-size check, and
    pandas then reads the whole observations before the cut and drops the rest silently.
    """
    start, length, observations = reader.record_start, reader.record_length, reader.nobs
    end = start + observations * length
    tail = path.stat().st_size - end
    if tail <= 0:
        return
    with open(path, "rb") as handle:
        handle.seek(end)
        rest = handle.read(tail)
    if rest.strip(b" "):
        raise DatasetError(
            f"SAS transport file '{label}' is truncated: {tail} byte(s) of a "
            f"{length}-byte observation follow the last whole one (observation "
            f"{observations + 1}), and they are data, not the blank padding XPORT ends with "
            "(rule: whole_observations). Download the file again.")


def _iter_chunks(reader, source: Path, chunksize: int):
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
    chunk[SOURCE_FILE] = source
    chunk[SOURCE_ROW] = np.arange(offset, offset + len(chunk), dtype="int64")
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


def _conform(table: pa.Table, schema: pa.Schema, source: Path) -> pa.Table:
    if table.schema.names != schema.names:
        raise DatasetError(f"SAS transport file '{source}': variables changed between chunks")
    return table if table.schema.equals(schema) else table.cast(schema)
