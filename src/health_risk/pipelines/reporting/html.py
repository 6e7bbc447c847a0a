"""Render report sections into one self-contained HTML page.

Everything the page needs is inside it: plotly.js (from the installed plotly package), the
figures as JSON, the PNG plots as data URIs. No CDN, so it opens offline and can be attached to
an MLflow run or an e-mail as one file.
"""

from __future__ import annotations

from typing import Any

import plotly
import plotly.offline
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

# plotly.js fetches a base-map topojson from cdn.plot.ly for every geo subplot, even when all
# base layers are hidden and the map draws embedded GeoJSON. Pre-seeding its asset cache with
# empty topologies stops the request; the state outlines come from the figure itself.
EMPTY_TOPOLOGY = {"type": "Topology", "objects": {}, "arcs": []}
GEO_ASSETS = {"topojson": {name: EMPTY_TOPOLOGY
                           for name in ("usa_110m", "usa_50m", "world_110m", "world_50m")}}
PLOTLY_CONFIG = {"responsive": True, "displaylogo": False}

_environment = Environment(
    loader=PackageLoader("health_risk.pipelines.reporting", "templates"),
    autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined,
    trim_blocks=True, lstrip_blocks=True)


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        # Large figures (populations, charges) in full, small ones to 4 significant digits.
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


_environment.filters["cell"] = _format


def render_report(title: str, sections: list[dict[str, Any]], generated_at: str) -> str:
    figure_count = sum(1 for section in sections for group in section["groups"]
                       for block in group["blocks"]
                       if block["type"] == "figure" and block.get("figure"))
    overview = [section["overview"] for section in sections if section["kind"] == "study"]
    return _environment.get_template("report.html.j2").render(
        title=title, generated_at=generated_at, sections=sections, overview=overview,
        figure_count=figure_count, plotly_js=plotly.offline.get_plotlyjs(),
        plotly_version=plotly.__version__, geo_assets=GEO_ASSETS, plotly_config=PLOTLY_CONFIG)
