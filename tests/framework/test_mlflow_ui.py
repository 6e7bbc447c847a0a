"""`make mlflow-ui` starts MLflow's UI on the store mlflow.yml configures, without a session."""

from __future__ import annotations

import sys
from pathlib import Path

from health_risk.framework.mlflow_ui import ui_command

PROJECT = Path(__file__).resolve().parents[2]


def test_the_ui_serves_the_configured_store_on_loopback(monkeypatch):
    monkeypatch.delenv("HEALTH_RISK_MLFLOW_URI", raising=False)
    monkeypatch.delenv("MLFLOW_UI_WORKERS", raising=False)
    assert ui_command(PROJECT) == [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri",
                                   "sqlite:///mlflow.db", "--workers", "1", "--host",
                                   "127.0.0.1", "--port", "5000"]
    monkeypatch.setenv("MLFLOW_UI_WORKERS", "3")
    assert ui_command(PROJECT)[6:8] == ["--workers", "3"]
    monkeypatch.setenv("HEALTH_RISK_MLFLOW_URI", "sqlite:////srv/mlflow/health.db")
    assert "sqlite:////srv/mlflow/health.db" in ui_command(PROJECT, env="test")
