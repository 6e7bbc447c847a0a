"""Lineage columns every raw loader adds, so a quarantined row can be traced to file and row."""

SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"
LINEAGE_COLUMNS = (SOURCE_FILE, SOURCE_ROW)


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

    return df.withColumn(SOURCE_FILE, F.lit(source)).withColumn(
        SOURCE_ROW, F.monotonically_increasing_id()
    )
