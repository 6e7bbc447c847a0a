"""Synthetic-data nodes: bounded TRAIN sample -> SDV synthesizer -> batch -> quality and
privacy report -> published batch (only if no synthetic row copies a rare real record).

A batch has the columns of the study's validated table (decoded values, the ingestion
contract's types), plus lineage columns and a batch id and timestamp: the schema inference
reads and validates with the same rules as ingestion.
"""

from __future__ import annotations

import logging
from functools import reduce
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from health_risk.core.columns import BATCH_CREATED_AT, BATCH_ID, ID, SPLIT
from health_risk.core.lazy_import import LAZY_IMPORT_LOCK
from health_risk.core.modeling_config import ModelingConfig
from health_risk.core.split import require_split, train_fraction_expr
from health_risk.datasets.lineage import LINEAGE_COLUMNS
from health_risk.pipelines.synthetic_data.assessment import (
    distance_to_closest_record,
    quality,
    table_metadata,
)
from health_risk.pipelines.synthetic_data.conditional import StratifiedSynthesizer
from health_risk.pipelines.synthetic_data.config import SyntheticDataConfig
from health_risk.pipelines.synthetic_data.marginals import CopulaWithEmpiricalMarginals
from health_risk.pipelines.synthetic_data.schema import (
    SyntheticDataError,
    batch_schema,
    lineage_values,
)
from health_risk.pipelines.synthetic_data.shift import apply_shift
from health_risk.pipelines.synthetic_data.utility import compare_utility, synthetic_features

logger = logging.getLogger(__name__)


