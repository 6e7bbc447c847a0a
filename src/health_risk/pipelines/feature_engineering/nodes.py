"""Feature-engineering nodes: validated table -> primary table -> feature table + report.

All study specifics come from the ``<study>.feature_engineering`` block; every row that is not
modelled is counted by reason in the report, never dropped silently.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from health_risk.pipelines.feature_engineering.config import (
    EXCLUDED_REASON,
    ID,
    LABEL,
    RESERVED_COLUMNS,
    WEIGHT,
    FeatureEngineeringConfig,
    JoinStep,
    LeakageError,
)
from health_risk.pipelines.feature_engineering.derivations import (
    DerivationError,
    Types,
    apply_steps,
    column_types,
    literal_for,
    numeric_value,
)

logger = logging.getLogger(__name__)

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


def output_columns(config: FeatureEngineeringConfig) -> tuple[list[str], list[str], list[str]]:
    """(subgroup, numeric, categorical) columns of the feature table; a categorical feature
    that is also a subgroup column appears once, with the subgroups."""
    subgroups = list(config.subgroup_columns)
    categorical = [c for c in config.categorical_features if c not in subgroups]
    return subgroups, list(config.numeric_features), categorical


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


def _label_aggregates(task: str) -> list[Column]:
    if task == "classification":
        return [F.sum(LABEL).alias("__positives"), F.avg(LABEL).alias("__share")]
    return [F.avg(LABEL).alias("__mean"), F.min(LABEL).alias("__min"),
            F.max(LABEL).alias("__max")]


def _label_summary(totals: dict[str, Any], task: str) -> dict[str, Any]:
    if task == "classification":
        share = totals.pop("__share")
        return {"positives": int(totals.pop("__positives") or 0),
                "positive_share": None if share is None else round(share, 6)}
    return {name: totals.pop(f"__{name}") for name in ("mean", "min", "max")}


def _unmatched(step: JoinStep, groups: list[dict[str, Any]], study: str) -> dict[str, Any]:
    keys: dict[str, int] = {}
    for group in groups:
        if not group[step.flag]:
            key = str(group[step.left_on])
            keys[key] = keys.get(key, 0) + int(group["count"])
    keys = dict(sorted(keys.items(), key=lambda kv: (len(kv[0]), kv[0])))  # numeric-like order
    if keys:
        logger.warning("%s: %d rows have no match in '%s' (keys %s); their columns stay null",
                       study, sum(keys.values()), step.table, list(keys))
    return {"table": step.table, "left_on": step.left_on, "right_on": step.right_on,
            "rows_unmatched": sum(keys.values()), "unmatched_keys": keys}


def build_feature_report(primary: DataFrame, features: DataFrame,
                         params: dict[str, Any]) -> dict[str, Any]:
    """Rows in / out, excluded rows per reason, unmatched joins per key, nulls per column.

    Counts are unweighted row counts (the survey weight is not applied here).
    """
    config = FeatureEngineeringConfig.model_validate(params)
    # One small group-by over the primary table answers both the exclusion and the join counts.
    keys = [EXCLUDED_REASON, *[c for s in config.join_steps for c in (s.flag, s.left_on)]]
    groups = [r.asDict() for r in primary.groupBy(*dict.fromkeys(keys)).count().collect()]
    by_reason = dict.fromkeys(EXCLUSION_REASONS, 0)
    for group in groups:
        reason = group[EXCLUDED_REASON] or "modelled"
        by_reason[reason] = by_reason.get(reason, 0) + int(group["count"])
    rows_in = sum(by_reason.values())
    modelled = by_reason.pop("modelled", 0)
    columns = [c for c in features.columns if c not in (ID, LABEL, WEIGHT)]
    # One pass over the feature table for every count below.
    totals = features.agg(
        F.count(F.lit(1)).alias("__rows"), F.countDistinct(ID).alias("__ids"),
        *_label_aggregates(config.task),
        *[F.sum(F.col(c).isNull().cast("long")).alias(c) for c in columns],
    ).first().asDict()
    rows_out = int(totals.pop("__rows"))
    joins = [_unmatched(step, groups, config.study) for step in config.join_steps]
    rows_excluded = sum(by_reason.values())
    report = {
        "study": config.study,
        "task": config.task,
        "rows_in": rows_in,
        "rows_out": rows_out,
        "rows_excluded": rows_excluded,
        "excluded_target_rows": sum(by_reason[r] for r in TARGET_REASONS),
        "excluded_rows_by_reason": by_reason,
        "accounting_balanced": rows_in == rows_out + rows_excluded and modelled == rows_out,
        "duplicate_ids": rows_out - int(totals.pop("__ids")),
        "label": _label_summary(totals, config.task),
        "unmatched_joins": joins,
        "null_counts": {c: int(totals[c] or 0) for c in columns},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if not report["accounting_balanced"]:
        raise DerivationError(f"{config.study}: rows in {rows_in} != rows out {rows_out} + "
                              f"excluded {rows_excluded}")
    if rows_excluded:
        logger.info("%s: %d of %d rows not modelled: %s", config.study, rows_excluded, rows_in,
                    {k: v for k, v in by_reason.items() if v})
    return report


__all__ = ["build_feature_report", "build_feature_table", "derive_primary", "feature_columns",
           "output_columns"]
