"""The primary and feature tables of a study, shared by feature engineering (training data) and
batch inference (a new batch gets exactly the same columns and expressions).

A shared module (not feature engineering's node module) because two pipelines build features
with the same code.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from health_risk.core.columns import EXCLUDED_REASON, ID, LABEL, RESERVED_COLUMNS, WEIGHT
from health_risk.core.features.config import (
    FeatureEngineeringConfig,
    LeakageError,
    output_columns,
)
from health_risk.core.features.derivations import (
    DerivationError,
    Types,
    apply_steps,
    column_types,
    literal_for,
    numeric_value,
)

# Why a row is left out of modelling, in the order they are checked (the first one is recorded).
EXCLUSION_REASONS = ("id_missing", "target_missing", "target_unmapped", "weight_missing",
                     "weight_not_positive")
TARGET_REASONS = ("target_missing", "target_unmapped")


def _id_column(config: FeatureEngineeringConfig) -> Column:
    parts = [F.col(c).cast("string") for c in config.id_columns]
    if len(parts) == 1:
        return parts[0]
    # concat_ws would skip a null part and make an ambiguous id: null if any part is null.
    complete = F.lit(True)
    for part in parts:
        complete = complete & part.isNotNull()
    return F.when(complete, F.concat_ws("-", *parts))


def _label_column(types: Types, config: FeatureEngineeringConfig) -> tuple[Column, Column]:
    """(label, "target present but unusable") for the configured target."""
    where = f"{config.study}: target"
    source = config.target.column
    if config.target.mapping:
        column = F.col(source)
        label = F.when(column.isNull(), F.lit(None).cast("double"))
        for code, value in config.target.mapping.items():
            code_literal = literal_for(types, source, code, where)
            label = label.when(column == code_literal, F.lit(float(value)))
        label = label.otherwise(F.lit(None).cast("double"))
        return label, column.isNotNull() & label.isNull()
    value = numeric_value(types, source, where)
    if config.task == "classification":
        # A classification label is 0/1; any other value is unusable, and counted.
        return F.when(value.isin(0.0, 1.0), value), value.isNotNull() & ~value.isin(0.0, 1.0)
    return value, F.lit(False)


def derive_primary(validated: DataFrame, params: dict[str, Any],
                   **lookup_tables: DataFrame) -> DataFrame:
    """Apply the configured derivation steps in order and add ``id``, ``label``,
    ``survey_weight`` and ``excluded_reason`` (null for rows that are modelled).

    ``lookup_tables`` are the reference tables the study's ``join`` steps name (BRFSS: census).
    Every row is kept: this is the clean per-study table reporting aggregates.
    """
    config = FeatureEngineeringConfig.model_validate(params)
    df = apply_steps(validated, config.derivations, f"{config.study}: derivations",
                     lookup_tables)
    types = column_types(df)
    for column in [*config.id_columns, config.target.column]:
        if column not in types:
            raise DerivationError(f"{config.study}: column '{column}' (id/target) is not in the "
                                  f"table. Available: {sorted(types)}")
    row_id = _id_column(config)
    label, unusable = _label_column(types, config)
    weight = (numeric_value(types, config.weight_column, f"{config.study}: weight_column")
              if config.weight_column else F.lit(1.0))
    reason = (F.when(row_id.isNull(), "id_missing")
              .when(label.isNull() & ~unusable, "target_missing")
              .when(unusable, "target_unmapped")
              .when(weight.isNull(), "weight_missing")
              .when(weight <= 0, "weight_not_positive"))
    # One select so every new column is computed from the input columns, even when a source
    # column already carries a reserved name (stroke's own integer `id`).
    return df.select(
        *[c for c in types if c not in RESERVED_COLUMNS],
        row_id.alias(ID), label.cast("double").alias(LABEL), weight.cast("double").alias(WEIGHT),
        reason.cast("string").alias(EXCLUDED_REASON),
    )


def feature_columns(primary: DataFrame, config: FeatureEngineeringConfig) -> list[Column]:
    """The feature table's columns, typed: ``id, label, survey_weight``, subgroup labels,
    numeric features as double, categorical features as string. Shared with inference, which
    builds a batch's features with exactly these expressions."""
    subgroups, numeric, categorical = output_columns(config)
    types = column_types(primary)
    missing = [c for c in [*subgroups, *numeric, *categorical] if c not in types]
    if missing:
        raise DerivationError(f"{config.study}: feature/subgroup column(s) {missing} are neither "
                              f"in the validated table nor derived. Available: {sorted(types)}")
    text = [c for c in numeric if not isinstance(types[c], (T.NumericType, T.BooleanType))]
    if text:
        raise DerivationError(f"{config.study}: numeric_features {text} are text columns; "
                              "list them as categorical or derive a number")
    columns = [ID, LABEL, WEIGHT, *subgroups, *numeric, *categorical]
    leaks = config.leakage_in(columns)
    if leaks:  # the config validator already refuses this; the table is checked once more
        raise LeakageError(f"leakage in study '{config.study}': {leaks} would reach the "
                           "feature table")
    return [
        F.col(ID).cast("string"), F.col(LABEL).cast("double"), F.col(WEIGHT).cast("double"),
        *[F.col(c).cast("string").alias(c) for c in [*subgroups]],
        *[F.col(c).cast("double").alias(c) for c in numeric],
        *[F.col(c).cast("string").alias(c) for c in categorical],
    ]


def build_feature_table(primary: DataFrame, params: dict[str, Any]) -> DataFrame:
    """The modelling table (``feature_columns``); rows with an ``excluded_reason`` are left
    out."""
    config = FeatureEngineeringConfig.model_validate(params)
    columns = feature_columns(primary, config)
    return primary.filter(F.col(EXCLUDED_REASON).isNull()).select(*columns)
