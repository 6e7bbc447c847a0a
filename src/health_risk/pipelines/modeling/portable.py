"""The portable scorer of the final model, built once per study for its registration.

Everything a Spark-free server needs is frozen here into one ``PortableModel``: the study's
ingestion contract and derivation configuration (the same blocks batch inference runs), the
reference tables its joins read (the census table for brfss), the fitted model's stages in
their portable runtimes (``core.serving.export``) and the risk-tier edges.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from health_risk.core.columns import SPLIT
from health_risk.core.features.config import FeatureEngineeringConfig
from health_risk.core.risk_tiers import RiskTierConfig, tier_edges
from health_risk.core.serving.bundle import PortableModel
from health_risk.core.serving.export import NotPortableError, export_model

logger = logging.getLogger(__name__)


def _frozen_table(table: DataFrame, columns: list[str]) -> dict[str, Any]:
    """A small reference table as records plus its pandas dtypes (the join casts its key to
    the record's column type, as Spark's join does)."""
    frame = table.select(*columns).toPandas()
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return {"dtypes": {c: str(t) for c, t in frame.dtypes.items()}, "records": records}


def export_portable_scorer(final_model: PipelineModel, model_input: DataFrame,
                           spec: dict[str, Any], reference_profile: dict[str, Any],
                           ingestion: dict[str, Any], feature_engineering: dict[str, Any],
                           inference: dict[str, Any], **lookup_tables: DataFrame
                           ) -> PortableModel:
    """The final model as a portable scorer, or a batch-only marker (with the reason) when a
    stage has no Spark-free form: never a silent fallback to Spark at serving time."""
    config = FeatureEngineeringConfig.model_validate(feature_engineering)
    numeric, categorical = spec["numeric_features"], spec["categorical_features"]
    train = model_input.filter(F.col(SPLIT) == "train")
    try:
        model, files = export_model(final_model, spec["task"], numeric, categorical, train)
    except NotPortableError as exc:
        logger.warning("%s: the model is registered batch-only (no python_function flavour): "
                       "%s", config.study, exc)
        return PortableModel({"study": config.study, "batch_only": str(exc)})
    tiers = RiskTierConfig.model_validate((inference or {}).get("risk_tiers") or {})
    lookups = {step.table: _frozen_table(lookup_tables[step.table],
                                         [step.right_on, *step.columns])
               for step in config.join_steps}
    return PortableModel({
        "study": config.study, "task": spec["task"],
        "ingestion": ingestion, "feature_engineering": feature_engineering,
        "lookups": lookups,
        "tiers": {"edges": tier_edges(tiers, reference_profile), "labels": tiers.labels,
                  "cut": tiers.cut},
        **model,
        "created_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
    }, files)
