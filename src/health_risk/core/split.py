"""The study's one train/validation/test split: the rule, applied once.

Feature engineering applies ``assign_split`` to the feature table (``<study>.features`` gets a
``split`` column); every consumer reads that column and none recomputes it: feature selection
samples its TRAIN rows, modeling trains, calibrates and tests on it, cross-validation folds its
train + validation rows, and synthetic data fits on its TRAIN rows (joined to the primary table
by id) and takes the privacy holdout from the others.

A row's position in [0, 1) depends only on its id and the seed, never on row order, partitioning
or cluster size, so the split is the same bit for bit on any cluster layout. The seed is hashed
as a 32-bit integer literal (as in SQL ``xxhash64(cast(id as string), 42)``); a 64-bit seed
would give another split.
"""

from __future__ import annotations

from pydantic import Field, model_validator
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from health_risk.core.columns import SPLIT
from health_risk.core.errors import DataQualityError
from health_risk.core.strict import StrictModel

BUCKETS = 1_000_000
DEFAULT_SEED = 42
DEFAULT_TRAIN_FRACTION = 0.6


class SplitConfig(StrictModel):
    """``<study>.split``: the one split rule of a study (default in
    ``conf/base/study_defaults/every_study.yml``), read by feature engineering, which assigns
    the split once."""

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

    ``stratified_position_expr`` ranks rows by it; other seeded, partition-free orders and
    folds (samples, calibration folds) use it with seeds of their own.
    """
    column = F.col(id_col) if isinstance(id_col, str) else id_col
    hashed = F.xxhash64(column.cast("string"), F.lit(int(seed)))
    return F.pmod(hashed, F.lit(BUCKETS)) / F.lit(float(BUCKETS))


def assign_split(df: DataFrame, id_column: str, label_column: str | None, seed: int,
                 train: float, validation: float) -> DataFrame:
    """Add ``split`` in {train, validation, test}; stratified by ``label_column`` if given.

    Rows are ranked within each class (or, for regression, the whole table) by the uniform
    number of ``train_fraction_expr`` and cut at the configured fractions: the same ids land in
    the same split on any cluster layout, and class shares are equal across splits up to one
    row. Applied once, by feature engineering; every consumer reads the column it adds."""
    position = stratified_position_expr(id_column, seed, label_column)
    split = (F.when(position < train, "train")
             .when(position < train + validation, "validation")
             .otherwise("test"))
    return df.withColumn(SPLIT, split)


def stratified_position_expr(id_col: str, seed: int = DEFAULT_SEED,
                             stratify_col: str | None = None) -> Column:
    """``percent_rank`` of the uniform number within each stratum (ties broken by id).

    The stratified variant of the same rule: cutting this at 0.6 gives every class the same
    TRAIN share (``assign_split`` cuts this way; cross-validation cuts folds this way with its
    own seed). Without a stratum the window spans the whole table (one sorted partition).
    """
    order = [train_fraction_expr(id_col, seed), F.col(id_col).cast("string")]
    window = (Window.partitionBy(stratify_col) if stratify_col else Window).orderBy(*order)
    return F.percent_rank().over(window)


def require_split(table: DataFrame, study: str, name: str = "features") -> None:
    """Refuse a table without the ``split`` column feature engineering adds (a feature table
    written before the split moved there, or a table from elsewhere)."""
    if SPLIT not in table.columns:
        raise DataQualityError(
            f"{study}: the {name} table has no '{SPLIT}' column (rule: split_assigned_once); "
            "feature engineering assigns it: rerun `kedro run --pipelines feature_engineering "
            f"--namespaces {study}`")
