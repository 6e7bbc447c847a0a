"""Risk tiers: cut a score into labelled tiers at fixed scores or at percentiles of the
champion's training scores. Shared by inference (assigns tiers) and reporting (reads them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyspark.sql import Column
from pyspark.sql import functions as F

from health_risk.scoring import SCORE

if TYPE_CHECKING:  # the inference package imports this module: no import cycle at run time
    from health_risk.pipelines.inference.config import RiskTierConfig

RISK_TIER = "risk_tier"


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
