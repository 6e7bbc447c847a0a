"""Validate every parameter block against its pydantic model before anything runs.

A typo in ``conf/`` or in ``--params`` then fails in a second, naming the key, instead of
minutes into a Spark job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from health_risk.pipelines.feature_engineering.config import FeatureEngineeringConfig
from health_risk.pipelines.inference.config import InferenceConfig
from health_risk.pipelines.ingestion.config import IngestionConfig
from health_risk.pipelines.modeling.config import ModelingConfig
from health_risk.pipelines.reporting.config import ReportConfig, ReportingConfig
from health_risk.pipelines.sample_data.config import SampleDataConfig
from health_risk.pipelines.synthetic_data.config import SyntheticDataConfig

# Top-level blocks, and blocks found under any study namespace (``<study>.<block>``).
TOP_LEVEL_MODELS: dict[str, type[BaseModel]] = {"sample_data": SampleDataConfig,
                                                 "report": ReportConfig}
STUDY_MODELS: dict[str, type[BaseModel]] = {
    "ingestion": IngestionConfig,
    "feature_engineering": FeatureEngineeringConfig,
    "modeling": ModelingConfig,
    "synthetic_data": SyntheticDataConfig,
    "inference": InferenceConfig,
    "reporting": ReportingConfig,
}


class ParameterError(ValueError):
    """A parameter block does not match its model."""


def validate_parameters(params: Mapping[str, Any]) -> list[str]:
    """Validate the known blocks; return the keys checked, raise ``ParameterError`` on the first
    invalid block."""
    checked = []
    for key, model in TOP_LEVEL_MODELS.items():
        if key in params:
            _check(f"{key}", model, params[key])
            checked.append(key)
    for study, block in params.items():
        if not isinstance(block, Mapping):
            continue
        for key, model in STUDY_MODELS.items():
            if key in block:
                _check(f"{study}.{key}", model, block[key])
                checked.append(f"{study}.{key}")
    return checked


def _check(key: str, model: type[BaseModel], value: Any) -> None:
    try:
        model.model_validate(value)
    except ValidationError as exc:
        raise ParameterError(f"Invalid parameters '{key}':\n{exc}") from exc
