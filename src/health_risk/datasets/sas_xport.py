"""SAS transport (XPORT v5) files, as the CDC publishes the BRFSS annual survey.

Loading never holds the whole file in pandas: the file is read in chunks, each chunk is written
to a parquet staging folder, and Spark reads the folder. The staging folder is reused while the
source file is unchanged (same size and modification time), so reruns skip the conversion.

``filepath`` may also be a folder of yearly files (``LLCP2016.XPT``, ``LLCP2023XPT.zip``, ...):
each file is one part, staged on its own (a new year converts that year only), and the load is
their union by column name with the part's survey year in ``_survey_year``. The year comes from
the file, never from its name: the most common interview year (IYEAR) of its rows (a survey
year's late interviews fall in January and February of the next). Which variables each part
holds is recorded on the frame (``datasets.lineage.parts_of``), so the row contract can tell a
variable a year did not ask from one left blank.

Saving takes a pandas DataFrame (a folder: ``{file name: DataFrame}``) and writes genuine XPORT
v5 files with ``pyreadstat`` (used by the ``sample_data`` pipeline to produce files in the real
format).
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import posixpath
import shutil
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import reduce
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from kedro.io import AbstractDataset, DatasetError

from health_risk.datasets.lineage import (
    SOURCE_FILE,
    SOURCE_ROW,
    SURVEY_YEAR,
    get_spark,
    tag_parts,
)
from health_risk.datasets.paths import Location

XPORT_RECORD_BYTES = 80  # XPORT v5 is a sequence of 80-byte records, the last one blank-padded
XPORT_MAGIC = b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!"
# pandas decodes IBM-float true zeros as ~5.4e-79 (see docs/data.md); anything this small is 0.
IBM_ZERO_NOISE = 1e-70
# Reads of a remote source in large blocks: pandas reads an XPORT file in 80-byte records.
READ_BLOCK_BYTES = 16 * 1024 * 1024
# What a part of a folder source is: a transport file or the CDC's zip of one.
PART_SUFFIXES = (".xpt", ".zip")
YEAR_VARIABLE = "IYEAR"  # interview year, as every BRFSS year names it
STAGING_MARKER = "_SOURCE.json"
# What the check before a run reads of a file it has not staged yet: the header (variable
# names) and the first rows (their interview year). BRFSS rows are 2-3 kB.
PEEK_ROWS = 2_000
PEEK_BYTES = 16 * 1024 * 1024


class SasXportDataset(AbstractDataset):
    """A ``.XPT`` file (or the CDC ``.zip`` holding one) loaded as a Spark DataFrame.

    Both paths may be local or URLs any Spark understands (``s3a://``, ``hdfs://``, ...; see
    ``datasets/paths.py``): the source is read through fsspec and the staging folder is written
    where the cluster's executors can read it.

    Args:
        filepath: the ``.XPT`` file, the ``.zip`` as downloaded from the CDC, or a folder of
            them (one per survey year; sub-folders, and names starting with '.' or '_', are
            not parts).
        staging_path: folder for the parquet staging copy (default: beside ``filepath``); a
            folder source stages each part in a sub-folder named after the file.
        chunksize: rows converted at a time; bounds the driver memory used.
        max_workers: files of a folder converted at once, one process each (default: the
            machine's cores; 1: one after the other in the run's process).
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
        max_workers: int | None = None,
    ) -> None:
        self._source = Location.of(filepath)
        self._staging = Location.of(staging_path) if staging_path else self._source.sibling(
            self._source.name.strip() + ".parquet-staging")
        self._chunksize = int(chunksize)
        self._encoding = encoding
        self._columns = columns
        self._max_workers = max_workers
        self._save_args = {"file_format_version": 5, "table_name": "LLCP"} | (save_args or {})
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._source.url, "staging_path": self._staging.url,
                "chunksize": self._chunksize}

    def _exists(self) -> bool:
        if self._is_folder():
            return bool(self._parts())
        return self._resolve_source() is not None

    # -- loading ---------------------------------------------------------------------------
    def load(self):
        if self._is_folder():
            parts = self._parts()
            if not parts:
                raise DatasetError(
                    f"No BRFSS file in the folder '{self._source}': it should hold one .XPT "
                    "(or the CDC's .zip) per survey year. See README 'Using the real public "
                    "data'.")
            staged = list(zip(parts, self._stage_parts(parts), strict=True))
            _one_file_per_year(staged, str(self._source))
            return self._union(staged, label=str(self._source))
        source = self._resolve_source()
        if source is None:
            raise DatasetError(
                f"BRFSS file not found: '{self._source}' (also tried the CDC name with a "
                "trailing space). See README 'Using the real public data'."
            )
        return self._union([(source, self._staged(source, self._staging))], label=str(source))

    def describe_parts(self) -> list[dict[str, Any]]:
        """Each part's file, survey year and variables, without converting anything: from its
        staging description when that is current, else from the file's header and first
        rows (seconds, whatever the file's size). The check before a run
        (``framework.validation``) reads it; an absent source gives no part."""
        if self._is_folder():
            located = self._located(self._parts())
        else:
            source = self._resolve_source()
            located = [(source, self._staging)] if source is not None else []
        described = []
        for source, staging in located:
            current = self._current(source, staging)
            described.append({k: current[k] for k in ("file", "year", "columns")}
                             if current is not None else self._peek(source))
        return described

    def _peek(self, source: Location) -> dict[str, Any]:
        label = str(source)
        if _is_zip(source):
            with _xpt_member(source) as (_, member):
                head = io.BytesIO(member.read(PEEK_BYTES))
        else:
            with source.open("rb", block_size=READ_BLOCK_BYTES) as raw:
                head = io.BytesIO(raw.read(PEEK_BYTES))
        if head.getvalue()[:len(XPORT_MAGIC)] != XPORT_MAGIC:
            raise DatasetError(f"'{label}' is not a SAS transport (XPORT v5) file: it does not "
                               "start with the XPORT library header record.")
        try:
            reader = pd.read_sas(head, format="xport", iterator=True, encoding=self._encoding)
            with reader:
                columns = [str(c) for c in reader.columns]
                # The copy ends where PEEK_BYTES did: pandas counts its whole rows only.
                first = reader.read(PEEK_ROWS) if reader.nobs else None
        except Exception as exc:
            raise DatasetError(f"Cannot read SAS transport file '{label}': {exc}") from exc
        if self._columns:
            columns = [c for c in columns if c in self._columns]
        years = _interview_years(first) if first is not None else Counter()
        has_year = any(c.upper() == YEAR_VARIABLE for c in columns)
        return {"file": label, "columns": columns,
                "year": _survey_year(years, label) if has_year and years else None}

    def _is_folder(self) -> bool:
        return self._source.fs.isdir(self._source.path)

    def _parts(self) -> list[Location]:
        """The yearly files of a folder source, by name (the CDC's trailing space allowed)."""
        parts = []
        for entry in self._source.fs.ls(self._source.path, detail=True):
            name = posixpath.basename(entry["name"].rstrip("/"))
            if entry.get("type") == "file" and not name.startswith((".", "_")) \
                    and name.strip().lower().endswith(PART_SUFFIXES):
                parts.append(self._source.child(name))
        return sorted(parts, key=lambda part: part.name)

    def _resolve_source(self) -> Location | None:
        # The 2022/2023 CDC zips unpack to 'LLCP2023.XPT ' (trailing space): accept both.
        for candidate in (self._source, self._source.with_suffix_space()):
            if candidate.is_file():
                return candidate
        return None

    def _fingerprint(self, source: Location) -> dict[str, Any]:
        return {"source": source.url, **source.version(), "columns": self._columns,
                "encoding": self._encoding}

    def _stage_parts(self, parts: list[Location]) -> list[dict[str, Any]]:
        """Each part's staging description; the parts to convert are converted side by side,
        one process each, up to ``max_workers`` (default: the machine's cores): a year's
        conversion is single-threaded pandas, and a decade of years is ten of them."""
        located = self._located(parts)
        current = [self._current(part, staging) for part, staging in located]
        todo = [i for i, described in enumerate(current) if described is None]
        workers = min(self._max_workers or os.cpu_count() or 1, len(todo))
        if "memory" in self._staging.fs.protocol:  # an in-process filesystem (tests)
            workers = 1
        if workers <= 1:
            return [described or self._staged(*located[i]) for i, described in enumerate(current)]
        # spawn, not fork: the run's JVM and threads must not be copied into the converters.
        with ProcessPoolExecutor(max_workers=workers,
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {i: pool.submit(_convert_part, self._settings(), located[i][0].url,
                                      located[i][1].url) for i in todo}
            for i, future in futures.items():
                current[i] = future.result()
        return current

    def _located(self, parts: list[Location]) -> list[tuple[Location, Location]]:
        """Each part of a folder source with its staging folder (named after the file)."""
        return [(part, self._staging.child(part.name.strip())) for part in parts]

    def _settings(self) -> dict[str, Any]:
        return {"filepath": self._source.url, "staging_path": self._staging.url,
                "chunksize": self._chunksize, "encoding": self._encoding,
                "columns": self._columns}

    def _current(self, source: Location, staging: Location) -> dict[str, Any] | None:
        marker = staging.child(STAGING_MARKER)
        if marker.is_file():
            described = json.loads(marker.read_text())
            if described.get("fingerprint") == self._fingerprint(source):
                return described
        return None

    def _staged(self, source: Location, staging: Location) -> dict[str, Any]:
        """The part's staging description (file, year, rows, variables), converting the file
        first unless its staging copy is current (same size and modification stamp)."""
        described = self._current(source, staging)
        if described is not None:
            return described
        return self._convert_to_parquet(source, staging, self._fingerprint(source))

    def _convert_to_parquet(self, source: Location, staging: Location,
                            fingerprint: dict[str, Any]) -> dict[str, Any]:
        staging.remove_tree()
        data_dir = staging.child("data")
        data_dir.makedirs()
        with tempfile.TemporaryDirectory(prefix="xpt-unzip-") as scratch:
            xpt = self._extract_if_zipped(source, Path(scratch))
            described = self._write_parts(source, xpt, data_dir)
        described = {"fingerprint": fingerprint, "file": str(source),
                     "data": data_dir.spark_path(), **described}
        # Last: a half-written staging folder is never taken for a current one.
        staging.child(STAGING_MARKER).write_text(json.dumps(described))
        return described

    def _union(self, staged: list[tuple[Location, dict[str, Any]]], label: str):
        """One frame over the staged parts: by column name, a variable a part lacks is null
        in its rows, and a variable typed differently by two parts is read as text (the row
        contract decodes text)."""
        spark = get_spark()
        frames = [spark.read.parquet(described["data"]) for _, described in staged]
        types: dict[str, set[str]] = {}
        for frame in frames:
            for name, kind in frame.dtypes:
                types.setdefault(name, set()).add(kind)
        mixed = {name for name, kinds in types.items() if len(kinds) > 1}
        if mixed:
            frames = [frame.select(*[frame[c].cast("string").alias(c) if c in mixed
                                     else frame[c] for c in frame.columns])
                      for frame in frames]
        frames = [frame.withColumn(SURVEY_YEAR, _year_literal(described["year"]))
                  if described["year"] is not None else frame
                  for frame, (_, described) in zip(frames, staged, strict=True)]
        union = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)
        parts = [{"file": described["file"], "year": described["year"],
                  "rows": described["rows"], "columns": described["columns"]}
                 for _, described in staged]
        return tag_parts(union, label, parts)

    def _write_parts(self, source: Location, xpt: Location, data_dir: Location
                     ) -> dict[str, Any]:
        """Convert the file chunk by chunk; return its survey year, row count and variables."""
        label = str(source)
        check_xport_file(xpt, label=label)
        schema = None
        offset = 0
        years: Counter = Counter()
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
                    years.update(_interview_years(chunk))
                    table = _chunk_to_arrow(chunk, offset, label, self._columns)
                    if schema is None:
                        schema = table.schema
                    table = _conform(table, schema, label)
                    with data_dir.child(f"part-{part:05d}.parquet").open("wb") as out:
                        pq.write_table(table, out)
                    offset += len(chunk)
        if schema is None:
            raise DatasetError(f"SAS transport file '{label}' holds no observations (0 rows).")
        variables = [n for n in schema.names if n not in (SOURCE_FILE, SOURCE_ROW)]
        has_year = any(str(n).upper() == YEAR_VARIABLE for n in variables)
        return {"year": _survey_year(years, label) if has_year else None, "rows": offset,
                "columns": variables}

    def _extract_if_zipped(self, source: Location, scratch: Path) -> Location:
        """The ``.XPT`` member of a CDC zip, unpacked into ``scratch`` (local: pandas reads
        it twice, and a zip member cannot be seeked cheaply); any other file as it is."""
        if not _is_zip(source):
            return source
        with _xpt_member(source) as (name, member):
            target = scratch / name
            with open(target, "wb") as dst:
                shutil.copyfileobj(member, dst, length=16 * 1024 * 1024)
        return Location.of(str(target))

    # -- saving ----------------------------------------------------------------------------
    def save(self, data: pd.DataFrame | Mapping[str, pd.DataFrame]) -> None:
        """One file, or for a folder source ``{file name: DataFrame}`` (or a function making
        it, called when its file is written): the folder then holds exactly those files (parts
        of an earlier save that are not in ``data`` are removed, so a folder of generated years
        never mixes two generations)."""
        if isinstance(data, Mapping):
            self._save_folder(data)
            return
        if self._is_folder():
            raise DatasetError(f"'{self._source}' is a folder of yearly files: save a "
                               "{file name: DataFrame} mapping, one entry per year")
        self._write_xport(data, self._source)
        self._staging.remove_tree()

    def _save_folder(self, files: Mapping[str, pd.DataFrame | Callable[[], pd.DataFrame]]
                     ) -> None:
        bad = [name for name in files if posixpath.basename(name) != name
               or not name.lower().endswith(".xpt")]
        if bad:
            raise DatasetError(f"'{self._source}': parts are saved as plain '.XPT' file names, "
                               f"got {bad}")
        self._source.makedirs()
        for stale in self._parts():
            if stale.name not in files:
                stale.fs.rm(stale.path)
        for name, frame in files.items():
            # A callable is made when written (Kedro's lazy saving): one year in memory at a time.
            self._write_xport(frame() if callable(frame) else frame, self._source.child(name))
        self._staging.remove_tree()

    def _write_xport(self, data: pd.DataFrame, target: Location) -> None:
        import pyreadstat

        too_long = [c for c in data.columns if len(str(c)) > 8]
        if too_long:
            raise DatasetError(f"XPORT v5 names are at most 8 characters: {too_long}")
        # pyreadstat writes local files only: write one, then copy it where it belongs.
        with tempfile.TemporaryDirectory(prefix="xpt-write-") as scratch:
            local = Path(scratch) / "out.xpt"
            pyreadstat.write_xport(data, str(local), **self._save_args)
            target.make_parent()
            target.fs.put_file(str(local), target.path)


