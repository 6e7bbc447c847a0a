"""The portable scorer: a person's record in the study's raw format in, score, risk tier and
reasons out, without Spark.

It runs the study's own ingestion contract and derivation configuration, frozen into the model
version at registration (with the reference tables its joins read), through the in-memory
engine (``core.contract.records``, ``core.features.records``): the same configuration batch
inference runs through Spark, so serving cannot drift from training. A record that breaks a
rule on a field the model reads is not scored; its violations name the record, the field and
the rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from health_risk.core.contract.config import IngestionConfig
from health_risk.core.contract.records import RecordViolation, decode_records
from health_risk.core.features.config import FeatureEngineeringConfig
from health_risk.core.features.records import derive_records, feature_frame
from health_risk.core.serving.bundle import PortableModel
from health_risk.core.serving.runtime import (
    Assembler,
    Estimator,
    calibrate,
    tiers,
    top_reasons,
)


@dataclass
class ScoredRequest:
    """Per valid record, its result; per invalid record, its violations (never a score)."""

    results: list[dict[str, Any]] = field(default_factory=list)
    violations: list[RecordViolation] = field(default_factory=list)


def source_fields(config: FeatureEngineeringConfig, features: list[str]) -> set[str]:
    """The decoded columns the model's features are computed from (through the derivation
    steps, transitively): the fields a request must get right. Other fields (the target,
    leakage columns, the survey weight) are ignored if sent."""
    needed = set(features)
    for step in reversed(config.derivations):
        for out, inputs in step.lineage().items():
            if out in needed:
                needed.update(inputs)
    for step in config.join_steps:
        if needed & set(step.columns.values()):
            needed.add(step.left_on)
    return needed


def _lookup_frames(spec: dict[str, Any]) -> dict[str, pd.DataFrame]:
    frames = {}
    for name, table in (spec.get("lookups") or {}).items():
        frame = pd.DataFrame(table["records"], columns=list(table["dtypes"]))
        frames[name] = frame.astype(table["dtypes"])
    return frames


class PortableScorer:
    """Loaded once from a model version's ``portable`` folder; ``score`` is called per request."""

    def __init__(self, model: PortableModel, version: str | None = None) -> None:
        spec = model.spec
        self.study, self.task, self.version = spec["study"], spec["task"], version
        self.contract = IngestionConfig.model_validate(spec["ingestion"])
        self.features = FeatureEngineeringConfig.model_validate(spec["feature_engineering"])
        self.preprocessing = spec["preprocessing"]
        self.assemble = Assembler(self.preprocessing)
        self.model_features = [*self.preprocessing["numeric"], *self.preprocessing["categorical"]]
        self.feature_names = spec["feature_names"]
        self.calibration = spec["calibration"]
        self.tier_edges, self.tier_labels = spec["tiers"]["edges"], spec["tiers"]["labels"]
        self.lookups = _lookup_frames(spec)
        self.estimator = Estimator(spec["estimator"], model.files, self.task,
                                   spec.get("feature_means"))
        self.required = source_fields(self.features, self.model_features)

    def score(self, records: pd.DataFrame, explain: bool = True) -> ScoredRequest:
        records = records.reset_index(drop=True)
        decoded, violations = decode_records(records, self.contract)
        relevant = [v for v in violations if v.field in self.required or v.field == "*"]
        invalid = sorted({v.record for v in relevant})
        valid = [i for i in range(len(records)) if i not in set(invalid)]
        request = ScoredRequest(violations=relevant)
        if not valid:
            return request
        if invalid:
            decoded = decoded.iloc[valid].reset_index(drop=True)
        frame = feature_frame(derive_records(decoded, self.features, self.lookups),
                              self.features)
        matrix = self.assemble(frame)
        explained = explain and self.estimator.reasons_method() is not None
        estimate = self.estimator.estimate(matrix, explained)
        scores = calibrate(self.estimator, estimate, self.calibration)
        labels = tiers(scores, self.tier_edges, self.tier_labels)
        reasons = (top_reasons(estimate.contributions, self.feature_names, frame)
                   if explained and estimate.contributions is not None else None)
        for row, record in enumerate(valid):
            result = {"record": record, "score": float(scores[row]), "risk_tier": labels[row],
                      "model_version": self.version}
            if explain:
                result["reasons"] = reasons[row] if reasons is not None else None
                result["reasons_method"] = (self.estimator.reasons_method() if reasons
                                            is not None else self.estimator.no_reasons())
            request.results.append(result)
        return request
