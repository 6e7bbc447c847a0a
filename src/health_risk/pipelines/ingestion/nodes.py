"""Ingestion nodes: raw table -> decoded, typed, validated table + quarantine + report.

Every row read ends up either in the validated table or in the quarantine table with the rules
it broke; the report accounts for both and the publishing node refuses to continue when the
accounting does not balance or too many rows were quarantined.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from health_risk.core.contract.config import IngestionConfig
from health_risk.core.contract.rows import RAW_RECORD, REASONS
from health_risk.core.errors import DataQualityError
from health_risk.datasets.lineage import SURVEY_YEAR, skipped_records, sources_of
from health_risk.pipelines.ingestion.schemas import validate_with_pandera

logger = logging.getLogger(__name__)


def build_validation_report(
    normalised: DataFrame, flagged: DataFrame, quarantine: DataFrame, audit: dict,
    params: dict[str, Any],
) -> dict:
    """Rows read / passed / quarantined (per rule and column). The catalog's report dataset
    also logs the four counts as MLflow metrics (``ingestion.*`` in the study's run).

    ``quarantine`` is the table as written, so the report counts what a person will find there.
    """
    config = IngestionConfig.model_validate(params)
    groups = _flagged_counts(flagged, config)
    years = None
    if SURVEY_YEAR in flagged.columns:
        # Counted on the flagged rows (cached): no second scan of the staged source; each
        # year's file count (the reader's) is held against them below.
        years = _accounting_by_year(groups, quarantine, audit.get("years") or {})
        rows_read = sum(year["rows_read"] for year in years.values())
        rows_quarantined = sum(year["rows_quarantined"] for year in years.values())
    else:
        rows_read = normalised.count()
        rows_quarantined = quarantine.count()
    rows_passed, empty, sparse = _passed_rows_and_sparse_columns(groups, config)
    per_rule = [] if not rows_quarantined else (  # an empty quarantine: no job to count it
        quarantine.select(F.explode("reasons").alias("r"))
        .groupBy(F.col("r.rule").alias("rule"), F.col("r.column").alias("column"))
        .agg(F.count(F.lit(1)).alias("rows"))
        .orderBy(F.desc("rows"), "rule", "column")
        .collect()
    )
    sources = sources_of(normalised)
    share = rows_quarantined / rows_read if rows_read else 0.0
    report = {
        "study": config.study,
        "sources": sources,
        "rows_read": rows_read,
        "rows_passed": rows_passed,
        "rows_quarantined": rows_quarantined,
        "quarantined_share": round(share, 6),
        "accounting_balanced": rows_read == rows_passed + rows_quarantined,
        "max_quarantine_share": config.max_quarantine_share,
        "violations": [r.asDict() for r in per_rule],
        "expected_rows": config.expected_rows,
        # Columns of the passed rows with no value at all, or fewer than sparse_column_share.
        "empty_columns": empty,
        "sparse_columns": sparse,
        "source_records_skipped": skipped_records(normalised),
        **audit,
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if years is not None:
        report["years"] = years
        report["accounting_balanced"] = report["accounting_balanced"] and all(
            year["accounting_balanced"] for year in years.values())
    return report


def _flagged_counts(flagged: DataFrame, config: IngestionConfig) -> dict[Any, dict[str, int]]:
    """One pass over the flagged rows (cached), by survey year when the source has years (one
    group otherwise): rows, passed rows, and each column's values among the passed rows."""
    passed = F.size(REASONS) == 0
    counts = [F.count(F.lit(1)).alias("__rows"), F.sum(passed.cast("long")).alias("__passed"),
              *[F.count(F.when(passed, F.col(c))).alias(c) for c in config.columns]]
    if SURVEY_YEAR in flagged.columns:
        rows = flagged.groupBy(SURVEY_YEAR).agg(*counts).collect()
        return {row[SURVEY_YEAR]: {k: int(v or 0) for k, v in row.asDict().items()
                                   if k != SURVEY_YEAR} for row in rows}
    row = flagged.agg(*counts).first()
    return {None: {k: int(v or 0) for k, v in row.asDict().items()}}


def _accounting_by_year(groups: dict[Any, dict[str, int]], quarantine: DataFrame,
                        audit: dict[str, dict]) -> dict[str, dict]:
    """Per survey year: rows its file holds (as the reader counted them), read, passed and
    quarantined (as written), with the year's audit (file, renames, recodes, questions the
    year did not ask)."""
    held = {r[0]: r[1] for r in quarantine.groupBy(SURVEY_YEAR).count().collect()}
    years = {}
    for year in sorted({*groups, *held, *(int(y) for y in audit)}, key=lambda y: (y is None, y)):
        counts = groups.get(year, {"__rows": 0, "__passed": 0})
        rows_read, rows_passed = counts["__rows"], counts["__passed"]
        described = dict(audit.get(str(year), {}))
        rows_in_file = described.pop("rows", None)
        rows_quarantined = int(held.get(year, 0))
        years[str(year)] = {
            **described,
            "rows_in_file": rows_in_file,
            "rows_read": rows_read,
            "rows_passed": rows_passed,
            "rows_quarantined": rows_quarantined,
            "accounting_balanced": rows_read == rows_passed + rows_quarantined
            and rows_in_file in (None, rows_read),
        }
    return years


def _passed_rows_and_sparse_columns(groups: dict[Any, dict[str, int]], config: IngestionConfig
                                    ) -> tuple[int, list[str], dict[str, float]]:
    """(passed rows, all-null columns, {column: non-null share} of nearly empty ones) on the
    passed rows, from ``_flagged_counts``."""
    rows = sum(counts["__passed"] for counts in groups.values())
    if not rows:
        return 0, [], {}
    shares = {c: sum(counts[c] for counts in groups.values()) / rows for c in config.columns}
    empty = [c for c, share in shares.items() if share == 0]
    sparse = {c: round(share, 6) for c, share in shares.items()
              if 0 < share < config.sparse_column_share}
    if empty or sparse:
        logger.warning("%s: column(s) with no value %s, nearly empty %s (rule: sparse_column)",
                       config.study, empty, sparse)
    return rows, empty, sparse


def publish_validated_table(flagged: DataFrame, report: dict, params: dict[str, Any]) -> DataFrame:
    """The table-level gate: balanced accounting, enough rows, quarantine share under the
    configured limit and a clean pandera validation; returns the validated table.
    """
    config = IngestionConfig.model_validate(params)
    sources = ", ".join(report.get("sources") or ["<source not recorded>"])
    if config.expected_rows is not None and report["rows_read"] != config.expected_rows:
        raise DataQualityError(
            f"{config.study} ({sources}): {report['rows_read']} rows read, the source should "
            f"hold {config.expected_rows} (rule: expected_rows). A truncated or partial "
            "download is the usual cause.")
    if not report["accounting_balanced"]:
        unbalanced = {year: {k: counts[k] for k in ("rows_in_file", "rows_read", "rows_passed",
                                                    "rows_quarantined")}
                      for year, counts in (report.get("years") or {}).items()
                      if not counts["accounting_balanced"]}
        raise DataQualityError(
            f"{config.study} ({sources}): rows read {report['rows_read']} != passed "
            f"{report['rows_passed']} + quarantined {report['rows_quarantined']}"
            + (f"; by survey year: {unbalanced}" if unbalanced else "") + "."
        )
    if report["rows_read"] < config.min_rows:
        raise DataQualityError(
            f"{config.study} ({sources}): {report['rows_read']} rows read, at least "
            f"{config.min_rows} expected (rule: min_rows)."
        )
    if report["quarantined_share"] > config.max_quarantine_share:
        top = "; ".join(f"{v['rule']} on '{v['column']}': {v['rows']} rows"
                        for v in report["violations"][:5])
        raise DataQualityError(
            f"{config.study} ({sources}): {report['rows_quarantined']} of {report['rows_read']} "
            f"rows quarantined ({report['quarantined_share']:.1%}) exceeds the limit "
            f"{config.max_quarantine_share:.1%} (rule: max_quarantine_share). Most broken rules: "
            f"{top}. See the quarantine table."
        )
    valid = flagged.filter(F.size(REASONS) == 0).drop(REASONS, RAW_RECORD)
    validate_with_pandera(valid, config, label=f"{config.study} ({sources})")
    return valid


__all__ = [
    "build_validation_report",
    "publish_validated_table",
]
