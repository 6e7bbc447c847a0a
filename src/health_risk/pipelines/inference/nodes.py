"""Batch inference nodes: pick a batch, validate it with the study's contract (bad rows are
quarantined, never scored), build features with the feature-engineering code, score with the
registered champion, and report counts, performance (labelled batches) and drift.

Every row of a batch is either scored or quarantined; ``summarise_batch`` refuses a batch whose
accounting does not balance.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from functools import reduce
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from health_risk.core.columns import BATCH_CREATED_AT, BATCH_ID, ID, LABEL, RISK_TIER, SCORE, WEIGHT
from health_risk.core.contract.config import IngestionConfig
from health_risk.core.contract.rows import (
    RAW_RECORD,
    REASONS,
    extract_quarantine,
    flag_invalid_rows,
    normalise_columns,
)
from health_risk.core.drift import compare
from health_risk.core.errors import DataQualityError
from health_risk.core.features.config import FeatureEngineeringConfig
from health_risk.core.features.table import derive_primary, feature_columns, output_columns
from health_risk.core.metrics import classification_metrics, regression_metrics
from health_risk.core.risk_tiers import tier_column, tier_edges
from health_risk.core.scoring import score
from health_risk.datasets.batches import batch_files
from health_risk.datasets.lineage import source_label
from health_risk.datasets.mlflow_models import ChampionModel
from health_risk.pipelines.inference.config import InferenceConfig
from health_risk.pipelines.inference.validation import batch_contract

logger = logging.getLogger(__name__)

PREDICTED_LABEL = "predicted_label"


# What a batch holds: rows in the validated table's schema (published batches), or a study's
# raw files as delivered (its incoming folder), which the contract decodes as ingestion does.
DECODED, RAW = "decoded", "raw"


def select_batch(batches: DataFrame, incoming: dict[str, DataFrame] | None,
                 ingestion_params: dict[str, Any], fe_params: dict[str, Any],
                 params: dict[str, Any]) -> tuple[DataFrame, dict]:
    """This run's batch: the new raw files of the study's incoming folder when there are any,
    otherwise the configured published batch.

    New incoming files (``incoming``: ``{file: its rows as read}``, the files no run has scored)
    are one batch, ``incoming-<UTC time>``, each row keeping its file and row number. Each file
    is normalised on its own (headers, renames, personal columns dropped), so a file without a
    required column stops the run naming that file. They come before any published batch: with
    a batch named in ``inference.batch_id`` as well, the run stops and says so (the named batch
    can be scored once the incoming files are).

    Otherwise: the configured batch (``latest``: the most recently created) and its id, size
    and files.

    With ``latest`` and no batch at all (the folder is empty, or the study's only synthetic batch
    was refused by the privacy gate), there is nothing to score: the info says so
    (``batch_id`` None, ``nothing_to_score``), the later nodes pass an empty batch through and
    the report states it, so the run's other outputs are still written. A named batch that is
    not there stops the run.
    """
    config = InferenceConfig.model_validate(params)
    if incoming:
        if config.batch_id != "latest":
            raise DataQualityError(
                f"{config.study}: {len(incoming)} new file(s) in the incoming folder "
                f"({', '.join(sorted(incoming))}) are scored before any named batch (rule: "
                f"incoming_first): run without inference.batch_id={config.batch_id} first, then "
                "name the batch again")
        return _incoming_batch(incoming, ingestion_params, fe_params, config.study)
    if batches.isEmpty():
        if config.batch_id != "latest":
            raise DataQualityError(f"{config.study}: batch '{config.batch_id}' not found; "
                                   "there is no batch at all")
        reason = ("no new file in 01_raw/<study>/incoming and no published batch to score: "
                  "drop raw files there, run the synthetic_data pipeline (a batch its privacy "
                  "gate refused is not published, see synthetic_report.json) or point "
                  "<study>.synthetic_batches at real batches")
        logger.error("%s: nothing scored: %s", config.study, reason)
        return batches, {"study": config.study, "batch_id": None, "created_at": None,
                         "rows": 0, "files": [], "source": "batches", "format": DECODED,
                         "nothing_to_score": reason}
    for column in (BATCH_ID, BATCH_CREATED_AT):
        if column not in batches.columns:
            raise DataQualityError(f"{config.study}: batches have no '{column}' column (rule: "
                                   f"batch_columns); found {batches.columns}")
    available = (batches.groupBy(BATCH_ID).agg(F.max(BATCH_CREATED_AT).alias("created"),
                                              F.count(F.lit(1)).alias("rows"))
                 .orderBy(F.desc("created"), F.desc(BATCH_ID)).collect())
    wanted = next(iter(available), None) if config.batch_id == "latest" else next(
        (b for b in available if b[BATCH_ID] == config.batch_id), None)
    if wanted is None:
        raise DataQualityError(f"{config.study}: batch '{config.batch_id}' not found; "
                               f"available: {[b[BATCH_ID] for b in available[:10]]}")
    files = batch_files(batches, wanted[BATCH_ID])
    info = {"study": config.study, "batch_id": wanted[BATCH_ID],
            "created_at": wanted["created"].isoformat() if wanted["created"] else None,
            "rows": int(wanted["rows"]), "files": sorted(files or []), "source": "batches",
            "format": DECODED}
    logger.info("%s: scoring batch %s (%d rows)", config.study, info["batch_id"], info["rows"])
    return batches.filter(F.col(BATCH_ID) == info["batch_id"]), info


def _incoming_batch(incoming: dict[str, DataFrame], ingestion_params: dict[str, Any],
                    fe_params: dict[str, Any], study: str) -> tuple[DataFrame, dict]:
    contract = batch_contract(ingestion_params, fe_params, decoded=False)
    normalised = [normalise_columns(frame, contract)[0] for _, frame in sorted(incoming.items())]
    batch = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), normalised)
    created = datetime.now(UTC)
    # No row count here: validate_batch counts the rows (and the flagged ones) in one pass.
    info = {"study": study, "batch_id": f"incoming-{created:%Y%m%dT%H%M%S%f}",
            "created_at": created.isoformat(timespec="seconds"),
            "files": sorted(incoming), "source": "incoming", "format": RAW}
    logger.info("%s: scoring %d new incoming file(s) as batch %s: %s", study, len(incoming),
                info["batch_id"], ", ".join(info["files"]))
    return batch, info


def _decoded(batch_info: dict) -> bool:
    return batch_info.get("format", DECODED) == DECODED


def validate_batch(batch: DataFrame, batch_info: dict, ingestion_params: dict[str, Any],
                   fe_params: dict[str, Any], params: dict[str, Any]
                   ) -> tuple[DataFrame, dict[str, Any]]:
    """Flag every rule each row breaks (the ingestion nodes with the batch contract).

    A required column stops the run, naming the batch, its file(s) and the column, when it is
    missing: absent from the frame, absent from one of the batch's own files (the batches
    folder is read as one table, where such a file would show nulls), or null in every row of
    the batch. Nothing of that batch is scored.
    """
    config = InferenceConfig.model_validate(params)
    contract = batch_contract(ingestion_params, fe_params, _decoded(batch_info))
    rules = IngestionConfig.model_validate(contract)
    if batch_info.get("batch_id") is None:  # nothing to score: the contract's columns, no row
        for name in rules.columns:
            if name not in batch.columns:
                batch = batch.withColumn(name, F.lit(None).cast("string"))
    elif _decoded(batch_info):  # raw incoming files were checked one by one (select_batch)
        _require_columns_in_files(batch, batch_info, rules, config.study)
    normalised, audit = normalise_columns(batch, contract)
    _require_values(normalised, batch_info, rules, config.study)
    flagged = flag_invalid_rows(normalised, contract)
    counts = flagged.agg(F.count(F.lit(1)).alias("rows"),
                         F.sum((F.size(REASONS) > 0).cast("long")).alias("bad")).first()
    rows, bad = int(counts["rows"]), int(counts["bad"] or 0)
    if rows and bad / rows > config.max_quarantine_share:
        raise DataQualityError(
            f"{config.study}: {bad} of {rows} batch rows break the contract "
            f"({bad / rows:.1%} > max_quarantine_share {config.max_quarantine_share:.0%}); the "
            "batch is not scored. See the rules in <study>.ingestion.")
    return flagged, {**audit, "rows_in": rows, "rows_flagged": bad}


def _missing_required(study: str, batch_id: str, where: str, columns: list[str]
                      ) -> DataQualityError:
    return DataQualityError(
        f"{study} batch {batch_id}: required column(s) {columns} {where} (rule: "
        "required_column): treated as missing, nothing of the batch is scored. Fix or drop "
        "the batch's file, or name another batch with <study>.inference.batch_id.")


def _require_columns_in_files(batch: DataFrame, batch_info: dict, rules: IngestionConfig,
                              study: str) -> None:
    """Each file of the batch has every required column, as the file itself holds them (the
    reader records the columns each file lacks, see ``datasets.batches``)."""
    files = batch_files(batch, batch_info["batch_id"]) or {}
    lacking = {name: [c for c in missing if c in rules.required_columns]
               for name, missing in sorted(files.items())}
    for name, missing in lacking.items():
        if missing:
            raise _missing_required(study, batch_info["batch_id"],
                                    f"absent from its file {name}", missing)


def _require_values(normalised: DataFrame, batch_info: dict, rules: IngestionConfig,
                    study: str) -> None:
    """A required column null in every row of the batch is missing (a file without it, read
    beside files with it, gives exactly that)."""
    required = rules.required_columns
    if batch_info.get("batch_id") is None or not required:
        return
    counts = normalised.agg(F.count(F.lit(1)).alias("__rows"),
                            *[F.count(F.col(c)).alias(c) for c in required]).first()
    empty = [c for c in required if counts["__rows"] and counts[c] == 0]
    if empty:
        files = batch_info.get("files") or [source_label(normalised)]
        raise _missing_required(study, batch_info["batch_id"],
                                f"null in every row of its file(s) {', '.join(files)}", empty)


def extract_batch_quarantine(flagged: DataFrame, batch_info: dict,
                             ingestion_params: dict[str, Any], fe_params: dict[str, Any]
                             ) -> DataFrame:
    """Rows that broke a rule, with every reason and the values as received, by batch."""
    quarantine = extract_quarantine(flagged, batch_contract(ingestion_params, fe_params,
                                                            _decoded(batch_info)))
    return quarantine.withColumn(BATCH_ID, F.lit(batch_info["batch_id"]).cast("string"))


def build_batch_features(flagged: DataFrame, fe_params: dict[str, Any],
                         **lookup_tables: DataFrame) -> DataFrame:
    """The rule-abiding rows as the feature table: the same derivations and the same typed
    columns as training. Unlike training, rows without a label are kept (they are scored)."""
    config = FeatureEngineeringConfig.model_validate(fe_params)
    valid = flagged.filter(F.size(REASONS) == 0).drop(REASONS, RAW_RECORD)
    primary = derive_primary(valid, fe_params, **lookup_tables)
    return primary.select(*feature_columns(primary, config))


def score_batch(features: DataFrame, champion: ChampionModel, batch_info: dict,
                fe_params: dict[str, Any], params: dict[str, Any]) -> DataFrame:
    """Scores from the champion PipelineModel (its preprocessing and calibration travel inside
    it): score, label at the stored threshold, risk tier, model name and version, time."""
    config = InferenceConfig.model_validate(params)
    fe_config = FeatureEngineeringConfig.model_validate(fe_params)
    profile = champion.reference_profile
    task = profile["task"]
    needed = [*profile["numeric_features"], *profile["categorical_features"]]
    missing = [c for c in needed if c not in features.columns]
    if missing:
        raise DataQualityError(
            f"{config.study}: champion {champion.uri} needs feature(s) {missing} that the "
            "current feature_engineering configuration no longer builds; retrain or restore")
    subgroups, _, _ = output_columns(fe_config)
    scored = score(champion.model, features, task, [ID, LABEL, WEIGHT, *subgroups])
    edges = tier_edges(config.risk_tiers, profile)
    threshold = champion.threshold
    predicted = (F.when(F.col(SCORE).isNull(), F.lit(None))
                 .otherwise((F.col(SCORE) >= F.lit(threshold)).cast("double"))
                 if task == "classification" and threshold is not None
                 else F.lit(None).cast("double"))
    return scored.select(
        ID, SCORE, predicted.alias(PREDICTED_LABEL),
        tier_column(F.col(SCORE), edges, config.risk_tiers.labels).alias(RISK_TIER),
        LABEL, WEIGHT, *subgroups,
        F.lit(champion.name).alias("model_name"), F.lit(champion.version).alias("model_version"),
        F.lit(threshold).cast("double").alias("threshold"),
        F.current_timestamp().alias("scored_at"),
        F.lit(batch_info["batch_id"]).cast("string").alias(BATCH_ID),
    )


def _this_batch(table: DataFrame, batch_info: dict) -> DataFrame:
    return table.filter(F.col(BATCH_ID).eqNullSafe(F.lit(batch_info["batch_id"])))


def _performance(rows, task: str, threshold: float | None) -> dict[str, float]:
    labels, scores = rows[LABEL].to_numpy(), rows[SCORE].to_numpy()
    metrics = (classification_metrics(labels, scores, 0.5 if threshold is None else threshold)
               if task == "classification" else regression_metrics(labels, scores))
    return {k: v for k, v in metrics.items() if not math.isnan(v)}  # AUC needs both classes


def summarise_batch(flagged: DataFrame, predictions: DataFrame | None,
                    batch_quarantine: DataFrame | None, champion: ChampionModel,
                    batch_info: dict, audit: dict, params: dict[str, Any]) -> tuple[dict, dict]:
    """Rows in = scored + quarantined (or an error), rules broken, tier shares, and the
    model's performance when the batch carries labels. Report and MLflow metrics.

    Rows in and quarantined are the counts ``validate_batch`` took on the flagged rows; scored
    rows are counted from the predictions as written, and the quarantine as written must hold
    exactly the flagged rows of this batch (a clean batch writes no partition: ``None`` or no
    rows of this batch). With nothing to score (no batch), every count is 0 and the report
    says why (``nothing_to_score``).
    """
    config = InferenceConfig.model_validate(params)
    if predictions is None:  # nothing scored yet: the predictions folder holds no data
        predictions = flagged.limit(0).select(F.lit(None).cast("string").alias(BATCH_ID),
                                              F.lit(None).cast("string").alias(RISK_TIER),
                                              F.lit(None).cast("double").alias(LABEL),
                                              F.lit(None).cast("double").alias(SCORE))
    predictions = _this_batch(predictions, batch_info)
    bad = flagged.filter(F.size(REASONS) > 0)
    rows_in, rows_quarantined = audit["rows_in"], audit["rows_flagged"]
    written = 0 if batch_quarantine is None else _this_batch(batch_quarantine,
                                                              batch_info).count()
    if written != rows_quarantined:
        raise DataQualityError(f"{config.study} batch {batch_info['batch_id']}: the batch "
                               f"quarantine as written holds {written} rows, but "
                               f"{rows_quarantined} were flagged (rule: quarantine_written)")
    rows_scored = predictions.count()
    if rows_in != rows_scored + rows_quarantined:
        raise DataQualityError(f"{config.study} batch {batch_info['batch_id']}: rows in "
                               f"{rows_in} != scored {rows_scored} + quarantined "
                               f"{rows_quarantined}")
    violations = (bad.select(F.explode(REASONS).alias("r"))
                  .groupBy(F.col("r.rule").alias("rule"), F.col("r.column").alias("column"))
                  .count().orderBy(F.desc("count"), "rule", "column").collect())
    tiers = {r[RISK_TIER]: int(r["count"]) for r in
             predictions.groupBy(RISK_TIER).count().collect()}
    task = champion.reference_profile["task"]
    # Two numeric columns of the scored rows (no person-level detail) for the metrics.
    labelled = predictions.filter(F.col(LABEL).isNotNull()).select(LABEL, SCORE).toPandas()
    performance = _performance(labelled, task, champion.threshold) if len(labelled) else {}
    report = {
        "study": config.study, **{k: batch_info[k] for k in ("batch_id", "created_at")},
        "files": batch_info.get("files"), "source": batch_info.get("source"),
        **({"nothing_to_score": batch_info["nothing_to_score"]}
           if batch_info.get("nothing_to_score") else {}),
        "model": {"name": champion.name, "version": champion.version, "alias": champion.alias,
                  "run_id": champion.run_id, "threshold": champion.threshold, "task": task},
        "rows_in": rows_in, "rows_scored": rows_scored, "rows_quarantined": rows_quarantined,
        "accounting_balanced": True,
        "violations": [{"rule": r["rule"], "column": r["column"], "rows": int(r["count"])}
                       for r in violations],
        "risk_tiers": {"edges": config.risk_tiers.edges, "cut": config.risk_tiers.cut,
                       "rows": {label: tiers.get(label, 0)
                                for label in config.risk_tiers.labels}},
        "labelled_rows": len(labelled), "performance": performance,
        "columns": {k: v for k, v in audit.items() if k not in ("rows_in", "rows_flagged")},
        "scored_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    values = {"rows_in": rows_in, "rows_scored": rows_scored,
              "rows_quarantined": rows_quarantined, "model_version": float(champion.version),
              **{f"tier_{k}": v for k, v in report["risk_tiers"]["rows"].items()},
              **{f"performance_{k}": v for k, v in performance.items()}}
    logger.info("%s batch %s: %d rows, %d scored, %d quarantined (model %s v%s)", config.study,
                batch_info["batch_id"], rows_in, rows_scored, rows_quarantined, champion.name,
                champion.version)
    return report, _history(values)


def _history(values: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {k: {"value": float(v), "step": 0} for k, v in values.items() if v is not None}


def measure_drift(features: DataFrame, predictions: DataFrame, champion: ChampionModel,
                  batch_info: dict, inference_report: dict, params: dict[str, Any]
                  ) -> tuple[dict, dict, dict]:
    """PSI per feature and for the score, KS for numeric features, a drift flag per feature,
    against the champion's reference profile (its training data). Returns the report, the
    metrics of this run, and the batch's step of the monitoring time series."""
    config = InferenceConfig.model_validate(params)
    if batch_info.get("batch_id") is None:  # nothing scored: no drift to measure, no step
        report = {"study": config.study, "batch_id": None,
                  "model": {"name": champion.name, "version": champion.version},
                  "measured": False, "reason": batch_info.get("nothing_to_score"),
                  "psi_threshold": config.psi_threshold, "drifted_features": []}
        return report, {}, {}
    profile = champion.reference_profile
    columns = [*profile["numeric_features"], *profile["categorical_features"]]
    by_feature = compare(features, profile, columns, config.psi_threshold)
    score_drift = compare(_this_batch(predictions, batch_info), profile, [SCORE],
                          config.psi_threshold)[SCORE]
    drifted = sorted(c for c, r in by_feature.items() if r["drifted"])
    report = {
        "study": config.study, "batch_id": batch_info["batch_id"],
        "model": {"name": champion.name, "version": champion.version},
        "reference": {"split": profile.get("split"), "rows": profile.get("rows"),
                      "created_at": profile.get("created_at")},
        "psi_threshold": config.psi_threshold, "drifted_features": drifted,
        "score": score_drift, "features": by_feature,
        "method": "PSI over reference deciles (numeric) or levels (categorical), nulls and "
                  "unseen levels as their own bins; KS over the reference percentile grid",
    }
    if drifted:
        logger.warning("%s batch %s: drift in %s (PSI > %.2f)", config.study,
                       batch_info["batch_id"], drifted, config.psi_threshold)
    values: dict[str, Any] = {"features_drifted": len(drifted), "psi.score": score_drift["psi"],
                              "ks.score": score_drift["ks"]}
    for column, result in by_feature.items():
        values[f"psi.{column}"] = result["psi"]
        if result["kind"] == "numeric":
            values[f"ks.{column}"] = result["ks"]
    counts = {k: inference_report[k] for k in ("rows_in", "rows_scored", "rows_quarantined")}
    performance = {f"performance_{k}": v for k, v in inference_report["performance"].items()}
    monitoring = {**counts, **performance, "model_version": float(champion.version),
                  **{f"drift.{k}": v for k, v in values.items() if v is not None}}
    return report, _history(values), monitoring
