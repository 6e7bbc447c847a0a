"""Charts of small aggregated tables: plotly figures (kedro-viz preview, HTML report) and the
same charts drawn as PNG files by the catalog."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from health_risk.pipelines.reporting.config import ChartSpec

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f"]


def _labels(table: pd.DataFrame, column: str) -> list[str]:
    # Nulls are their own group in the aggregates; show them as such, not as "nan".
    return ["(missing)" if pd.isna(v) else str(v) for v in table[column]]


def _ordered(table: pd.DataFrame, spec: ChartSpec) -> pd.DataFrame:
    if not spec.order:
        return table.sort_values(spec.x, na_position="last", kind="stable")
    # Configured categories first, in their order; others after them; nulls last.
    rank = {label: i for i, label in enumerate(spec.order)}
    position = table[spec.x].map(lambda v: len(rank) + 1 if pd.isna(v)
                                 else rank.get(str(v), len(rank)))
    return table.assign(_position=position).sort_values("_position", kind="stable").drop(
        columns="_position")


def _interval(table: pd.DataFrame, y: str) -> dict | None:
    """Error bars from ``<y>_ci_low`` / ``<y>_ci_high`` when the table has them (a weighted
    mean with a survey design)."""
    low, high = f"{y}_ci_low", f"{y}_ci_high"
    if low not in table.columns or high not in table.columns:
        return None
    value = table[y].astype(float)
    return {"type": "data", "symmetric": False, "visible": True,
            "array": (table[high].astype(float) - value).tolist(),
            "arrayminus": (value - table[low].astype(float)).tolist()}


def plotly_chart(kind: str, table: pd.DataFrame, spec: ChartSpec) -> go.Figure:
    table = _ordered(table, spec)
    x, y = _labels(table, spec.x), table[spec.y].astype(float).tolist()
    if kind == "pie":
        trace = go.Pie(labels=x, values=y, sort=False, hole=0.35,
                       marker={"colors": PALETTE}, textinfo="label+percent")
    elif kind == "bar":
        trace = go.Bar(x=x, y=y, marker_color=PALETTE[0], name=spec.y,
                       error_y=_interval(table, spec.y))
    elif kind == "line":
        numeric = pd.api.types.is_numeric_dtype(table[spec.x])
        trace = go.Scatter(x=table[spec.x].tolist() if numeric else x, y=y,
                           mode="lines+markers", line={"color": PALETTE[0]}, name=spec.y,
                           error_y=_interval(table, spec.y))
    else:
        raise ValueError(f"unknown chart kind '{kind}' (bar, pie, line)")
    figure = go.Figure(trace)
    figure.update_layout(title=spec.title, template="plotly_white", height=380,
                         margin={"l": 60, "r": 20, "t": 60, "b": 60})
    if kind != "pie":
        figure.update_xaxes(title=spec.x_label or spec.x)
        figure.update_yaxes(title=spec.y_label or spec.y)
    return figure


def bar_figure(x: list[str], y: list[float], title: str, x_label: str, y_label: str,
               text: list[str] | None = None) -> go.Figure:
    """A plain bar chart for tables that are not configured aggregates (tiers, drift)."""
    figure = go.Figure(go.Bar(x=x, y=y, text=text, marker_color=PALETTE[0]))
    figure.update_layout(title=title, template="plotly_white", height=360,
                         margin={"l": 60, "r": 20, "t": 60, "b": 80})
    figure.update_xaxes(title=x_label)
    figure.update_yaxes(title=y_label)
    return figure


def empty_figure(title: str, message: str) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(title=title, template="plotly_white", height=240,
                         xaxis={"visible": False}, yaxis={"visible": False},
                         annotations=[{"text": message, "showarrow": False,
                                       "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}])
    return figure
