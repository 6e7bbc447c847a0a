"""Validated modeling configuration: one ``<study>.modeling`` block per study."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from health_risk.core.strict import StrictModel

Task = Literal["classification", "regression"]
CANDIDATES = ("linear", "random_forest", "gbt", "xgboost")
# Metrics where lower is better; every other metric is higher-is-better.
LOWER_IS_BETTER = {"rmse", "mae", "mape", "log_loss", "brier"}
# Threshold-free metrics that can rank tuning trials.
CLASSIFICATION_METRICS = {"roc_auc", "pr_auc", "log_loss", "brier"}
REGRESSION_METRICS = {"rmse", "mae", "r2", "mape"}


class SearchRange(StrictModel):
    """One hyper-parameter's search range for Optuna (float/int range or a list of choices)."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    type: Literal["float", "int", "categorical"] = "float"
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _complete(self) -> SearchRange:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("categorical search ranges need 'choices'")
        elif self.low is None or self.high is None or self.low > self.high:
            raise ValueError("numeric search ranges need low <= high")
        return self


class CandidateConfig(StrictModel):
    enabled: bool = True
    n_trials: int = Field(3, ge=1, le=500)
    fixed: dict[str, Any] = Field(default_factory=dict)  # wins over search_space
    search_space: dict[str, SearchRange] = Field(default_factory=dict)


# Wall-time budgets the trial budget replaced; a config stating them is refused by name.
REMOVED_TUNING_KEYS = ("budget_seconds", "timeout_seconds")


class TuningConfig(StrictModel):
    """The search of a study. Trials are the budget: each candidate runs exactly its
    ``n_trials`` (``candidates.<name>.n_trials``), so the result does not depend on the
    machine or its load. ``max_seconds`` is a safety cap on the study's tuning wall time, not
    a budget: once reached, no further batch of trials starts (each candidate still runs its
    first trial), and the cut is reported (a warning, ``cut_by_time`` in the tuning summary of
    winning_candidate.json, ``tuning.<candidate>.cut_by_time`` in MLflow)."""

    seed: int = 42  # the TPE sampler's seed
    max_seconds: float = Field(900, gt=0)
    # Trials asked, fitted (side by side, in threads) and told together. Deterministic at any
    # value (suggestions are asked and results told in trial-number order, batch by batch),
    # but each value is its own search: 2 gives other trials than 1.
    parallel_trials: int = Field(1, ge=1, le=8)

    @model_validator(mode="before")
    @classmethod
    def _removed_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            stated = [key for key in REMOVED_TUNING_KEYS if key in data]
            if stated:
                names = " and ".join(f"tuning.{key}" for key in stated)
                raise ValueError(
                    f"{names} no longer exist{'s' if len(stated) == 1 else ''}: trials are "
                    "the budget (each candidate's candidates.<name>.n_trials) and "
                    "tuning.max_seconds is the study's wall-time safety cap (docs/modeling.md)")
        return data


class ThresholdConfig(StrictModel):
    strategy: Literal["max_f1", "recall_target"] = "max_f1"
    recall_target: float | None = Field(None, gt=0, le=1)

    @model_validator(mode="after")
    def _target_given(self) -> ThresholdConfig:
        if self.strategy == "recall_target" and self.recall_target is None:
            raise ValueError("strategy recall_target needs recall_target")
        return self


class CalibrationConfig(StrictModel):
    method: Literal["auto", "none", "isotonic", "platt"] = "auto"
    n_bins: int = Field(10, ge=3, le=50)


class ExplainConfig(StrictModel):
    # SHAP always runs (the report, the model card and drift triage read it); above
    # max_tree_nodes a tree model reports impurity importances instead, labelled so.
    sample_rows: int = Field(300, ge=10, le=20000)
    max_tree_nodes: int = Field(60000, ge=100)  # explainer construction walks nodes via py4j


class UncertaintyConfig(StrictModel):
    """Bootstrap intervals of the test metrics (stratified by label for classification)."""

    bootstrap_replicates: int = Field(200, ge=20, le=5000)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    seed: int = 7


