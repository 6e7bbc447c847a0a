"""Real study tables for the synthetic-data and inference tests: a generated raw file in the
published format, read by the real loader, run through the ingestion and feature-engineering
nodes with the committed configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from health_risk.core.contract.rows import extract_quarantine, flag_invalid_rows, normalise_columns
from health_risk.core.features.table import derive_primary
from health_risk.datasets import SparkSourceDataset
from health_risk.pipelines.feature_engineering.nodes import build_feature_table_with_split
from health_risk.pipelines.ingestion.nodes import build_validation_report, publish_validated_table
from health_risk.pipelines.sample_data.table_generators import (
    generate_insurance_charges,
    generate_stroke_patients,
)

from ..committed_config import PARAMETERS as CONF
from ..committed_config import committed_params as load_params

GENERATORS = {"stroke": generate_stroke_patients, "insurance": generate_insurance_charges}


@dataclass
class StudyTables:
    study: str
    params: dict[str, Any]  # {block: params} of this study
    validated: Any
    primary: Any
    features: Any  # with the study's split, as feature engineering writes it


def build_study_tables(spark, study: str, n_rows: int, folder: Path, seed: int = 7
                       ) -> StudyTables:
    params = load_params("ingestion", "feature_engineering", "synthetic_data", "inference",
                         "modeling", "split")[study]
    spec = yaml.safe_load((CONF / "sample_data_tables_spec.yml").read_text())[f"{study}_spec"]
    csv = folder / f"{study}.csv"
    GENERATORS[study](n_rows, seed, spec).to_csv(csv, index=False)
    raw = SparkSourceDataset(filepath=str(csv)).load()
    ingestion = params["ingestion"]
    normalised, audit = normalise_columns(raw, ingestion)
    flagged = flag_invalid_rows(normalised, ingestion)
    quarantine = extract_quarantine(flagged, ingestion)
    report = build_validation_report(normalised, flagged, quarantine, audit, ingestion)
    validated = publish_validated_table(flagged, report, ingestion).localCheckpoint(eager=True)
    primary = derive_primary(validated, params["feature_engineering"]).localCheckpoint(eager=True)
    features = build_feature_table_with_split(primary, params["feature_engineering"],
                                              params["split"])
    return StudyTables(study, params, validated, primary, features.localCheckpoint(eager=True))