def select_synthesizer_rows(primary: DataFrame, features: DataFrame,
                            sd_params: dict[str, Any], ingestion_params: dict[str, Any],
                            fe_params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, holdout rows) as small pandas frames of the synthesised columns.

    The split is the feature table's ``split`` column, the one modeling trains and tests on
    (the primary table's ``id`` is the feature table's): training rows are primary rows whose
    id is in TRAIN, so a synthetic batch never carries information from validation or test
    rows; the holdout (for the privacy comparison) is primary rows whose id is in validation
    or test. Rows the feature table leaves out (an ``excluded_reason``) are in neither. Both
    samples are bounded and seeded by a hash of the id, so they do not depend on partitioning.
    """
    config, schema = batch_schema(sd_params, ingestion_params, fe_params)
    require_split(features, config.study)
    assignment = features.select(ID, SPLIT)
    train_ids = assignment.filter(F.col(SPLIT) == "train").select(ID)
    other_ids = assignment.filter(F.col(SPLIT) != "train").select(ID)
    order = [train_fraction_expr(ID, config.seed), F.col(ID)]
    columns = schema.synthesised
    training = (primary.join(train_ids, ID, "left_semi").orderBy(*order)
                .limit(config.fit_rows).select(*columns))
    # left_anti: an id the feature table repeats in TRAIN and elsewhere is never held out.
    holdout = (primary.join(other_ids, ID, "left_semi").join(train_ids, ID, "left_anti")
               .orderBy(*order).limit(config.privacy.dcr_rows).select(*columns))
    training_rows, holdout_rows = (schema.typed(t.toPandas()) for t in (training, holdout))
    if training_rows.empty:
        raise SyntheticDataError(f"{config.study}: no TRAIN rows in the primary table to fit "
                                 "a synthesizer on")
    logger.info("%s: synthesizer fitted on %d TRAIN rows x %d columns", config.study,
                len(training_rows), len(columns))
    return training_rows, holdout_rows


def _metadata(training_rows: pd.DataFrame, table: str, schema, normal_scores: list[str]):
    """SDV metadata detected from the data, then corrected from the ingestion contract:
    codes and text are categories, other numbers are numerical (integers with no decimal
    places, unless replaced by normal scores); detection alone would call a state code an
    address unit and a 0/1 flag ordinal."""
    with LAZY_IMPORT_LOCK:
        from sdv.metadata import Metadata

    metadata = Metadata.detect_from_dataframes({table: training_rows})
    # Identifiers are never synthesised (sequence_columns), so no column is a key; detection
    # would otherwise take any column that happens to be unique in the sample.
    if metadata.to_dict()["tables"][table].get("primary_key"):
        metadata.remove_primary_key(table_name=table)
    for column in training_rows.columns:
        if column in schema.categorical:
            metadata.update_column(column, table_name=table, sdtype="categorical")
        else:
            integer = schema.rules[column].type == "int" and column not in normal_scores
            places = {"decimal_places": 0} if integer else {}
            metadata.update_column(column, table_name=table, sdtype="numerical", **places)
    metadata.validate()
    return metadata


def _fit_one(rows: pd.DataFrame, config, schema):
    """One SDV synthesizer on ``rows`` (all of the training rows, or one stratum's varying
    columns): a Gaussian copula (by default over the columns' empirical marginals) or CTGAN."""
    with LAZY_IMPORT_LOCK:
        from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer

    continuous = {c: schema.rules[c].type == "int" for c in rows.columns
                  if c not in schema.categorical}
    if config.synthesizer == "ctgan":
        with LAZY_IMPORT_LOCK:
            import torch

        torch.manual_seed(config.seed)  # CTGAN's training is stochastic
        synthesizer = CTGANSynthesizer(_metadata(rows, config.study, schema, []),
                                       **config.synthesizer_options)
        synthesizer.fit({config.study: rows})
        return synthesizer
    if config.marginals == "parametric":
        synthesizer = GaussianCopulaSynthesizer(_metadata(rows, config.study, schema, []),
                                                **config.synthesizer_options)
        synthesizer.fit({config.study: rows})
        return synthesizer
    metadata = _metadata(rows, config.study, schema, list(continuous))
    options = {"numerical_distributions": dict.fromkeys(continuous, "norm"),
               **config.synthesizer_options}
    return CopulaWithEmpiricalMarginals.fit(GaussianCopulaSynthesizer(metadata, **options),
                                            config.study, rows, continuous)


def fit_synthesizer(training_rows: pd.DataFrame, sd_params: dict[str, Any],
                    ingestion_params: dict[str, Any], fe_params: dict[str, Any]):
    """Fit the configured SDV synthesizer; with ``conditioning`` (the default) one per stratum
    of the target and key columns, so the outcome keeps its dependence on the features."""
    config, schema = batch_schema(sd_params, ingestion_params, fe_params)
    if not schema.strata_keys:
        return _fit_one(training_rows, config, schema)
    synthesizer = StratifiedSynthesizer.fit(
        training_rows, config.study, _metadata(training_rows, config.study, schema, []),
        list(schema.strata_keys), dict(schema.binned), config.conditioning.min_rows,
        lambda rows: _fit_one(rows, config, schema))
    logger.info("%s: %d strata of %s (%s)", config.study, len(synthesizer.strata),
                list(schema.strata_keys),
                ", ".join(f"{s.label}: {s.rows}" for s in synthesizer.strata))
    return synthesizer


def sample_synthetic_batch(synthesizer, sd_params: dict[str, Any],
                           ingestion_params: dict[str, Any], fe_params: dict[str, Any]
                           ) -> pd.DataFrame:
    """A batch of ``batch_rows`` new people in the validated table's schema, with fresh ids,
    lineage, a batch id and timestamp, and the configured shift when it is enabled."""
    config, schema = batch_schema(sd_params, ingestion_params, fe_params)
    created = pd.Timestamp.now(tz="UTC")
    batch_id = f"{config.study}-{created:%Y%m%dT%H%M%S%f}"
    batch = _draw(synthesizer, config, schema, config.batch_rows, config.seed, shifted=True)
    rows = len(batch)
    for name, value in lineage_values(config.study, batch_id, rows).items():
        batch[name] = value
    batch[BATCH_ID] = batch_id
    batch[BATCH_CREATED_AT] = created.isoformat()
    logger.info("%s: sampled batch %s (%d rows, shift %s)", config.study, batch_id, rows,
                "on" if config.shift.enabled else "off")
    return batch


def _draw(synthesizer, config, schema, rows: int, seed: int, shifted: bool) -> pd.DataFrame:
    """``rows`` new people in the validated table's columns and types (sequence columns
    numbered from 1, excluded ones null), shifted when asked and the shift is enabled."""
    # SDV has no public seed argument on sample(): reset_sampling rewinds the transformers'
    # own generators (which values are null), then the model's generator is seeded.
    synthesizer.reset_sampling()
    synthesizer._set_random_state(seed)
    sampled = synthesizer.sample(rows)[config.study]
    if shifted:
        sampled = apply_shift(sampled, config.shift, schema.rules, np.random.default_rng(seed))
    count = len(sampled)
    frame = pd.DataFrame(index=range(count))
    for column in schema.columns:
        if column in schema.synthesised:
            frame[column] = sampled[column].to_numpy()
        elif column in schema.sequence:
            numbers = pd.Series(range(1, count + 1))
            frame[column] = numbers if schema.rules[column].type != "string" else \
                numbers.map(lambda n: f"{n:07d}")
        else:
            frame[column] = None
    return schema.typed(frame)


def sample_utility_rows(synthesizer, training_rows: pd.DataFrame, sd_params: dict[str, Any],
                        ingestion_params: dict[str, Any], fe_params: dict[str, Any]
                        ) -> pd.DataFrame:
    """As many synthetic rows as the synthesizer was fitted on, never shifted, for the
    train-on-synthetic / test-on-real comparison (a seed apart from the published batch's)."""
    config, schema = batch_schema(sd_params, ingestion_params, fe_params)
    if not config.utility.enabled:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in schema.columns})
    rows = _draw(synthesizer, config, schema, len(training_rows), config.seed + 1,
                 shifted=False)
    # Lineage too: a study may key its rows by the source row number (insurance).
    for name, value in lineage_values(config.study, "utility", len(rows)).items():
        rows[name] = value
    return rows


