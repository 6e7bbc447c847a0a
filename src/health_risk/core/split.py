"""The deterministic train/validation/test rule shared by feature selection and modeling
(a shared module because two pipelines must agree on it row for row).

A row's position in [0, 1) depends only on its id and the seed, never on row order, partitioning
or cluster size, so feature selection can look at TRAIN rows only without depending on the
modeling pipeline's outputs, and modeling reproduces the same split bit for bit. Modeling must
import this function rather than re-implement it: the seed is hashed as a 32-bit integer literal
(as in SQL ``xxhash64(cast(id as string), 42)``) and a 64-bit seed would give another split.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from health_risk.core.columns import SPLIT

BUCKETS = 1_000_000
DEFAULT_SEED = 42
DEFAULT_TRAIN_FRACTION = 0.6


class SplitConfig(BaseModel):
    """``<study>.split``: the one split rule of a study, read by feature selection, modeling and
    synthetic data (``conf/base/parameters/split.yml``)."""

    model_config = ConfigDict(extra="forbid")

    seed: int = DEFAULT_SEED
    train: float = Field(DEFAULT_TRAIN_FRACTION, gt=0, lt=1)
    validation: float = Field(0.2, gt=0, lt=1)

    @model_validator(mode="after")
    def _leaves_a_test_split(self) -> SplitConfig:
        if self.train + self.validation >= 1:
            raise ValueError("train + validation must leave a test split")
        return self


def train_fraction_expr(id_col: str | Column, seed: int = DEFAULT_SEED) -> Column:
    """``pmod(xxhash64(cast(id as string), seed), 1_000_000) / 1e6``: a uniform number in [0, 1).

    A row is in TRAIN when this is ``< 0.6``; modeling cuts the rest into validation and test.
    """
    column = F.col(id_col) if isinstance(id_col, str) else id_col
    hashed = F.xxhash64(column.cast("string"), F.lit(int(seed)))
    return F.pmod(hashed, F.lit(BUCKETS)) / F.lit(float(BUCKETS))


def is_train(id_col: str | Column, seed: int = DEFAULT_SEED,
             train_fraction: float = DEFAULT_TRAIN_FRACTION) -> Column:
    """The boolean TRAIN membership column."""
    return train_fraction_expr(id_col, seed) < F.lit(float(train_fraction))


def assign_split(df: DataFrame, id_column: str, label_column: str | None, seed: int,
                 train: float, validation: float) -> DataFrame:
    """Add ``split`` in {train, validation, test}; stratified by ``label_column`` if given.

    Rows are ranked within each class (or, for regression, the whole table) by the uniform
    number of ``train_fraction_expr`` and cut at the configured fractions: the same ids land in
    the same split on any cluster layout, and class shares are equal across splits up to one
    row. Apply it once; every consumer reads the column it adds."""
    position = stratified_position_expr(id_column, seed, label_column)
    split = (F.when(position < train, "train")
             .when(position < train + validation, "validation")
             .otherwise("test"))
    return df.withColumn(SPLIT, split)


def stratified_position_expr(id_col: str, seed: int = DEFAULT_SEED,
                             stratify_col: str | None = None) -> Column:
    """``percent_rank`` of the uniform number within each stratum (ties broken by id).

    The stratified variant of the same rule: cutting this at 0.6 gives every class the same
    TRAIN share (``modeling.split.assign_split`` cuts this way). Without a stratum the window
    spans the whole table (one sorted partition).
    """
    order = [train_fraction_expr(id_col, seed), F.col(id_col).cast("string")]
    window = (Window.partitionBy(stratify_col) if stratify_col else Window).orderBy(*order)
    return F.percent_rank().over(window)
