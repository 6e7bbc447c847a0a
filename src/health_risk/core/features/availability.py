"""Which features a study's data can give values to, known from the ingestion report before
any feature is computed.

A yearly source (a folder of BRFSS years) lists, per year, the contract columns that year's
file did not have (``years.<year>.absent_optional_columns`` of the validation report; a source
read whole lists them once). A feature is traced back through the derivations to the contract
columns it is computed from:

- **dropped**: none of its sources has a value in any year (the question was not asked in any
  year of the data). It leaves the feature spec, with the reason, instead of stopping the
  modeling run minutes later on a column without values.
- **partial**: a source is absent in some years only. Those years' rows are null by design, not
  at random: a categorical feature gets a level of its own for them (the encoder's null level,
  which then also marks the years), a numeric one is imputed with the training median, as if at
  random, which the record says in so many words.

Required contract columns never get here: a file without one is refused before the run
(``framework.validation``) and again at ingestion.
"""

from __future__ import annotations

from typing import Any

from health_risk.core.features.config import FeatureEngineeringConfig

CATEGORICAL_TREATMENT = ("null in the years that did not ask it: the encoder's level for a "
                         "missing value, so the model sees 'not asked' as a level of its own "
                         "(not imputed)")
NUMERIC_TREATMENT = ("null in the years that did not ask it: imputed with the training median, "
                     "as if missing at random; add an `indicator` derivation of the source to "
                     "let the model tell those rows apart")


def feature_sources(config: FeatureEngineeringConfig) -> dict[str, list[str]]:
    """Each feature -> the source (contract) columns it is computed from, through every
    derivation step (a join contributes its key: the reference table is always there)."""
    roots: dict[str, set[str]] = {}
    for step in config.derivations:
        for output, inputs in step.lineage().items():
            roots[output] = set().union(*[roots.get(c, {c}) for c in inputs])
    return {feature: sorted(roots.get(feature, {feature})) for feature in config.features}


def absent_by_year(validation_report: dict[str, Any]) -> dict[str, set[str]]:
    """Survey year (or ``"all"`` for a source read whole) -> contract columns its file lacked."""
    years = validation_report.get("years") or {}
    if years:
        return {year: set(info.get("absent_optional_columns") or [])
                for year, info in years.items()}
    return {"all": set(validation_report.get("absent_optional_columns") or [])}


def feature_availability(config: FeatureEngineeringConfig,
                         validation_report: dict[str, Any]) -> dict[str, Any]:
    """``{"years", "dropped", "partial"}``: the features without any value (with their
    sources and the reason) and those missing by design in some years (with the years and how
    the model treats them)."""
    absent = absent_by_year(validation_report)
    years = sorted(absent)
    dropped, partial = [], []
    for feature, sources in feature_sources(config).items():
        missing_years = {s: [y for y in years if s in absent[y]] for s in sources}
        if all(len(missing_years[s]) == len(years) for s in sources):
            dropped.append({
                "feature": feature, "sources": sources,
                "reason": (f"sources {sources} are absent from every year's file "
                           f"({', '.join(years)}): optional columns of the contract that no "
                           "year of the data asked")})
        elif any(missing_years.values()):
            kind = "numeric" if feature in config.numeric_features else "categorical"
            partial.append({
                "feature": feature, "kind": kind,
                "absent_in": {s: ys for s, ys in missing_years.items() if ys},
                "treatment": NUMERIC_TREATMENT if kind == "numeric" else CATEGORICAL_TREATMENT})
    return {"years": years, "dropped": dropped, "partial": partial}


def dropped_features(availability: dict[str, Any]) -> set[str]:
    return {entry["feature"] for entry in availability.get("dropped") or []}
