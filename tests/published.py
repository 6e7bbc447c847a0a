"""Where a published member's current version lives on disk, for tests that read files directly
(the catalog resolves it for the pipelines: health_risk.datasets.publication)."""

from __future__ import annotations

from pathlib import Path

from health_risk.datasets.publication import published_path

# The publication (its record's folder under the data root) of each published member.
PUBLICATION = {"validated": "02_intermediate", "quarantine": "02_intermediate",
               "validation_report": "02_intermediate", "primary": "04_feature",
               "features": "04_feature", "feature_spec": "04_feature",
               "feature_report": "04_feature"}


def published(data_root: Path, relative: str) -> Path:
    """``published(data, "02_intermediate/stroke/validated")``: the folder (or file) of the
    member's published version."""
    _, study, name = Path(relative).parts
    member = name.removesuffix(".json")
    record = data_root / PUBLICATION[member] / study / "_publication.json"
    return Path(published_path(str(record), member, str(data_root / relative)))
