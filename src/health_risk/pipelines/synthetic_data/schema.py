"""Which columns a study's synthetic batch has and how each is produced, from the study's
ingestion contract (columns, types, codes) and feature-engineering block (id, target)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from health_risk.core.contract.config import ColumnRule, IngestionConfig
from health_risk.core.errors import HealthRiskError
from health_risk.core.features.config import FeatureEngineeringConfig
from health_risk.datasets.lineage import LINEAGE_COLUMNS, SOURCE_FILE, SOURCE_ROW
from health_risk.pipelines.synthetic_data.config import SyntheticDataConfig


class SyntheticDataError(HealthRiskError):
    """The synthetic-data configuration does not fit the study, or a batch is rejected."""


@dataclass(frozen=True)
class BatchSchema:
    study: str
    rules: dict[str, ColumnRule]  # every column of the validated table, in order
    synthesised: list[str]  # learnt by the synthesizer
    sequence: list[str]  # numbered 1..n in each batch
    left_null: list[str]  # excluded columns (and the target when batches are unlabelled)
    categorical: list[str]  # synthesised as categories
    # Label-preserving synthesis: the columns that split the training rows into strata (the
    # target first), and those cut into quantile bins (numeric ones) with their bin count.
    strata_keys: tuple[str, ...] = ()
    binned: tuple[tuple[str, int], ...] = ()

    @property
    def columns(self) -> list[str]:
        return list(self.rules)

    def typed(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame with one stable dtype per column (nullable Int64 for integer codes), so
        every batch file has the same parquet schema whatever nulls it happens to hold."""
        out = frame.copy()
        for column in frame.columns:
            if column not in self.rules:
                continue
            kind = self.rules[column].type
            if kind == "int":
                out[column] = pd.to_numeric(out[column], errors="raise").round().astype("Int64")
            elif kind == "double":
                out[column] = pd.to_numeric(out[column], errors="raise").astype("float64")
            else:
                out[column] = out[column].astype(object).where(out[column].notna(), None)
                out[column] = out[column].map(lambda v: v if v is None else str(v))
        return out


def batch_schema(sd_params: dict[str, Any], ingestion_params: dict[str, Any],
                 fe_params: dict[str, Any]) -> tuple[SyntheticDataConfig, BatchSchema]:
    config = SyntheticDataConfig.model_validate(sd_params)
    ingestion = IngestionConfig.model_validate(ingestion_params)
    features = FeatureEngineeringConfig.model_validate(fe_params)
    where = f"{config.study}.synthetic_data"
    rules = ingestion.columns
    named = {"sequence_columns": config.sequence_columns,
             "categorical_columns": config.categorical_columns,
             "exclude_columns": config.exclude_columns,
             "report_columns": config.report_columns or [],
             "shift.numeric": list(config.shift.numeric),
             "shift.categorical": list(config.shift.categorical),
             "conditioning.columns": config.conditioning.columns}
    for key, columns in named.items():
        unknown = [c for c in columns if c not in rules]
        if unknown:
            raise SyntheticDataError(f"{where}.{key}: {unknown} are not columns of the "
                                     f"'{ingestion.study}' ingestion contract: {list(rules)}")
    target = features.target.column
    left_null = [c for c in rules if c in config.exclude_columns
                 or (c == target and not config.include_target)]
    synthesised = [c for c in rules if c not in config.sequence_columns and c not in left_null]
    for column in features.id_columns:
        coded = column in synthesised and rules[column].allowed is not None
        if column not in config.sequence_columns and column not in LINEAGE_COLUMNS and not coded:
            raise SyntheticDataError(
                f"{where}: id column '{column}' would be synthesised from real identifiers; "
                "list it under sequence_columns (a coded attribute such as a state may stay)")
    for column, shift in config.shift.categorical.items():
        allowed = rules[column].allowed
        if allowed is not None and shift.value not in allowed:
            raise SyntheticDataError(f"{where}.shift.categorical.{column}: value "
                                     f"{shift.value!r} is not an allowed code {allowed}")
    categorical = [c for c in synthesised if rules[c].type == "string"
                   or rules[c].allowed is not None or c in config.categorical_columns]
    not_learnt = [c for c in config.conditioning.columns if c not in synthesised]
    if not_learnt:
        raise SyntheticDataError(f"{where}.conditioning.columns: {not_learnt} are not "
                                 "synthesised (sequence or excluded columns)")
    keys: list[str] = []
    if config.conditioning.enabled:
        keys = [c for c in [target, *config.conditioning.columns] if c in synthesised]
        keys = list(dict.fromkeys(keys))
    binned = tuple((c, config.conditioning.target_bins) for c in keys if c not in categorical)
    return config, BatchSchema(config.study, dict(rules), synthesised,
                               list(config.sequence_columns), left_null, categorical,
                               tuple(keys), binned)


def lineage_values(study: str, batch_id: str, rows: int) -> dict[str, Any]:
    """The lineage columns every loader adds (0-based row order), pointing at the batch."""
    return {SOURCE_FILE: f"synthetic://{study}/{batch_id}",
            SOURCE_ROW: pd.Series(range(rows), dtype="int64")}
