"""The JVM's early start (framework/spark_start.py): which command lines start it, with which
settings, and what the run gets when the settings it was built from are not the run's."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import ClassVar

import pytest

from health_risk.framework import spark_start


@pytest.fixture(autouse=True)
def fresh_start(monkeypatch):
    """Each test with its own early-start state (the module keeps one per process)."""
    monkeypatch.setattr(spark_start, "_START", spark_start._Start())


@pytest.mark.parametrize(("argv", "expected"), [
    (["/venv/bin/kedro", "run", "--env", "test"], ["--env", "test"]),
    (["/venv/lib/python3.11/site-packages/kedro/__main__.py", "run"], []),
    (["/work/src/health_risk/__main__.py", "--pipelines", "ingestion"],
     ["--pipelines", "ingestion"]),
    (["/venv/bin/kedro", "viz", "run"], None),
    (["/venv/bin/kedro"], None),
    (["/venv/bin/pytest", "run"], None),
    ([], None),
])
def test_only_a_run_command_line_is_read(argv, expected):
    assert spark_start._run_arguments(argv) == expected


@pytest.mark.parametrize(("pipelines", "expected"), [
    (None, True), ("", True), ("sample_data", False), (["sample_data"], False),
    ("sample_data,ingestion", True), ("ingestion", True), (" sample_data ", False),
])
def test_every_pipeline_but_the_sample_generator_needs_spark(pipelines, expected):
    assert spark_start.needs_spark(pipelines) is expected


class RecordingLoader:
    """A config loader that records how it was built and serves one spark.yml."""

    built: ClassVar[list[dict]] = []

    def __init__(self, **kwargs):
        RecordingLoader.built.append(kwargs)

    def __getitem__(self, key):
        assert key == "spark"
        return {"spark.master": "local[1]", "spark.driver.memory": "1g"}


@pytest.fixture
def begun(monkeypatch):
    RecordingLoader.built = []
    started = []
    monkeypatch.setattr(spark_start, "begin", lambda conf: started.append(conf) or True)
    return started


def test_a_run_reads_spark_yml_with_its_environment_and_starts(begun, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEDRO_ENV", "cluster")
    assert spark_start.start_for_command_line(
        RecordingLoader, {"base_env": "base"},
        ["/venv/bin/kedro", "run", "--env", "test", "--pipelines", "ingestion"])
    assert begun == [{"spark.master": "local[1]", "spark.driver.memory": "1g"}]
    (built,) = RecordingLoader.built
    assert built["env"] == "test" and built["base_env"] == "base"  # --env over KEDRO_ENV
    assert built["conf_source"].endswith("conf")


def test_kedro_env_applies_when_the_run_names_no_environment(begun, monkeypatch):
    monkeypatch.setenv("KEDRO_ENV", "cluster")
    assert spark_start.start_for_command_line(RecordingLoader, {}, ["/venv/bin/kedro", "run"])
    assert RecordingLoader.built[0]["env"] == "cluster"


@pytest.mark.parametrize("args", [
    ["--pipelines", "sample_data"],  # pandas only
    ["--help"],
    ["--no-such-option-kedro-refuses=1", "--runner"],  # the run reports its own usage error
])
def test_no_early_start_for_runs_without_spark_help_or_a_bad_command(begun, args):
    assert not spark_start.start_for_command_line(RecordingLoader, {},
                                                  ["/venv/bin/kedro", "run", *args])
    assert begun == []


def test_a_configuration_error_leaves_the_run_to_report_it(begun):
    class Broken(RecordingLoader):
        def __getitem__(self, key):
            raise ValueError("spark.yml: bad interpolation")

    assert not spark_start.start_for_command_line(Broken, {}, ["/venv/bin/kedro", "run"])
    assert begun == []


def test_a_spark_connect_server_is_never_started_early():
    assert not spark_start.begin({"spark.remote": "sc://127.0.0.1:15002"})
    assert spark_start._START.thread is None


class FakeSession:
    def __init__(self):
        self.stopped = False

    def stop(self):
        self.stopped = True


@pytest.fixture
def fake_build(monkeypatch):
    """``begin`` starts its thread, which "builds" a fake session instead of a JVM."""
    release = threading.Event()
    sessions = []

    def build_and_warm(conf):
        sessions.append(FakeSession())
        spark_start._START.session = sessions[-1]
        spark_start._START.built.set()
        for _ in range(100):  # the warm-up's queries, until released or told to stop
            if release.is_set() or spark_start._START.stop_warm_up.is_set():
                return
            release.wait(0.1)

    monkeypatch.setattr(spark_start, "_build_and_warm", build_and_warm)
    return SimpleNamespace(release=release, sessions=sessions)


def test_the_run_gets_the_early_session_built_from_its_settings(fake_build):
    conf = {"spark.master": "local[1]"}
    assert spark_start.begin(conf)
    assert not spark_start.begin(conf)  # one early start per process
    session = spark_start.session_for(dict(conf))  # does not wait for the warm-up
    assert session is fake_build.sessions[0] and not session.stopped
    fake_build.release.set()
    spark_start.settle()
    assert not spark_start._START.thread.is_alive()


def test_a_session_built_from_other_settings_is_stopped_for_the_run_to_build_its_own(
        fake_build, caplog, monkeypatch):
    # Its JVM too (spark/session.py stop_with_jvm, tests/spark/test_session.py): not this
    # test process's.
    monkeypatch.setattr(spark_start, "stop_with_jvm", lambda session: session.stop())
    fake_build.release.set()
    spark_start.begin({"spark.master": "local[1]", "spark.driver.memory": "1g"})
    with caplog.at_level("INFO"):
        assert spark_start.session_for({"spark.master": "local[1]",
                                        "spark.driver.memory": "4g"}) is None
    assert fake_build.sessions[0].stopped
    assert "spark.driver.memory" in caplog.text
    assert spark_start._START.thread is None  # the run's own build may start again


def test_the_error_that_stopped_the_early_build_reaches_the_run(monkeypatch):
    def failing(conf):
        spark_start._START.error = RuntimeError("JAVA_GATEWAY_EXITED")
        spark_start._START.built.set()

    monkeypatch.setattr(spark_start, "_build_and_warm", failing)
    spark_start.begin({"spark.master": "local[1]"})
    with pytest.raises(RuntimeError, match="JAVA_GATEWAY_EXITED"):
        spark_start.session_for({"spark.master": "local[1]"})


def test_without_an_early_start_the_run_builds_its_session():
    assert spark_start.session_for({"spark.master": "local[1]"}) is None


def test_a_second_run_in_the_same_process_starts_anew(fake_build):
    """In-process runs (tests): the session goes to one run; the next run's start builds again
    (getOrCreate then returns the live session, or a new one if the last was stopped)."""
    fake_build.release.set()
    conf = {"spark.master": "local[1]"}
    spark_start.begin(conf)
    assert spark_start.session_for(conf) is fake_build.sessions[0]
    assert spark_start.session_for(conf) is None  # handed over once
    assert spark_start.begin(conf)
    assert spark_start.session_for(conf) is fake_build.sessions[1]


def test_a_refused_run_stops_the_warm_up_instead_of_waiting_for_it(fake_build):
    spark_start.begin({"spark.master": "local[1]"})
    spark_start._START.built.wait(5)
    spark_start.settle(timeout=5, refused=True)  # the fake warm-up would run 10 s
    assert not spark_start._START.thread.is_alive()


def test_the_warm_up_asks_between_queries_whether_to_stop(spark):
    from health_risk.spark.session import warm_up

    asked = []
    jobs_before = len(spark.sparkContext.statusTracker().getJobIdsForGroup())
    warm_up(spark, stopped=lambda: asked.append(1) or True)
    assert asked == [1]  # stopped before the first job
    assert len(spark.sparkContext.statusTracker().getJobIdsForGroup()) == jobs_before
