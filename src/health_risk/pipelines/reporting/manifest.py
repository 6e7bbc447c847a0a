"""QuickSight manifests for the published CSVs (the aggregate tables, the area estimates), and
the check that they are importable."""

from __future__ import annotations

import csv
from typing import Any

from health_risk.core.errors import HealthRiskError
from health_risk.pipelines.reporting.config import ManifestConfig

CSV_SUFFIX = ".csv"


class ManifestError(HealthRiskError):
    """A manifest entry does not point to a usable file."""


def upload_settings(config: ManifestConfig) -> dict[str, str]:
    # QuickSight spells the booleans as strings.
    return {"format": config.format, "delimiter": config.delimiter,
            "textqualifier": config.text_qualifier,
            "containsHeader": "true" if config.contains_header else "false"}


def build_manifests(tables: list[str], config: ManifestConfig) -> dict[str, dict[str, Any]]:
    """One manifest per table; URIs are relative to the tables' folder (the dataset resolves
    them to absolute URIs when it saves)."""
    return {name: {"fileLocations": [{"URIs": [f"{name}{CSV_SUFFIX}"]}],
                   "globalUploadSettings": upload_settings(config)}
            for name in sorted(tables)}


def _header(line: str | None, delimiter: str) -> list[str] | None:
    if line is None:
        return None
    return next(csv.reader([line], delimiter=delimiter))


def check_manifests(loaded: dict[str, dict[str, Any]], expected: dict[str, list[str]],
                    config: ManifestConfig) -> tuple[list[dict[str, Any]], list[str]]:
    """Every expected table (name -> its configured columns) has a manifest; every manifest
    entry names an existing, non-empty file whose header is the table's columns. Returns
    (entries, problems)."""
    entries, problems = [], []
    for name in sorted(set(expected) - set(loaded)):
        problems.append(f"table '{name}': no manifest was written")
    for name, item in sorted(loaded.items()):
        manifest, where = item["manifest"], item["path"]
        if name not in expected:
            problems.append(f"{where}: manifest for unknown table '{name}'")
            continue
        if manifest.get("globalUploadSettings") != upload_settings(config):
            problems.append(f"{where}: globalUploadSettings {manifest.get('globalUploadSettings')}"
                            f" != {upload_settings(config)}")
        if not item["files"]:
            problems.append(f"{where}: fileLocations lists no URI")
        columns = expected[name]
        for probe in item["files"]:
            header = _header(probe["header"], config.delimiter)
            entry = {"table": name, "manifest": where, "uri": probe["uri"],
                     "exists": probe["exists"], "bytes": probe["bytes"],
                     "header_matches": header == columns}
            entries.append(entry)
            if probe.get("error"):
                problems.append(f"{where}: {probe['uri']} cannot be read ({probe['error']})")
            elif not probe["exists"]:
                problems.append(f"{where}: {probe['uri']} does not exist")
            elif probe["bytes"] == 0:
                problems.append(f"{where}: {probe['uri']} is empty")
            elif header != columns:
                problems.append(f"{where}: {probe['uri']} header {header} != expected {columns}")
    return entries, problems