def _convert_part(settings: dict[str, Any], source: str, staging: str) -> dict[str, Any]:
    """One part's conversion, in a process of its own (``SasXportDataset._stage_parts``)."""
    dataset = SasXportDataset(**settings)
    located = Location.of(source)
    return dataset._convert_to_parquet(located, Location.of(staging),
                                       dataset._fingerprint(located))


def _is_zip(source: Location) -> bool:
    return source.name.strip().lower().endswith(".zip")


@contextmanager
def _xpt_member(source: Location):
    """``(name, stream)`` of the one ``.XPT`` member of a CDC zip; a zip without exactly one,
    or not a zip, fails naming the file."""
    try:
        with source.open("rb", block_size=READ_BLOCK_BYTES) as raw, \
                zipfile.ZipFile(raw) as archive:
            members = [m for m in archive.namelist() if m.strip().upper().endswith(".XPT")]
            if len(members) != 1:
                raise DatasetError(
                    f"'{source}' should hold exactly one .XPT member, found {members}")
            with archive.open(members[0]) as member:
                yield PurePosixPath(members[0].strip()).name, member
    except zipfile.BadZipFile as exc:
        raise DatasetError(f"'{source}' is not a valid zip archive: {exc}") from exc


def _interview_years(chunk: pd.DataFrame) -> Counter:
    """How many rows of ``chunk`` were interviewed in each year (IYEAR: text or a number)."""
    column = next((c for c in chunk.columns if str(c).upper() == YEAR_VARIABLE), None)
    if column is None:
        return Counter()
    values = chunk[column]
    if values.dtype == object:
        values = values.map(_clean_text)
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    whole = numbers[numbers == numbers.round()].astype("int64")
    return Counter(whole.value_counts().to_dict())