def assess_synthetic_batch(synthesizer, training_rows: pd.DataFrame,
                           holdout_rows: pd.DataFrame, candidate: pd.DataFrame,
                           sd_params: dict[str, Any], ingestion_params: dict[str, Any],
                           fe_params: dict[str, Any]) -> dict[str, Any]:
    """SDV quality and diagnostic, and distance to closest record vs a real holdout."""
    config, schema = batch_schema(sd_params, ingestion_params, fe_params)
    report_columns = [c for c in (config.report_columns or schema.synthesised)
                      if c in schema.synthesised]
    synthetic = schema.typed(candidate[schema.synthesised])
    return {
        "quality": quality(training_rows, synthetic,
                           table_metadata(synthesizer, config.study, report_columns),
                           config.study, config.report_rows, config.seed),
        "distance_to_closest_record": distance_to_closest_record(
            training_rows, holdout_rows, synthetic,
            table_metadata(synthesizer, config.study, schema.synthesised),
            config.privacy.dcr_rows, config.seed),
        "strata": (synthesizer.strata_summary()
                   if isinstance(synthesizer, StratifiedSynthesizer) else None),
    }


def measure_synthetic_utility(utility_rows: DataFrame, model_input: DataFrame,
                              spec: dict[str, Any], winner: dict[str, Any],
                              modeling_params: dict[str, Any], sd_params: dict[str, Any],
                              fe_params: dict[str, Any], **lookup_tables: DataFrame
                              ) -> dict[str, Any]:
    """TSTR against TRTR with the study's winning configuration (see ``utility``)."""
    config = SyntheticDataConfig.model_validate(sd_params)
    if not config.utility.enabled:
        return {"performed": False, "reason": "utility.enabled is false"}
    features = synthetic_features(utility_rows, fe_params, lookup_tables)
    report = compare_utility(features, model_input, spec, winner,
                             ModelingConfig.model_validate(modeling_params),
                             config.utility.max_gap, config.seed)
    if report["performed"]:
        logger.info("%s: TSTR %s vs TRTR %s (%s, %d synthetic rows)", config.study,
                    report["tstr"], report["trtr"], report["candidate"],
                    report["synthetic_rows"])
        if report["targets_met"] is False:
            logger.warning("%s: the synthetic sample falls short of real rows by more than "
                           "utility.max_gap: %s", config.study, report["targets"])
    return report


