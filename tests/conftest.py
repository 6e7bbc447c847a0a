"""Shared fixtures: one quiet local SparkSession for the whole test session."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession

    from .committed_config import test_spark_settings

    # The test environment's settings (conf/test/spark.yml: local[1], small, quiet, JVMs that
    # compile little), and what only this process needs: loopback, UTC, and, as
    # conf/base/spark.yml, no Python call site recorded per column function.
    settings = {**test_spark_settings(), "spark.driver.host": "127.0.0.1",
                "spark.driver.bindAddress": "127.0.0.1", "spark.sql.session.timeZone": "UTC",
                "spark.python.sql.dataFrameDebugging.enabled": False}
    builder = SparkSession.builder.appName("health-risk-tests")
    for key, value in settings.items():
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else str(value))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


# Modules that take longest, started first: pytest-xdist (`--dist loadfile`) hands modules to
# its two processes in collection order, and the end-to-end module (its project fixture, the
# standalone cluster, the notebook) takes about as long as all the others together. Collected
# last, it would start when the others are done and the suite would take both end to end.
LONGEST_FIRST = ("tests/test_end_to_end.py",)


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in LONGEST_FIRST)


@pytest.fixture(autouse=True)
def _no_mlflow_experiment_from_an_earlier_test(monkeypatch):
    """An experiment chosen by an earlier test of this process is not this test's: kedro-mlflow
    leaves MLFLOW_EXPERIMENT_ID in the environment of a process that ran a KedroSession, and
    ``mlflow.set_experiment`` keeps the experiment's id process-wide; a later test with a store
    of its own would look for that id there. Which tests share a process depends on the xdist
    scheduling, so every test starts without either."""
    from mlflow.tracking import fluent

    for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    # MLflow has no public way to forget the active experiment (private, pinned mlflow 3.17).
    monkeypatch.setattr(fluent, "_active_experiment_id", None)


# Evidence a test wants in the CI log even when it passes (pytest captures its output, and
# pytest-xdist runs it in another process): ``record_property("evidence", text)``, printed in
# the terminal summary by the process that reports.
_EVIDENCE: list[str] = []


def pytest_runtest_logreport(report):
    if report.when == "call":
        _EVIDENCE.extend(f"{report.nodeid}: {value}" for key, value in report.user_properties
                         if key == "evidence")


def pytest_terminal_summary(terminalreporter):
    if _EVIDENCE:
        terminalreporter.section("evidence")
        for line in _EVIDENCE:
            terminalreporter.write_line(line)
