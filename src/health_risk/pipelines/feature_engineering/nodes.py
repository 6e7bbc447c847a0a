"""Feature-engineering nodes: validated table -> primary table -> feature table (with the
study's split) + report.

All study specifics come from the ``<study>.feature_engineering`` block; every row that is not
modelled is counted by reason in the report, never dropped silently. The split is assigned here,
once (``<study>.split``, ``core.split.assign_split``), and every later pipeline reads it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from health_risk.core.columns import EXCLUDED_REASON, ID, LABEL, SPLIT, WEIGHT
from health_risk.core.features.availability import feature_availability
from health_risk.core.features.config import FeatureEngineeringConfig, JoinStep
from health_risk.core.features.derivations import (
    DerivationError,
)

# derive_primary and build_feature_table are shared with inference (health_risk.core.features.table).
from health_risk.core.features.table import (
    EXCLUSION_REASONS,
    TARGET_REASONS,
    build_feature_table,
)
from health_risk.core.split import SplitConfig, assign_split

logger = logging.getLogger(__name__)


def build_feature_table_with_split(primary: DataFrame, params: dict[str, Any],
                                   split_params: dict[str, Any]) -> DataFrame:
    """The feature table (``build_feature_table``, the columns inference builds for a batch)
    with the study's one ``split`` column: seeded by ``<study>.split``, stratified by label for
    classification. Feature selection, modeling (and through its model input, cross-validation
    and the synthetic utility check) and synthetic data all read this column; none recomputes
    it."""
    config = FeatureEngineeringConfig.model_validate(params)
    split = SplitConfig.model_validate(split_params)
    stratify = LABEL if config.task == "classification" else None
    return assign_split(build_feature_table(primary, params), ID, stratify, split.seed,
                        split.train, split.validation)


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
                         params: dict[str, Any], validation_report: dict[str, Any] | None = None
                         ) -> dict[str, Any]:
    """Rows in / out, excluded rows per reason, unmatched joins per key, nulls per column,
    and the features dropped or partly available because years of the source lack their
    sources (``core.features.availability``).

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
    columns = [c for c in features.columns if c not in (ID, LABEL, WEIGHT, SPLIT)]
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
        "feature_availability": feature_availability(config, validation_report or {}),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if not report["accounting_balanced"]:
        raise DerivationError(f"{config.study}: rows in {rows_in} != rows out {rows_out} + "
                              f"excluded {rows_excluded}")
    if rows_excluded:
        logger.info("%s: %d of %d rows not modelled: %s", config.study, rows_excluded, rows_in,
                    {k: v for k, v in by_reason.items() if v})
    return report


__all__ = ["build_feature_report", "build_feature_table_with_split"]
