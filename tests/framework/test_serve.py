"""`make serve STUDY=...` serves the champion version it resolved, on loopback, and refuses with
the reason what it cannot serve without Spark (the serving end to end: tests/test_end_to_end.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from health_risk.core.serving.flavour import VERSION_ENV
from health_risk.framework.serve import ServeError, serve_command

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def registry(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("HEALTH_RISK_MLFLOW_URI", uri)
    return uri, MlflowClient(tracking_uri=uri, registry_uri=uri)


def _version(client: MlflowClient, name: str, serving: str) -> str:
    client.create_registered_model(name)
    version = client.create_model_version(name, source="file:///nowhere/model").version
    client.set_model_version_tag(name, version, "serving", serving)
    client.set_registered_model_alias(name, "champion", version)
    return str(version)


def test_the_champion_version_is_served_on_loopback_and_named_in_answers(registry):
    uri, client = registry
    version = _version(client, "health_risk_stroke", "python_function (float64)")
    command, env = serve_command(PROJECT, "stroke", 5099)
    assert command == [sys.executable, "-m", "mlflow", "models", "serve", "-m",
                       f"models:/health_risk_stroke/{version}", "--env-manager", "local",
                       "--host", "127.0.0.1", "--port", "5099", "--workers", "1"]
    assert env[VERSION_ENV] == version and env["MLFLOW_TRACKING_URI"] == uri


def test_a_batch_only_champion_is_refused_with_its_reason(registry):
    _, client = registry
    _version(client, "health_risk_insurance", "batch-only: a gbt regressor has no portable form")
    with pytest.raises(ServeError, match="cannot be served without Spark.*gbt regressor"):
        serve_command(PROJECT, "insurance", 5099)


def test_no_champion_and_an_unknown_study_are_refused(registry):
    with pytest.raises(ServeError, match="no champion.*make run"):
        serve_command(PROJECT, "stroke", 5099)
    with pytest.raises(ServeError, match="'census' has no model to serve.*stroke"):
        serve_command(PROJECT, "census", 5099)
