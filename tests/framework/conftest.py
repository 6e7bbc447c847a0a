"""Fixtures of the framework tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scratch_project(tmp_path_factory):
    """A project to `kedro run` in a subprocess without touching the repository's data or
    MLflow store: conf/ (base and test), pyproject.toml and an empty src/ (the package is
    installed)."""
    root = tmp_path_factory.mktemp("scratch_project")
    (root / "conf").mkdir()
    for env in ("base", "test"):
        shutil.copytree(PROJECT / "conf" / env, root / "conf" / env)
    (root / "conf" / "local").mkdir()
    (root / "src").mkdir()
    shutil.copy(PROJECT / "pyproject.toml", root / "pyproject.toml")
    shutil.copy(PROJECT / ".telemetry", root / ".telemetry")
    return root
