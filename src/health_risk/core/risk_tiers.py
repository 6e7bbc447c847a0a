"""Risk tiers: cut a score into labelled tiers at fixed scores or at percentiles of the
champion's training scores. Shared by inference (assigns tiers) and reporting (reads them).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator
from pyspark.sql import Column
from pyspark.sql import functions as F

from health_risk.core.columns import SCORE
from health_risk.core.drift import PERCENTILES
from health_risk.core.strict import StrictModel


class RiskTierConfig(StrictModel):
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


def tier_column(score_col: Column, edges: list[float], labels: list[str]) -> Column:
    tier = F.when(score_col.isNull(), F.lit(None))
    for edge, label in zip(edges, labels, strict=False):
        tier = tier.when(score_col <= F.lit(edge), F.lit(label))
    return tier.otherwise(F.lit(labels[-1]))


def tier_edges(tiers: RiskTierConfig, profile: dict[str, Any]) -> list[float]:
    """Score values at which the tiers change."""
    if tiers.cut == "score":
        return list(tiers.edges)
    quantiles = profile["columns"][SCORE]["quantiles"]
    return [float(quantiles[str(round(edge, 2))]) for edge in tiers.edges]
