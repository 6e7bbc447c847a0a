"""The committed configuration as tests see it: the study registry and parameter blocks of
``conf/base``, with each block's study identity stamped from its namespace exactly as the
project's config loader does. Tests read study names from here, never from a literal list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from health_risk.core.studies import StudyRegistry, parse_registry
from health_risk.framework.config_loader import stamp_study_identity

CONF = Path(__file__).resolve().parents[1] / "conf" / "base"
PARAMETERS = CONF / "parameters"


def committed_registry() -> StudyRegistry:
    return parse_registry(yaml.safe_load((CONF / "studies.yml").read_text()))


def studies_running(pipeline: str) -> list[str]:
    return [study.name for study in committed_registry().running(pipeline)]


def committed_params(*files: str) -> dict[str, Any]:
    """The named parameter files (default: all) merged by study, identity stamped."""
    names = files or tuple(p.stem for p in sorted(PARAMETERS.glob("*.yml")))
    merged: dict[str, Any] = {}
    for name in names:
        for key, block in (yaml.safe_load((PARAMETERS / f"{name}.yml").read_text()) or {}).items():
            if isinstance(block, dict) and not key.startswith("_"):
                merged.setdefault(key, {}).update(block)
    return stamp_study_identity(merged, committed_registry())
