"""A model card for each registered version (Markdown): what the model is for, the data it was
trained on, its features, its test metrics with their intervals, subgroups, calibration, known
limitations and the gate's decision. Logged to the MLflow run that registered the version (so it
sits beside the model) and shown in the HTML report."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from health_risk.core.metrics import with_interval_text
from health_risk.core.modeling_config import ModelingConfig


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def _table(frame: pd.DataFrame, max_rows: int = 40) -> str:
    if frame is None or frame.empty:
        return "_none_"
    head = frame.head(max_rows)
    lines = ["| " + " | ".join(map(str, head.columns)) + " |",
             "|" + "---|" * len(head.columns)]
    lines += ["| " + " | ".join(_number(v) for v in row) + " |"
              for row in head.itertuples(index=False)]
    return "\n".join(lines)


def summarise_data_provenance(validation_report: dict, feature_report: dict) -> dict[str, Any]:
    """What the card says about the data: its sources, the rows read and quarantined at
    ingestion, and the rows that reached the model (and why the others did not)."""
    return {
        "sources": validation_report.get("sources") or [],
        "rows_read": validation_report.get("rows_read"),
        "rows_quarantined": validation_report.get("rows_quarantined"),
        "checked_at": validation_report.get("checked_at", "n/a"),
        "rows_in": feature_report.get("rows_in"),
        "rows_out": feature_report.get("rows_out"),
        "rows_excluded": feature_report.get("rows_excluded") or 0,
        "excluded_rows_by_reason": feature_report.get("excluded_rows_by_reason"),
    }


def _automatic_limitations(evaluation: dict, provenance: dict, spec: dict) -> list[str]:
    test = evaluation.get("test") or {}
    notes = []
    rows = test.get("rows")
    if evaluation.get("task") == "classification" and rows:
        positives = round(rows * (test.get("positive_rate") or 0))
        notes.append(f"The test split holds {int(rows):,} rows and about {positives:,} "
                     "positives: read the metrics with their intervals.")
    excluded = provenance["rows_excluded"]
    if excluded:
        notes.append(f"{excluded:,} rows were not modelled (no usable target, id or weight): "
                     f"{provenance['excluded_rows_by_reason']}.")
    if spec.get("weight_column"):
        notes.append("Metrics are unweighted; population figures use the survey weight.")
    return notes


def _availability_lines(spec: dict[str, Any]) -> list[str]:
    """The features left out because no year of the data has their sources, and those some
    years lack (feature engineering's ``core.features.availability``)."""
    lines = [f"- **Dropped** `{d['feature']}`: {d['reason']}"
             for d in spec.get("dropped_features") or []]
    for partial in spec.get("partially_available_features") or []:
        years = sorted({y for ys in partial["absent_in"].values() for y in ys})
        lines.append(f"- Missing by design in {', '.join(years)}: `{partial['feature']}` "
                     f"({partial['kind']}; {partial['treatment']})")
    return lines


def build_model_card(registration: dict, gate_decision: dict, evaluation_report: dict,
                     spec: dict[str, Any], subgroup_metrics: pd.DataFrame,
                     data_provenance: dict[str, Any], cross_validation: dict[str, Any],
                     params: dict[str, Any]) -> str:
    config = ModelingConfig.model_validate(params)
    card = config.model_card
    intervals = evaluation_report.get("test_intervals") or {}
    metrics = pd.DataFrame([
        {"metric": name, "test": value,
         "interval low": (intervals.get(name) or {}).get("low"),
         "interval high": (intervals.get(name) or {}).get("high")}
        for name, value in sorted((evaluation_report.get("test") or {}).items())
        if name not in ("rows", "threshold")])
    limitations = [*card.limitations,
                   *_automatic_limitations(evaluation_report, data_provenance, spec)]
    sources = ", ".join(data_provenance["sources"]) or "not recorded"
    period = f" ({card.period})" if card.period else ""
    ingested = (f"- Rows read at ingestion: {_number(data_provenance['rows_read'])}, "
                f"quarantined: {_number(data_provenance['rows_quarantined'])} (checked "
                f"{data_provenance['checked_at']})")
    modelled = (f"- Rows modelled: {_number(data_provenance['rows_out'])} of "
                f"{_number(data_provenance['rows_in'])}; split train / validation / test by "
                "the study's split rule")
    calibration = (f"- Calibration: {evaluation_report.get('calibration', 'n/a')}; threshold "
                   f"{_number(evaluation_report.get('threshold'))} chosen on "
                   f"{evaluation_report.get('chosen_on', 'validation')} "
                   f"({evaluation_report.get('threshold_strategy', 'n/a')})")
    gate = (f"- **Gate decision**: alias `{gate_decision.get('alias')}`; "
            f"{'; '.join(gate_decision.get('reasons') or [])}")
    lines = [
        f"# Model card: {registration['model_name']} version {registration['version']}",
        "",
        f"- **Study**: {config.study} ({config.task}); MLflow run `{registration['run_id']}`",
        gate,
        "",
        "## Intended use",
        card.intended_use or ("Population health risk estimation and individual risk "
                              "screening for research and planning; not a diagnostic tool."),
        "",
        "## Data",
        f"- Source: {sources}{period}",
        ingested,
        modelled,
        "",
        "## Features",
        f"- Numeric: {', '.join(spec.get('numeric_features') or []) or 'none'}",
        f"- Categorical: {', '.join(spec.get('categorical_features') or []) or 'none'}",
        *_availability_lines(spec),
        "",
        "## Test metrics",
        evaluation_report.get("interval_method", ""),
        "",
        _table(metrics),
        "",
        "## Cross-validated estimate",
        (_table(pd.DataFrame([{"metric": k, **v} for k, v in
                              cross_validation["summary"].items()]))
         + f"\n\n{cross_validation['method']}."
         if cross_validation.get("performed")
         else f"Not computed: {cross_validation.get('reason', 'n/a')}."),
        "",
        "## Calibration and threshold",
        calibration,
        "",
        "## Subgroups (test)",
        _table(with_interval_text(subgroup_metrics)),
        "",
        "## Known limitations",
        *[f"- {note}" for note in limitations],
        "",
    ]
    return "\n".join(lines)