def count_real_copies(candidate: DataFrame, real: DataFrame, columns: list[str],
                      rare_record_k: int) -> dict[str, int]:
    """Synthetic rows equal to some real row on every column (nulls equal nulls): all of them
    (``exact_copies``), and those whose real profile fewer than ``rare_record_k`` real rows
    share (``rare_record_copies``: copies of rare records). One Spark job over every real row."""
    shared = "_real_rows"
    profiles = real.groupBy(*columns).agg(F.count(F.lit(1)).alias(shared)).select(
        *[F.col(c).alias(f"_real_{i}") for i, c in enumerate(columns)], shared)
    condition = reduce(lambda a, b: a & b, [candidate[c].eqNullSafe(F.col(f"_real_{i}"))
                                           for i, c in enumerate(columns)])
    # Profiles are distinct, so a synthetic row matches at most one.
    matched = candidate.select(*columns).join(profiles, condition, "inner")
    counts = matched.agg(F.count(F.lit(1)).alias("exact"),
                         F.sum((F.col(shared) < rare_record_k).cast("long")).alias("rare")
                         ).first()
    return {"exact_copies": int(counts["exact"]), "rare_record_copies": int(counts["rare"] or 0)}


def _privacy_refusals(copies: dict[str, int], privacy, columns: int) -> list[str]:
    """The broken privacy rules, as sentences (none: the batch may be published)."""
    broken = []
    if copies["rare_record_copies"] > privacy.max_rare_record_copies:
        broken.append(
            f"{copies['rare_record_copies']} rows copy a rare real record (a profile fewer than "
            f"{privacy.rare_record_k} real rows share on all {columns} synthesised columns; "
            f"rule: privacy.max_rare_record_copies = {privacy.max_rare_record_copies})")
    if privacy.max_exact_copies is not None and copies["exact_copies"] > privacy.max_exact_copies:
        broken.append(f"{copies['exact_copies']} rows equal some real row on all {columns} "
                      f"synthesised columns (rule: privacy.max_exact_copies = "
                      f"{privacy.max_exact_copies})")
    return broken


