"""Validated synthetic-data configuration: one ``<study>.synthetic_data`` block per study.

The columns, their types and allowed codes come from the study's ingestion contract, the id
and target from its feature-engineering block; this block only says how to synthesise.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from health_risk.core.strict import StrictModel

Code = int | float | str


class NumericShift(StrictModel):
    """``value * multiply + add``, then clipped to the column's range / allowed codes."""

    add: float = 0.0
    multiply: float = 1.0


class CategoricalShift(StrictModel):
    """Raise the share of ``value`` to ``share`` by re-assigning randomly chosen other rows."""

    value: Code
    share: float = Field(gt=0.0, le=1.0)


class ShiftConfig(StrictModel):
    """A controlled population shift applied to the sampled batch (off by default), so drift
    monitoring can be demonstrated and tested: e.g. an older population, more smokers."""

    enabled: bool = False
    numeric: dict[str, NumericShift] = Field(default_factory=dict)
    categorical: dict[str, CategoricalShift] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _something_to_shift(self) -> ShiftConfig:
        if self.enabled and not (self.numeric or self.categorical):
            raise ValueError("shift.enabled needs at least one numeric or categorical shift")
        both = sorted(set(self.numeric) & set(self.categorical))
        if both:
            raise ValueError(f"shift lists {both} as both numeric and categorical")
        return self


class PrivacyConfig(StrictModel):
    """The privacy gate judges disclosure, not coincidence. A synthetic row equal to a real row
    on every synthesised column copies that real profile; the copy discloses someone only when
    the profile is rare: fewer than ``rare_record_k`` real rows (of the whole primary table)
    share it. With a few low-cardinality columns most profiles are shared by many people, and a
    synthetic row that matches one of those says nothing about anybody."""

    # A real profile shared by fewer real rows than this is a rare record.
    rare_record_k: int = Field(5, ge=2)
    # Synthetic rows copying a rare real record allowed in a batch; above it the batch is
    # refused and nothing of it is published.
    max_rare_record_copies: int = Field(0, ge=0)
    # Optional stricter rule on every exact copy, rare or common (null: reported, not gated).
    max_exact_copies: int | None = Field(None, ge=0)
    # Rows of each side in the distance-to-closest-record comparison (its cost is
    # rows x rows x columns, so it is bounded; the exact-copy check covers the full table).
    dcr_rows: int = Field(500, ge=20, le=20_000)


class ConditioningConfig(StrictModel):
    """Label-preserving synthesis (see synthetic_data/conditional.py): one synthesizer per
    stratum of the target (a regression target by quantile bin) and of ``columns``."""

    enabled: bool = True
    columns: list[str] = Field(default_factory=list)  # key subgroups besides the target
    target_bins: int = Field(5, ge=2, le=50)  # numeric (regression) target: quantile bins
    min_rows: int = Field(40, ge=5)  # smaller strata are pooled


class UtilityConfig(StrictModel):
    """Train on synthetic, test on real (TSTR) against train on real (TRTR): the winning
    modeling configuration fitted on each, scored on the real test split."""

    enabled: bool = True
    # How far TSTR may fall short of TRTR before the report says the batch lost the signal.
    max_gap: dict[str, float] = Field(default_factory=lambda: {"roc_auc": 0.05, "r2": 0.10})


class SyntheticDataConfig(StrictModel):
    study: str
    synthesizer: Literal["gaussian_copula", "ctgan"] = "gaussian_copula"
    # Gaussian copula only: "empirical" keeps every numeric column's observed shape (see
    # synthetic_data/marginals.py); "parametric" lets SDV fit a distribution per column.
    marginals: Literal["empirical", "parametric"] = "empirical"
    # Keyword arguments for the SDV class, e.g. {epochs: 100} for CTGAN or
    # {default_distribution: truncnorm} for the Gaussian copula.
    synthesizer_options: dict[str, Any] = Field(default_factory=dict)
    fit_rows: int = Field(5000, ge=50, le=1_000_000)  # bounded sample of TRAIN rows
    batch_rows: int = Field(1000, ge=1, le=10_000_000)
    seed: int = 7
    # Identifier columns: never synthesised from real values, numbered 1..batch_rows instead.
    sequence_columns: list[str] = Field(default_factory=list)
    # Numeric columns the synthesizer should treat as categories (e.g. a month number, whose
    # flat distribution a continuous marginal would smooth away).
    categorical_columns: list[str] = Field(default_factory=list)
    # Validated columns left out of the synthesizer (null in the batch).
    exclude_columns: list[str] = Field(default_factory=list)
    include_target: bool = True  # False: batches arrive unlabelled (target column null)
    # Columns of the SDV quality report (column shapes, pair trends); null = every synthesised
    # column. Pair trends cost grows with the square of the column count.
    report_columns: list[str] | None = None
    report_rows: int = Field(2000, ge=50, le=100_000)
    shift: ShiftConfig = Field(default_factory=ShiftConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    conditioning: ConditioningConfig = Field(default_factory=ConditioningConfig)
    utility: UtilityConfig = Field(default_factory=UtilityConfig)
