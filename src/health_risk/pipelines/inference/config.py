"""Validated inference configuration: one ``<study>.inference`` block per study."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from health_risk.drift import DEFAULT_PSI_THRESHOLD, PERCENTILES


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RiskTierConfig(_Strict):
    """Risk tiers cut the score at ``edges``: with ``cut: reference_quantiles`` the edges are
    percentiles (0.01 .. 0.99) of the champion's score on its training data, so tiers mean the
    same for a probability and a predicted cost; with ``cut: score`` they are score values.
    A score equal to an edge falls in the lower tier."""

    cut: Literal["reference_quantiles", "score"] = "reference_quantiles"
    edges: list[float] = Field(default_factory=lambda: [0.5, 0.8], min_length=1)
    labels: list[str] = Field(default_factory=lambda: ["low", "medium", "high"])

    @model_validator(mode="after")
    def _consistent(self) -> RiskTierConfig:
        if sorted(self.edges) != self.edges or len(set(self.edges)) != len(self.edges):
            raise ValueError(f"risk_tiers.edges must increase strictly, got {self.edges}")
        if len(self.labels) != len(self.edges) + 1:
            raise ValueError(f"risk_tiers needs {len(self.edges) + 1} labels for "
                             f"{len(self.edges)} edges, got {self.labels}")
        if self.cut == "reference_quantiles":
            off_grid = [e for e in self.edges if round(e, 2) not in PERCENTILES
                        or abs(round(e, 2) - e) > 1e-9]
            if off_grid:
                raise ValueError(f"risk_tiers.edges {off_grid}: reference quantiles are stored "
                                 "for 0.01 .. 0.99 in steps of 0.01")
        return self


class InferenceConfig(_Strict):
    study: str
    batch_id: str = "latest"  # or the id of one batch in <study>.synthetic_batches
    psi_threshold: float = Field(DEFAULT_PSI_THRESHOLD, gt=0.0)
    # Share of a batch's rows that may break a rule before the batch is refused unscored.
    max_quarantine_share: float = Field(0.5, ge=0.0, le=1.0)
    risk_tiers: RiskTierConfig = Field(default_factory=RiskTierConfig)
