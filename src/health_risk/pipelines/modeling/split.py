"""Seeded, stratified train/validation/test split that does not depend on partitioning.

Each row gets a uniform number from a hash of its id and the seed; within each class (or, for
regression, the whole table) rows are ranked by that number and cut at the configured fractions.
The same ids land in the same split on any cluster layout, and class shares are equal across
splits up to one row.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

SPLIT = "split"
_HASH_BUCKETS = 1_000_000


def uniform_from_id(id_column: str, seed: int) -> Column:
    """A deterministic number in [0, 1) per id."""
    bucket = F.pmod(F.xxhash64(F.col(id_column).cast("string"), F.lit(seed)), F.lit(_HASH_BUCKETS))
    return bucket / F.lit(float(_HASH_BUCKETS))


def assign_split(df: DataFrame, id_column: str, label_column: str | None, seed: int,
                 train: float, validation: float) -> DataFrame:
    """Add ``split`` in {train, validation, test}; stratified by ``label_column`` if given."""
    order = [uniform_from_id(id_column, seed), F.col(id_column).cast("string")]
    window = Window.partitionBy(label_column).orderBy(*order) if label_column else \
        Window.orderBy(*order)
    position = F.percent_rank().over(window)
    split = (F.when(position < train, "train")
             .when(position < train + validation, "validation")
             .otherwise("test"))
    return df.withColumn(SPLIT, split)
