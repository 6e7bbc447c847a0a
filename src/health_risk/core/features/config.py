"""Validated feature-engineering configuration: one ``<study>.feature_engineering`` block each.

Everything study-specific lives here: id, target derivation, survey weight, an ordered list of
derivation steps from a small generic vocabulary, the feature lists, the subgroup columns and
the explicit leakage list. A new study is a new YAML block, not new Python.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from health_risk.core.columns import RESERVED_COLUMNS
from health_risk.core.errors import HealthRiskError
from health_risk.core.strict import StrictModel

Code = int | float | str


# Meteorological seasons (northern hemisphere): the default of the `season` step.
METEOROLOGICAL_SEASONS = {
    "winter": [12, 1, 2], "spring": [3, 4, 5], "summer": [6, 7, 8], "autumn": [9, 10, 11],
}


class LeakageError(HealthRiskError):
    """A leakage column (or a column derived from one) is listed as a feature or subgroup."""


class DerivationError(HealthRiskError):
    """A derivation step cannot run on this table (missing column, wrong type, bad lookup).
    One class for both engines (Spark in ``derivations``, in memory in ``records``): it lives
    here because this module imports no pyspark."""


def _reject_booleans(value):
    """YAML 1.1 reads unquoted yes/no/on/off as booleans: a code or label that became True/False
    is almost certainly a quoting mistake, so say so instead of comparing against 1/0."""
    pairs = value.items() if isinstance(value, dict) else [(v, None) for v in value or []]
    for key, item in pairs:
        if isinstance(key, bool) or isinstance(item, bool):
            # ValueError, not TypeError: pydantic turns only ValueError into a ValidationError.
            raise ValueError(f"{key!r}: {item!r} holds a boolean; quote YAML "  # noqa: TRY004
                             "'yes'/'no'/'on'/'off' so they stay text")
    return value


Codes = Annotated[list[Code], BeforeValidator(_reject_booleans), Field(min_length=1)]


class _Step(StrictModel):
    def lineage(self) -> dict[str, list[str]]:
        """Each output column -> the input columns it is computed from."""
        raise NotImplementedError


class _OneToOne(_Step):
    """A step from one column to one column; ``columns: {in: out, ...}`` applies the same step
    to several columns (e.g. one yes/no recode for eleven chronic conditions)."""

    input: str | None = None
    output: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_form(self):
        single = self.input is not None or self.output is not None
        if single == bool(self.columns) or (single and not (self.input and self.output)):
            raise ValueError("give either 'input' and 'output', or 'columns: {input: output}'")
        return self

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return [(self.input, self.output)] if self.input else list(self.columns.items())

    def lineage(self) -> dict[str, list[str]]:
        return {out: [src] for src, out in self.pairs}


class BinStep(_OneToOne):
    """Numeric -> labelled bins: value < edges[0] -> labels[0], edges[i-1] <= value < edges[i]
    -> labels[i], value >= edges[-1] -> labels[-1]; null stays null."""

    step: Literal["bin"]
    edges: list[float] = Field(min_length=1)
    labels: list[str]

    @model_validator(mode="after")
    def _edges_and_labels(self):
        if any(b <= a for a, b in zip(self.edges, self.edges[1:])):
            raise ValueError(f"bin edges must increase strictly: {self.edges}")
        if len(self.labels) != len(self.edges) + 1:
            raise ValueError(f"bin needs len(edges) + 1 = {len(self.edges) + 1} labels, "
                             f"got {len(self.labels)}")
        return self


class RecodeStep(_OneToOne):
    """Code -> label. A non-null code missing from ``mapping`` becomes ``default`` (null unless
    set), or its own text when ``keep_unmapped``; null stays null."""

    step: Literal["recode"]
    mapping: Annotated[dict[Code, str], BeforeValidator(_reject_booleans),
                       Field(min_length=1)]
    default: str | None = None
    keep_unmapped: bool = False


class IndicatorStep(_OneToOne):
    """1.0 when the value is one of ``values``, 0.0 when it is another value, null when null."""

    step: Literal["indicator"]
    values: Codes


class LogStep(_OneToOne):
    """Natural log of ``value + offset``; null when that is not positive."""

    step: Literal["log"]
    offset: float = 0.0


class ScaleStep(_OneToOne):
    """``value * factor + offset`` as a double (factor 1: a typed, renamed copy)."""

    step: Literal["scale"]
    factor: float = 1.0
    offset: float = 0.0


class CountEqualStep(_Step):
    """How many of ``inputs`` equal one of ``values`` (e.g. chronic conditions answered "yes").

    A null answer counts 0 in ``output`` and 1 in ``missing_output`` (when set), so "not known"
    is kept apart from "no"; with ``null_when_all_missing`` a row with no answer at all gets a
    null count rather than a misleading 0.
    """

    step: Literal["count_equal"]
    inputs: list[str] = Field(min_length=1)
    values: Codes
    output: str
    missing_output: str | None = None
    null_when_all_missing: bool = True

    def lineage(self) -> dict[str, list[str]]:
        out = {self.output: list(self.inputs)}
        if self.missing_output:
            out[self.missing_output] = list(self.inputs)
        return out


class ProductStep(_Step):
    """Product of numeric columns (an interaction, e.g. smoker flag x BMI); null if any is."""

    step: Literal["product"]
    inputs: list[str] = Field(min_length=2)
    output: str

    def lineage(self) -> dict[str, list[str]]:
        return {self.output: list(self.inputs)}


class SeasonStep(_Step):
    """Month 1-12 -> cyclic ``sin``/``cos`` of ``2*pi*month/12`` and a season label, so December
    and January are neighbours; a month outside 1-12 or null gives nulls."""

    step: Literal["season"]
    input: str
    sin_output: str
    cos_output: str
    season_output: str | None = None
    seasons: dict[str, list[int]] = Field(default_factory=lambda: dict(METEOROLOGICAL_SEASONS))

    @model_validator(mode="after")
    def _every_month_once(self):
        months = sorted(m for ms in self.seasons.values() for m in ms)
        if months != list(range(1, 13)):
            raise ValueError(f"seasons must list each month 1-12 exactly once, got {months}")
        return self

    def lineage(self) -> dict[str, list[str]]:
        outs = [self.sin_output, self.cos_output, self.season_output]
        return {out: [self.input] for out in outs if out}


class JoinStep(_Step):
    """Left join of a reference table (a pipeline input named ``table``) on ``left_on =
    right_on``, bringing ``columns: {lookup column: new name}``. Unmatched rows keep nulls and
    are flagged in ``match_flag`` (default ``_matched_<table>``) so the report counts them."""

    step: Literal["join"]
    table: str
    left_on: str
    right_on: str
    columns: dict[str, str] = Field(min_length=1)
    match_flag: str | None = None

    @property
    def flag(self) -> str:
        return self.match_flag or f"_matched_{self.table}"

    def missing_table(self, where: str, given) -> DerivationError:
        """The error when the study's inputs lack the reference table (both engines)."""
        return DerivationError(
            f"{where}: join needs the reference table '{self.table}', which is not an input of "
            f"this study (given: {sorted(given)}); list it under `references` in the study's "
            "registry entry (conf/<env>/studies/<study>/study.yml).")

    def lineage(self) -> dict[str, list[str]]:
        return {out: [self.left_on] for out in [*self.columns.values(), self.flag]}


