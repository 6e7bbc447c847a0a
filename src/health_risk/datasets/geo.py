"""US state boundaries for the state maps, read from the ``plotly-geo`` package data.

plotly.js draws ``locationmode="USA-states"`` maps from a topojson file it fetches from
cdn.plot.ly when the chart opens, which breaks a report meant to open offline. The Census
cartographic boundary shapefile that ships inside ``plotly-geo`` (installed with the project,
nothing is downloaded at run time) gives the same outlines; they are simplified here
(Douglas-Peucker at ``resolution`` degrees) so the GeoJSON embedded in each figure stays small
(~85 kB at 0.05 degrees).
"""

from __future__ import annotations

from importlib.resources import files
from itertools import pairwise
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError

SHAPEFILE = "cb_2016_us_state_500k.shp"


def _douglas_peucker(points: np.ndarray, tolerance: float) -> np.ndarray:
    """Keep the points that deviate more than ``tolerance`` from the simplified line."""
    keep = np.zeros(len(points), dtype=bool)
    keep[[0, -1]] = True
    stack = [(0, len(points) - 1)]
    while stack:
        start, stop = stack.pop()
        if stop - start < 2:
            continue
        a, b = points[start], points[stop]
        segment = b - a
        inner = points[start + 1:stop] - a
        length = float(np.hypot(*segment))
        if length == 0.0:
            distance = np.hypot(inner[:, 0], inner[:, 1])
        else:
            distance = np.abs(segment[0] * inner[:, 1] - segment[1] * inner[:, 0]) / length
        worst = int(np.argmax(distance))
        if distance[worst] > tolerance:
            middle = start + 1 + worst
            keep[middle] = True
            stack += [(start, middle), (middle, stop)]
    return points[keep]


def _simplify(ring: list[tuple[float, float]], resolution: float) -> list[list[float]]:
    """Douglas-Peucker at ``resolution`` degrees, rounded, ring kept closed."""
    points = _douglas_peucker(np.asarray(ring, dtype=float), resolution)
    simplified = [[round(float(lon), 3), round(float(lat), 3)] for lon, lat in points]
    if simplified and simplified[0] != simplified[-1]:
        simplified.append(simplified[0])
    return simplified


def _polygons(shape: Any, resolution: float) -> list[list[list[list[float]]]]:
    """Shapefile parts -> GeoJSON MultiPolygon coordinates (each part its own polygon; the
    state files carry islands as parts, not holes, at this scale)."""
    bounds = [*shape.parts, len(shape.points)]
    polygons = []
    for start, stop in pairwise(bounds):
        ring = _simplify(shape.points[start:stop], resolution)
        if len(ring) >= 4:  # at least a triangle once simplified: smaller islands vanish
            polygons.append([ring])
    return polygons


class UsStateBoundariesDataset(AbstractDataset):
    """Read-only: ``load()`` returns a GeoJSON FeatureCollection whose feature ``id`` is the
    two-digit state FIPS code, with ``name`` and ``postal`` properties."""

    def __init__(self, resolution: float = 0.05,
                 metadata: dict[str, Any] | None = None) -> None:
        if resolution <= 0:
            raise DatasetError(f"UsStateBoundariesDataset: resolution must be > 0, "
                               f"got {resolution}")
        self._resolution = float(resolution)
        self.metadata = metadata

    def _shapefile(self):
        try:
            return files("_plotly_geo") / "package_data" / SHAPEFILE
        except ModuleNotFoundError as error:
            raise DatasetError("US state boundaries need the 'plotly-geo' package "
                               "(a project dependency): reinstall with `make install`") from error

    def load(self) -> dict[str, Any]:
        import shapefile  # pyshp

        path = self._shapefile()
        with shapefile.Reader(str(path)) as reader:
            fields = [field[0] for field in reader.fields[1:]]
            features = []
            for record, shape in zip(reader.records(), reader.shapes(), strict=True):
                attributes = dict(zip(fields, record, strict=True))
                polygons = _polygons(shape, self._resolution)
                if not polygons:
                    continue
                features.append({
                    "type": "Feature", "id": attributes["STATEFP"],
                    "properties": {"name": attributes["NAME"], "postal": attributes["STUSPS"]},
                    "geometry": {"type": "MultiPolygon", "coordinates": polygons},
                })
        return {"type": "FeatureCollection", "features": features}

    def save(self, data: Any) -> None:
        raise DatasetError("UsStateBoundariesDataset is read-only (package data of plotly-geo)")

    def _exists(self) -> bool:
        return self._shapefile().is_file()

    def _describe(self) -> dict[str, Any]:
        return {"source": f"plotly-geo:{SHAPEFILE}", "resolution": self._resolution}
