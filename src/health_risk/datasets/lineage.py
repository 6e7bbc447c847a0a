"""Lineage columns every raw loader adds, so a quarantined row can be traced to file and row."""

SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"
# The survey year of the file a row came from (yearly sources: a folder of BRFSS years).
SURVEY_YEAR = "_survey_year"
LINEAGE_COLUMNS = (SOURCE_FILE, SOURCE_ROW, SURVEY_YEAR)
# A CSV record whose field count differs from the header, as read (null for a good record).
MALFORMED_RECORD = "_malformed_record"
# Column metadata key on SOURCE_FILE naming the file, table or query a frame was read from: it
# survives selects and is there even when the source has no row to carry it.
SOURCE_METADATA = "health_risk.source"


def get_spark():
    """The active SparkSession (built by ``SparkHooks`` during a run, or a default one)."""
    from pyspark.sql import SparkSession

    return SparkSession.builder.getOrCreate()


def add_lineage(df, source: str):
    """Add ``_source_file`` (a literal) and ``_source_row`` (0-based order of the rows as read).

    ``monotonically_increasing_id`` is unique and follows file order within a partition; for a
    single-partition source (every small raw file) it is exactly the row number.
    """
    from pyspark.sql import functions as F

    with_lineage = df.withColumn(SOURCE_FILE, F.lit(source)).withColumn(
        SOURCE_ROW, F.monotonically_increasing_id()
    )
    return tag_source(with_lineage, source)


# Metadata key: physical records the reader saw but did not turn into rows, by kind (blank
# lines, footnotes, county rows of a state table), so the report accounts for every record.
SKIPPED_METADATA = "health_risk.skipped_records"


def tag_source(df, source: str, skipped: dict[str, int] | None = None):
    """Name the source in the metadata of ``_source_file`` (see ``SOURCE_METADATA``), with the
    counts of records the reader skipped on purpose."""
    metadata = {SOURCE_METADATA: source}
    if skipped:
        metadata[SKIPPED_METADATA] = {k: int(v) for k, v in skipped.items()}
    return df.withMetadata(SOURCE_FILE, metadata)


# Metadata key: the parts a source is the union of (a folder of yearly files), each
# {file, year, rows, columns}: which variables each year's file holds, before anything runs.
PARTS_METADATA = "health_risk.parts"
FILES_METADATA = "health_risk.files"  # the parts' files, once their variables are normalised


def tag_parts(df, source: str, parts: list[dict]):
    """Name the source and record its parts in the metadata of ``_source_file``."""
    metadata = {SOURCE_METADATA: source, PARTS_METADATA: parts}
    return df.withMetadata(SOURCE_FILE, metadata)


def without_parts(df):
    """``df`` whose ``_source_file`` no longer lists the parts' variables: once a frame is
    normalised its columns are the contract's, not any file's (a second normalisation, as
    batch inference does, must not map them again)."""
    if SOURCE_FILE not in df.columns:
        return df
    metadata = dict(df.schema[SOURCE_FILE].metadata)
    parts = metadata.pop(PARTS_METADATA, None)
    if parts is None:
        return df
    return df.withMetadata(SOURCE_FILE, {**metadata, FILES_METADATA: [p["file"] for p in parts]})


def parts_of(df) -> list[dict]:
    """The parts recorded by ``tag_parts`` (empty for a source read whole)."""
    if SOURCE_FILE not in df.columns:
        return []
    return list(df.schema[SOURCE_FILE].metadata.get(PARTS_METADATA) or [])


def skipped_records(df) -> dict[str, int]:
    if SOURCE_FILE not in df.columns:
        return {}
    return dict(df.schema[SOURCE_FILE].metadata.get(SKIPPED_METADATA) or {})


def sources_of(df, limit: int = 20) -> list[str]:
    """The file(s), table or query a frame came from: the tagged source, else the distinct
    ``_source_file`` values (batches carry one per batch); empty when neither is known."""
    if SOURCE_FILE not in df.columns:
        return []
    parts = parts_of(df)
    if parts:
        return [part["file"] for part in parts][:limit]
    files = df.schema[SOURCE_FILE].metadata.get(FILES_METADATA)
    if files:
        return list(files)[:limit]
    tagged = df.schema[SOURCE_FILE].metadata.get(SOURCE_METADATA)
    if tagged:
        return [tagged]
    return [r[0] for r in df.select(SOURCE_FILE).distinct().limit(limit).collect()]


def source_label(df) -> str:
    """One label for error messages: the source(s), or a clear placeholder."""
    found = sources_of(df, limit=3)
    return ", ".join(found) if found else "<source not recorded: no _source_file column>"