class CrossValidationConfig(StrictModel):
    """Repeated stratified k-fold of the winning configuration, on when train + validation hold
    at most ``max_rows`` rows (small studies, where one test split says little)."""

    enabled: bool = True
    max_rows: int = Field(10_000, ge=0)
    folds: int = Field(5, ge=2, le=20)
    repeats: int = Field(2, ge=1, le=20)
    seed: int = 101
    # Folds refitted side by side (threads): a small study's fit is bound by Spark's per-job
    # overhead on the driver, so two at once keep both cores of a laptop busy. The figures do
    # not depend on it (every fold is seeded and scored on its own).
    parallel_folds: int = Field(2, ge=1, le=16)


class ModelCardConfig(StrictModel):
    """What the model card says that the data cannot: intended use, period, limitations."""

    intended_use: str | None = None
    period: str | None = None  # e.g. "BRFSS 2023 interviews"
    limitations: list[str] = Field(default_factory=list)


class GateConfig(StrictModel):
    # Minimums for higher-is-better metrics and maximums for lower-is-better ones, on validation.
    thresholds: dict[str, float] = Field(default_factory=dict)
    min_improvement: float = 0.0  # over the current champion, on the primary metric


class RetentionConfig(StrictModel):
    """Which registered versions stay after a gate: whichever holds an alias (the champion, the
    latest challenger) and the newest ``keep_last_versions``; older ones are deleted from the
    MLflow model registry (their runs, with metrics and artifacts, stay in the tracking
    store)."""

    keep_last_versions: int | None = Field(10, ge=1)  # None: keep every version


class ModelingConfig(StrictModel):
    study: str
    task: Task
    primary_metric: str | None = None  # default: roc_auc / rmse
    class_weighting: Literal["none", "balanced"] = "balanced"
    candidates: dict[str, CandidateConfig]
    # Restrict the run to some candidates: "linear" or "linear+gbt" ('+' because kedro's
    # --params splits on commas).
    candidates_to_run: str | None = None
    tuning: TuningConfig = TuningConfig()
    # xgboost.spark workers: "auto" = one per Spark task slot (executor cores; local[N]: N), or
    # a number (capped at the slots).
    xgboost_workers: int | Literal["auto"] = "auto"
    threshold: ThresholdConfig = ThresholdConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    subgroup_min_count: int = Field(30, ge=1)
    explain: ExplainConfig = ExplainConfig()
    uncertainty: UncertaintyConfig = UncertaintyConfig()
    # With a survey weight: weighted observed vs predicted prevalence on the test split by this
    # area column (one of the subgroup columns, e.g. brfss `state`).
    area_column: str | None = None
    model_card: ModelCardConfig = ModelCardConfig()
    cross_validation: CrossValidationConfig = CrossValidationConfig()
    quality_gate: GateConfig = GateConfig()
    retention: RetentionConfig = RetentionConfig()
    registered_model_prefix: str = "health_risk_"

    @field_validator("candidates")
    @classmethod
    def _known_candidates(cls, value: dict[str, CandidateConfig]):
        unknown = sorted(set(value) - set(CANDIDATES))
        if unknown:
            raise ValueError(f"unknown candidates {unknown}; choose from {list(CANDIDATES)}")
        return value

    @model_validator(mode="after")
    def _something_to_train(self) -> ModelingConfig:
        if not self.active_candidates:
            raise ValueError("no enabled candidate left to train")
        allowed = CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        if self.primary_metric is not None and self.primary_metric not in allowed:
            raise ValueError(f"primary_metric for {self.task} must be one of {sorted(allowed)}")
        return self

    @property
    def active_candidates(self) -> list[str]:
        chosen = None
        if self.candidates_to_run:
            chosen = {c for c in re.split(r"[,+\s]+", self.candidates_to_run) if c}
        return [name for name, cand in self.candidates.items()
                if cand.enabled and (chosen is None or name in chosen)]

    @property
    def metric(self) -> str:
        return self.primary_metric or ("roc_auc" if self.task == "classification" else "rmse")

    @property
    def registered_model_name(self) -> str:
        return f"{self.registered_model_prefix}{self.study}"


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER
