"""Validated reporting configuration: one ``<study>.reporting`` block per study."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from health_risk.core.strict import StrictModel

Statistic = Literal["mean", "min", "max", "stddev", "sum", "weighted_mean"]
ROWS = "rows"  # every aggregate table counts its rows in this column


class SurveyDesign(StrictModel):
    """Strata and primary sampling units of a survey sample (BRFSS: ``_ststr``, ``_psu``)."""

    strata: str
    psu: str


DESIGN_SUFFIXES = ("se", "ci_low", "ci_high")


class AggregateSpec(StrictModel):
    """``group_by`` columns, then ``<statistic>_<column>`` for each measure and ``rows``.

    ``stddev`` is the sample standard deviation (n - 1); ``weighted_mean`` needs ``weight``.
    With ``design``, each weighted mean gets its design-based (Taylor) standard error and 95 %
    interval (``weighted_mean_<column>_se`` / ``_ci_low`` / ``_ci_high``), each group a domain
    of the whole sample's design. Rows whose group value is null form their own group, so no
    row goes uncounted."""

    description: str = ""
    group_by: list[str] = Field(min_length=1)
    measures: dict[str, list[Statistic]] = Field(default_factory=dict)
    weight: str | None = None
    design: SurveyDesign | None = None

    @model_validator(mode="after")
    def _weight_when_weighted(self) -> AggregateSpec:
        weighted = self.weighted_columns()
        if weighted and not self.weight:
            raise ValueError(f"weighted_mean of {weighted} needs `weight:` (the weight column)")
        if self.design and not weighted:
            raise ValueError("`design` gives weighted means a design-based interval: list a "
                             "weighted_mean measure")
        return self

    def weighted_columns(self) -> list[str]:
        return [c for c, stats in self.measures.items() if "weighted_mean" in stats]

    def columns(self) -> list[str]:
        """The header of the table, in order (the manifest validation checks files against it)."""
        columns = [*self.group_by, ROWS]
        for column, stats in self.measures.items():
            for stat in stats:
                columns.append(f"{stat}_{column}")
                if stat == "weighted_mean" and self.design:
                    columns += [f"{stat}_{column}_{suffix}" for suffix in DESIGN_SUFFIXES]
        return columns


class ChartSpec(StrictModel):
    """A chart of one aggregate table: bar and line plot ``y`` against ``x``; pie shows the
    share of ``y`` for each ``x``."""

    table: str
    x: str
    y: str
    title: str
    x_label: str | None = None
    y_label: str | None = None
    # Category order along x (labels sort as text otherwise: "100-200k" before "15-25k").
    order: list[str] | None = None


class ChartsConfig(StrictModel):
    bar: ChartSpec
    pie: ChartSpec
    line: ChartSpec


class ManifestConfig(StrictModel):
    """``globalUploadSettings`` of the QuickSight manifests (the CSVs are written to match)."""

    format: Literal["CSV"] = "CSV"
    delimiter: Literal[","] = ","
    text_qualifier: Literal['"'] = '"'
    contains_header: bool = True


class SmallAreaConfig(StrictModel):
    """The Fay-Herriot area model of a population block (``core/small_area.py``): its
    covariates are columns of one of the study's reference tables (registry ``references``),
    joined to the areas by ``key`` = the population block's ``area_code``."""

    reference: str  # a reference table of the study's registry entry (census)
    key: str  # its column holding the area code (census: state_fips, = _state)
    # Its column holding the area label (census: postal_code, = state): names the areas the
    # reference has and the survey does not (they get the synthetic estimate).
    label: str | None = None
    covariates: list[str] = Field(min_length=1)  # its columns, in the model's units
    # Its rows that are not areas, by key (SAIPE: the national row, state_fips 0).
    exclude: list[int | str] = Field(default_factory=list)
    method: Literal["REML"] = "REML"  # samplics 0.6.1's ML stops early: REML only
    # Areas with fewer respondents stay out of the fit and get the synthetic estimate.
    min_respondents: int = Field(20, ge=2)


class TrendConfig(StrictModel):
    """Survey-weighted trends of the population block (``core/survey_trends.py``): prevalence
    by area and year, pooled over the years, and the change from the first to the last year,
    with design-based SEs whose strata and PSUs are year-specific."""

    year: str  # the primary table's data-year column (brfss: _survey_year, from each file)
    # Pooled weights: CDC's w * n_{area,year} / n_{area} (sample_size), or w / years (equal).
    pooled_weighting: Literal["sample_size", "equal"] = "sample_size"


class PopulationConfig(StrictModel):
    """Survey-weighted prevalence of the target by area, observed on the primary table and
    predicted from the champion's scores on the latest scored batch; with ``small_area``, the
    Fay-Herriot model-based estimates beside the direct ones; with ``trend``, the estimates by
    area and year, pooled over the years and the change between the first and last year."""

    area: str  # area label in primary and predictions (e.g. state postal code)
    area_code: str  # area code joined to the map (e.g. state FIPS)
    target: str = "label"
    weight: str = "survey_weight"
    # The survey design (BRFSS: _ststr, _psu): with both, intervals are design-based (Taylor
    # linearisation); without, they use Kish's effective sample size only.
    strata: str | None = None
    psu: str | None = None
    covariate: str | None = None  # an area-level figure shown beside the estimates
    covariate_label: str | None = None
    target_label: str = "prevalence"
    small_area: SmallAreaConfig | None = None
    trend: TrendConfig | None = None

    @model_validator(mode="after")
    def _trend_has_a_design(self) -> PopulationConfig:
        if self.trend and not (self.strata and self.psu):
            raise ValueError("trend: the yearly standard errors are design-based with "
                             "year-specific strata: set `strata` and `psu` of the population "
                             "block")
        return self


class ReportingConfig(StrictModel):
    study: str
    title: str
    aggregates: dict[str, AggregateSpec] = Field(min_length=1)
    charts: ChartsConfig
    manifest: ManifestConfig = Field(default_factory=ManifestConfig)
    population: PopulationConfig | None = None
    top_features: int = Field(15, ge=1)

    @model_validator(mode="after")
    def _charts_use_known_columns(self) -> ReportingConfig:
        for kind in ("bar", "pie", "line"):
            chart: ChartSpec = getattr(self.charts, kind)
            if chart.table not in self.aggregates:
                raise ValueError(f"charts.{kind}.table '{chart.table}' is not one of the "
                                 f"aggregates {sorted(self.aggregates)}")
            columns = self.aggregates[chart.table].columns()
            unknown = [c for c in (chart.x, chart.y) if c not in columns]
            if unknown:
                raise ValueError(f"charts.{kind}: column(s) {unknown} are not in table "
                                 f"'{chart.table}' (columns: {columns})")
        return self


class ReportConfig(StrictModel):
    """The top-level ``report`` block: the HTML report across studies."""

    title: str = "health-risk report"
