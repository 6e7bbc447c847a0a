"""Report sections: JSON-serialisable blocks (tables, plotly figures, PNG images, key figures)
that the HTML renderer lays out. Sections are saved as JSON so each study's part of the report
is inspectable on its own and the renderer needs no Spark."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from health_risk.pipelines.reporting.charts import bar_figure


def _cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if hasattr(value, "item"):  # numpy scalars
        return _cell(value.item())
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value if isinstance(value, (int, str, bool)) else str(value)


def table_block(title: str, frame: pd.DataFrame | None, note: str = "",
                max_rows: int = 200, empty: str = "no rows", wide: bool = False
                ) -> dict[str, Any]:
    frame = frame if frame is not None else pd.DataFrame()
    rows = [[_cell(v) for v in row] for row in frame.head(max_rows).itertuples(index=False)]
    shown = f" (first {max_rows} of {len(frame)} rows)" if len(frame) > max_rows else ""
    return {"type": "table", "title": title, "columns": [str(c) for c in frame.columns],
            "rows": rows, "note": note + shown, "empty": empty, "wide": wide}


def figure_block(title: str, figure: go.Figure | None, note: str = "",
                 wide: bool = False) -> dict[str, Any]:
    return {"type": "figure", "title": title, "note": note, "wide": wide,
            "figure": json.loads(figure.to_json()) if figure is not None else None}


def image_block(title: str, png: bytes | None, note: str = "") -> dict[str, Any]:
    return {"type": "image", "title": title, "note": note,
            "png_base64": base64.b64encode(png).decode("ascii") if png else None}


def text_block(title: str, text: str) -> dict[str, Any]:
    return {"type": "text", "title": title, "text": text}


def markdown_block(title: str, text: str, note: str = "") -> dict[str, Any]:
    """A Markdown document shown as preformatted text (escaped, no HTML from the source)."""
    return {"type": "preformatted", "title": title, "text": text, "note": note}


def metrics_block(title: str, metrics: dict[str, dict[str, float]],
                  intervals: dict[str, dict[str, float]] | None = None,
                  note: str = "") -> dict[str, Any]:
    """Metric x split table (e.g. validation and test), with the test interval when given."""
    names = sorted({name for values in metrics.values() for name in values})
    frame = pd.DataFrame({split: [values.get(name) for name in names]
                          for split, values in metrics.items()}, index=names)
    if intervals:
        frame["test interval"] = [interval_text(intervals.get(name)) for name in names]
    return table_block(title, frame.rename_axis("metric").reset_index(), note=note)


def interval_text(bounds: dict[str, float] | None) -> str | None:
    """'0.812 to 0.861' (4 significant digits), or None without an interval."""
    if not bounds:
        return None
    return f"{bounds['low']:.4g} to {bounds['high']:.4g}"


def ingestion_block(report: dict[str, Any], name: str) -> dict[str, Any]:
    """The data-quality summary of one ingestion report: counts, then violations by rule."""
    counts = {key: report.get(key) for key in ("rows_read", "rows_passed", "rows_quarantined",
                                               "quarantined_share", "max_quarantine_share",
                                               "accounting_balanced")}
    violations = pd.DataFrame(report.get("violations") or [],
                              columns=["rule", "column", "rows"])
    summary = ", ".join(f"{key.replace('_', ' ')}: {value}" for key, value in counts.items())
    block = table_block(f"Data quality at ingestion: {name}", violations, empty="no rule "
                        "violated: every row passed",
                        note=summary + ". Quarantined rows keep every reason and the raw "
                        "record (02_intermediate/<study>/quarantine).")
    block["counts"] = counts
    return block


def drift_blocks(drift: dict[str, Any] | None, study: str) -> list[dict[str, Any]]:
    if not drift or drift.get("measured") is False:  # measured False: nothing was scored
        return [text_block("Drift of the latest batch", (drift or {}).get("reason")
                           or "No batch has been scored yet: run the inference pipeline.")]
    columns = ["feature", "kind", "psi", "ks", "null_share", "reference_null_share", "drifted"]
    rows = [{"feature": name, **values} for name, values in drift["features"].items()]
    table = (pd.DataFrame(rows).reindex(columns=columns)  # scalars only, not the level detail
             .sort_values("psi", ascending=False))
    threshold = drift["psi_threshold"]
    figure = bar_figure(table["feature"].tolist(), table["psi"].round(4).tolist(),
                        f"{study}: PSI per feature, batch {drift['batch_id']}", "feature",
                        "population stability index")
    figure.add_hline(y=threshold, line_dash="dash", line_color="#d62728",
                     annotation_text=f"drift threshold {threshold}")
    flagged = drift.get("drifted_features") or []
    note = (f"Batch {drift['batch_id']} against the training profile of "
            f"{drift['model']['name']} v{drift['model']['version']}. Score PSI "
            f"{drift['score']['psi']:.3f}. Flagged: {', '.join(flagged) or 'none'}. "
            f"{drift.get('method', '')}")
    return [figure_block("Drift of the latest batch", figure, note, wide=True),
            table_block("Drift by feature", table, wide=True, note="KS is read off the reference "
                        "percentile grid (a lower bound of the exact statistic).")]


def key_figure(label: str, value: Any) -> dict[str, str]:
    if isinstance(value, float):
        value = f"{value:,.4g}"
    elif isinstance(value, int) and not isinstance(value, bool):
        value = f"{value:,}"
    return {"label": label, "value": "n/a" if value is None else str(value)}
