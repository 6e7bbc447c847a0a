"""Seeded, stratified train/validation/test split that does not depend on partitioning.

Rows are ranked, within each class (or, for regression, the whole table), by a uniform number
hashed from their id and the seed (``health_risk.split_rule``, shared with feature selection),
and cut at the configured fractions. The same ids land in the same split on any cluster layout,
and class shares are equal across splits up to one row.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from health_risk.split_rule import stratified_position_expr

SPLIT = "split"


def assign_split(df: DataFrame, id_column: str, label_column: str | None, seed: int,
                 train: float, validation: float) -> DataFrame:
    """Add ``split`` in {train, validation, test}; stratified by ``label_column`` if given."""
    position = stratified_position_expr(id_column, seed, label_column)
    split = (F.when(position < train, "train")
             .when(position < train + validation, "validation")
             .otherwise("test"))
    return df.withColumn(SPLIT, split)