def _survey_year(years: Counter, label: str) -> int:
    """The file's survey year: its most common interview year (ties: the earlier year)."""
    if not years:
        raise DatasetError(
            f"SAS transport file '{label}': no interview year in any row ({YEAR_VARIABLE} is "
            "blank or not a number throughout), so its survey year is unknown (rule: "
            "survey_year).")
    top = max(years.values())
    return min(year for year, count in years.items() if count == top)


def _one_file_per_year(staged: list[tuple[Location, dict[str, Any]]], folder: str) -> None:
    yearless = [part.name.strip() for part, described in staged if described["year"] is None]
    if yearless:
        raise DatasetError(
            f"'{folder}': {yearless} have no {YEAR_VARIABLE} variable, so their survey year is "
            "unknown (rule: survey_year). A folder holds one BRFSS file per year, each with "
            "its interview dates.")
    by_year: dict[Any, list[str]] = {}
    for part, described in staged:
        by_year.setdefault(described["year"], []).append(part.name.strip())
    repeated = {year: names for year, names in by_year.items() if len(names) > 1}
    if repeated:
        detail = "; ".join(f"{year}: {names}" for year, names in repeated.items())
        raise DatasetError(
            f"'{folder}': several files hold the same survey year ({detail}) (rule: "
            "one_file_per_year). Keep one file per year (the year is each file's most common "
            f"{YEAR_VARIABLE}).")


def _year_literal(year: int):
    from pyspark.sql import functions as F

    return F.lit(int(year)).cast("int")


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