def publish_synthetic_batch(candidate: DataFrame, primary: DataFrame,
                            assessment: dict[str, Any], sd_params: dict[str, Any],
                            ingestion_params: dict[str, Any], fe_params: dict[str, Any]
                            ) -> tuple[dict[str, Any], DataFrame]:
    """The privacy gate, over every row of the primary table (not a sample): a batch with more
    copies of rare real records than allowed (``privacy``) is refused, otherwise it is
    published. The report says which, with both counts (every exact copy; copies of rare
    records) and the distance-to-closest-record comparison.

    A refusal does not stop the run: it is logged as an error naming the batch and the rule,
    the report and metrics record it (``accepted: false``, ``published_rows: 0``), and the batch
    output is an empty frame, which writes nothing (the batches published before stay as they
    are; inference scores the latest of them, or reports that there is nothing to score). The
    other nodes of the run, this study's and the other studies', go on. It does not wait for
    the utility measurement (which needs the study's modeling), so inference can score the
    batch as soon as the champion is chosen."""
    config, schema = batch_schema(sd_params, ingestion_params, fe_params)
    meta = candidate.select(BATCH_ID, BATCH_CREATED_AT).first()
    rows = candidate.count()
    privacy = config.privacy
    copies = count_real_copies(candidate, primary, schema.synthesised, privacy.rare_record_k)
    refusals = _privacy_refusals(copies, privacy, len(schema.synthesised))
    accepted = not refusals
    if accepted:
        decision = (f"published: {rows} rows in synthetic_batches, partition "
                    f"batch_id={meta[BATCH_ID]}")
    else:
        decision = (f"refused: {'; '.join(refusals)}. Nothing of batch {meta[BATCH_ID]} was "
                    "published (synthetic_batches is unchanged); this report and the study's "
                    "other outputs were written. Fit on more rows, exclude near-unique "
                    "columns or use another synthesizer.")
    quality_report = assessment["quality"]
    report = {
        "study": config.study, "batch_id": meta[BATCH_ID], "created_at": meta[BATCH_CREATED_AT],
        "accepted": accepted, "published_rows": rows if accepted else 0, "decision": decision,
        "rows": rows, "synthesizer": config.synthesizer,
        "synthesizer_options": config.synthesizer_options, "fit_rows_limit": config.fit_rows,
        "synthesised_columns": schema.synthesised, "sequence_columns": schema.sequence,
        "null_columns": schema.left_null, "shift": config.shift.model_dump(),
        "quality": quality_report,
        "conditioning": _conditioning(assessment.get("strata"), config),
        "privacy": {**copies, **privacy.model_dump(exclude={"dcr_rows"}),
                    "compared_with_rows": primary.count(),
                    "distance_to_closest_record": assessment["distance_to_closest_record"]},
    }
    published = candidate.withColumn(BATCH_CREATED_AT,
                                     F.to_timestamp(F.col(BATCH_CREATED_AT)))
    ordered = [*schema.columns, *[c for c in LINEAGE_COLUMNS if c in candidate.columns],
               BATCH_CREATED_AT, BATCH_ID]
    published = published.select(*ordered)
    if not accepted:
        logger.error("%s: synthetic batch %s %s", config.study, meta[BATCH_ID], decision)
        return report, published.limit(0)
    logger.info("%s: published batch %s (%d rows, quality %.3f, %d exact copies of real "
                "profiles, %d of rare records)", config.study, meta[BATCH_ID], rows,
                quality_report["score"] or float("nan"), copies["exact_copies"],
                copies["rare_record_copies"])
    return report, published


def report_synthetic_batch(batch_report: dict[str, Any], utility: dict[str, Any]
                           ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The synthetic report (the batch's gate decision, quality and privacy, and the sample's
    utility) and its metrics for MLflow, whether the batch was published or refused."""
    quality_report = batch_report["quality"]
    privacy = batch_report["privacy"]
    dcr = privacy["distance_to_closest_record"]
    metrics = {"rows": batch_report["rows"], "accepted": float(batch_report["accepted"]),
               "published_rows": batch_report["published_rows"],
               "exact_copies": privacy["exact_copies"],
               "rare_record_copies": privacy["rare_record_copies"],
               "quality_score": quality_report["score"],
               "diagnostic_score": quality_report["diagnostic_score"],
               **{f"quality_{k.lower().replace(' ', '_')}": v
                  for k, v in quality_report["properties"].items()},
               **{f"dcr_{k}": v for k, v in dcr.items()
                  if k in ("overfitting_protection_score", "closer_to_training_share",
                           "median_dcr_synthetic_to_training",
                           "median_dcr_holdout_to_training", "zero_distance_share")},
               **_utility_metrics(utility)}
    metric_history = {k: {"value": float(v), "step": 0} for k, v in metrics.items()
                      if v is not None}
    return {**batch_report, "utility": utility}, metric_history


def _conditioning(strata: list[dict[str, Any]] | None, config) -> dict[str, Any]:
    if not strata:
        return {"enabled": False}
    return {"enabled": True, **config.conditioning.model_dump(), "strata": strata}


def _utility_metrics(utility: dict[str, Any]) -> dict[str, float]:
    if not utility.get("performed"):
        return {}
    return {f"{side}_{metric}": value for side in ("tstr", "trtr")
            for metric, value in utility[side].items()} | {
        f"utility_gap_{metric}": value for metric, value in utility["gap"].items()}