Step = Annotated[
    BinStep | RecodeStep | IndicatorStep | LogStep | ScaleStep | CountEqualStep | ProductStep
    | SeasonStep | JoinStep,
    Field(discriminator="step"),
]


class TargetConfig(StrictModel):
    """The label: ``column`` as is, or through ``mapping`` (source code -> label value); a null,
    or a code missing from the mapping, excludes the row (counted in the report)."""

    column: str
    mapping: Annotated[dict[Code, float] | None, BeforeValidator(_reject_booleans)] = None


class SelectionConfig(StrictModel):
    """Mutual-information ranking on a bounded, seeded sample of TRAIN rows."""

    sample_rows: int = Field(20_000, ge=50, le=1_000_000)
    n_neighbors: int = Field(3, ge=1, le=50)  # sklearn's k-NN estimator for continuous columns
    prune: bool = False
    top_k: int | None = Field(None, ge=1)
    min_mutual_information: float | None = Field(None, ge=0.0)

    @model_validator(mode="after")
    def _prune_rule(self):
        if self.prune and self.top_k is None and self.min_mutual_information is None:
            raise ValueError("selection.prune needs top_k and/or min_mutual_information")
        return self


class FeatureEngineeringConfig(StrictModel):
    """One study's feature-engineering block."""

    study: str
    task: Literal["classification", "regression"]
    id_column: str | list[str]  # several columns are joined with '-' into one id
    target: TargetConfig
    weight_column: str | None = None
    derivations: list[Step] = Field(default_factory=list)
    numeric_features: list[str] = Field(default_factory=list)
    categorical_features: list[str] = Field(default_factory=list)
    subgroup_columns: list[str] = Field(default_factory=list)
    leakage_columns: list[str]  # explicit, required: what must never reach a model
    selection: SelectionConfig = Field(default_factory=SelectionConfig)

    @property
    def id_columns(self) -> list[str]:
        return [self.id_column] if isinstance(self.id_column, str) else list(self.id_column)

    @property
    def features(self) -> list[str]:
        return [*self.numeric_features, *self.categorical_features]

    @property
    def join_steps(self) -> list[JoinStep]:
        return [s for s in self.derivations if isinstance(s, JoinStep)]

    def tainted_columns(self) -> dict[str, str]:
        """Every leakage column, and every column derived from one (transitively), -> the
        leakage column it comes from. The target's source column is always leakage."""
        tainted = {c: c for c in [*self.leakage_columns, self.target.column]}
        for step in self.derivations:
            for out, inputs in step.lineage().items():
                roots = [tainted[c] for c in inputs if c in tainted]
                if roots:
                    tainted[out] = roots[0]
        return tainted

    def leakage_in(self, columns: list[str]) -> list[str]:
        """Human-readable list of the given columns that are leakage."""
        tainted = self.tainted_columns()
        return [c if tainted[c] == c else f"{c} (derived from {tainted[c]})"
                for c in columns if c in tainted]

    @model_validator(mode="after")
    def _consistent(self):
        where = f"study '{self.study}'"
        if not self.features:
            raise ValueError(f"{where}: numeric_features and categorical_features are empty")
        for name, values in (("numeric_features", self.numeric_features),
                             ("categorical_features", self.categorical_features),
                             ("subgroup_columns", self.subgroup_columns),
                             ("leakage_columns", self.leakage_columns)):
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise ValueError(f"{where}: {name} repeats {repeated}")
        both = sorted(set(self.numeric_features) & set(self.categorical_features))
        if both:
            raise ValueError(f"{where}: {both} listed as both numeric and categorical")
        numeric_groups = sorted(set(self.numeric_features) & set(self.subgroup_columns))
        if numeric_groups:
            raise ValueError(f"{where}: subgroup columns {numeric_groups} are numeric features; "
                             "subgroups are labels: bin the numeric column into a new one")
        outputs = [o for s in self.derivations for o in s.lineage()]
        repeated = sorted({o for o in outputs if outputs.count(o) > 1})
        if repeated:
            raise ValueError(f"{where}: several derivation steps write {repeated}")
        reserved = sorted(set(RESERVED_COLUMNS)
                          & {*outputs, *self.features, *self.subgroup_columns})
        if reserved:
            raise ValueError(f"{where}: {reserved} are reserved output columns "
                             f"{list(RESERVED_COLUMNS)}; derive under another name")
        if self.task == "classification" and self.target.mapping:
            bad = sorted({v for v in self.target.mapping.values() if v not in (0.0, 1.0)})
            if bad:
                raise ValueError(f"{where}: a classification target maps to 0/1 only, got {bad}")
        leaks = self.leakage_in([*self.features, *self.subgroup_columns])
        if leaks:
            raise LeakageError(
                f"leakage in {where}: {leaks} listed as feature or subgroup column, but "
                f"leakage_columns {self.leakage_columns} (and the target '{self.target.column}') "
                "must never reach a model. Remove them from numeric_features / "
                "categorical_features / subgroup_columns."
            )
        return self


def output_columns(config: FeatureEngineeringConfig) -> tuple[list[str], list[str], list[str]]:
    """(subgroup, numeric, categorical) columns of the feature table; a categorical feature
    that is also a subgroup column appears once, with the subgroups. One definition for both
    engines (``table`` in Spark, ``records`` in memory)."""
    subgroups = list(config.subgroup_columns)
    categorical = [c for c in config.categorical_features if c not in subgroups]
    return subgroups, list(config.numeric_features), categorical
