"""Validated inference configuration: one ``<study>.inference`` block per study."""

from __future__ import annotations

from pydantic import Field

from health_risk.core.drift import DEFAULT_PSI_THRESHOLD
from health_risk.core.risk_tiers import RiskTierConfig
from health_risk.core.strict import StrictModel


class InferenceConfig(StrictModel):
    study: str
    batch_id: str = "latest"  # or the id of one batch in <study>.synthetic_batches
    psi_threshold: float = Field(DEFAULT_PSI_THRESHOLD, gt=0.0)
    # Share of a batch's rows that may break a rule before the batch is refused unscored.
    max_quarantine_share: float = Field(0.5, ge=0.0, le=1.0)
    risk_tiers: RiskTierConfig = Field(default_factory=RiskTierConfig)
