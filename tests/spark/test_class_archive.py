"""The driver JVM's class archive (spark/class_archive.py): which JDKs get one, where it is, how
a session gets it, and that a broken archive never stops a run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pyspark.sql
import pytest

from health_risk.spark import class_archive
from health_risk.spark.session import build_spark_session


def fake_jdk(root: Path, version: str) -> Path:
    java = root / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\n")
    java.chmod(0o755)
    (root / "jdk" / "release").write_text(f'JAVA_VERSION="{version}"\nIMPLEMENTOR="test"\n')
    return java.parent.parent


@pytest.fixture
def cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "health-risk" / "spark"


def test_a_jdk_that_writes_dynamic_archives_gets_one_named_after_it_and_spark(
        monkeypatch, tmp_path, cache):
    monkeypatch.setenv("JAVA_HOME", str(fake_jdk(tmp_path / "a", "17.0.15")))
    first = class_archive.archive_path()
    assert first.parent == cache and first.suffix == ".jsa"
    monkeypatch.setenv("JAVA_HOME", str(fake_jdk(tmp_path / "b", "21.0.2")))
    assert class_archive.archive_path() not in (None, first)  # another JDK: another archive


@pytest.mark.parametrize("version", ["11.0.22", "1.8.0_392"])
def test_an_older_jdk_gets_none(monkeypatch, tmp_path, cache, version):
    monkeypatch.setenv("JAVA_HOME", str(fake_jdk(tmp_path, version)))
    assert class_archive.archive_path() is None
    assert class_archive.java_options({}) is None


def test_the_options_map_a_recorded_archive_unless_switched_off(monkeypatch, tmp_path, cache):
    monkeypatch.setenv("JAVA_HOME", str(fake_jdk(tmp_path, "17.0.15")))
    assert class_archive.java_options({}) is None  # nothing recorded yet
    path = class_archive.archive_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"recorded")
    assert class_archive.java_options({}) == (f"-XX:SharedArchiveFile={path} "
                                              f"{class_archive.QUIET}")
    for off in (False, "false", "off", "0"):
        assert class_archive.java_options({class_archive.SETTING: off}) is None


def test_configured_default_java_options_are_kept_before_the_archive():
    conf = class_archive.with_archive({"spark.driver.defaultJavaOptions": "-Dx=1"}, "-XX:A")
    assert conf["spark.driver.defaultJavaOptions"] == "-Dx=1 -XX:A"
    assert class_archive.with_archive({}, "-XX:A")["spark.driver.defaultJavaOptions"] == "-XX:A"


class Builder:
    """SparkSession.builder that records each getOrCreate's settings; ``refuse`` makes a start
    with the archive fail, as a JVM mapping a truncated archive does."""

    def __init__(self, refuse: bool = False):
        self.starts, self.refuse, self.given = [], refuse, {}

    def appName(self, name):
        self.given = {}
        return self

    def config(self, key, value):
        self.given[key] = value
        return self

    def getOrCreate(self):
        self.starts.append(dict(self.given))
        if self.refuse and "spark.driver.defaultJavaOptions" in self.given:
            raise RuntimeError("[JAVA_GATEWAY_EXITED] Java gateway process exited")
        return SimpleNamespace(sparkContext=SimpleNamespace(setLogLevel=lambda level: None))


@pytest.fixture
def no_jvm_yet(monkeypatch):
    from pyspark import SparkContext

    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    monkeypatch.setattr(SparkContext, "_gateway", None)


def test_a_new_jvm_maps_the_archive(monkeypatch, no_jvm_yet):
    builder = Builder()
    monkeypatch.setattr(pyspark.sql, "SparkSession", SimpleNamespace(builder=builder))
    monkeypatch.setattr(class_archive, "java_options", lambda conf: "-XX:SharedArchiveFile=a")
    build_spark_session({"spark.master": "local[1]"})
    assert builder.starts == [{"spark.master": "local[1]",
                               "spark.driver.defaultJavaOptions": "-XX:SharedArchiveFile=a"}]


def test_a_jvm_that_cannot_start_with_the_archive_starts_without_it_and_the_archive_goes(
        monkeypatch, tmp_path, no_jvm_yet, caplog):
    archive = tmp_path / "archive.jsa"
    archive.write_bytes(b"truncated")
    builder = Builder(refuse=True)
    monkeypatch.setattr(pyspark.sql, "SparkSession", SimpleNamespace(builder=builder))
    monkeypatch.setattr(class_archive, "archive_path", lambda: archive)
    monkeypatch.setattr(class_archive, "java_options", lambda conf: f"-XX:SharedArchiveFile={archive}")
    build_spark_session({"spark.master": "local[1]"})
    assert [("spark.driver.defaultJavaOptions" in s) for s in builder.starts] == [True, False]
    assert not archive.exists()
    assert "make spark-archive" in caplog.text


def test_a_truncated_archive_on_disk_does_not_stop_a_real_jvm(tmp_path):
    """A JVM mapping a truncated archive dies (SIGBUS, measured; a file of zeros it merely
    ignores): the session starts without it, in a process of its own (one JVM per process).
    The truncated copy is cut from the archive `make test` records first."""
    recorded = class_archive.archive_path()
    if recorded is None or not recorded.is_file():
        pytest.skip("no recorded class archive (make spark-archive records it)")
    cache = tmp_path / "cache" / "health-risk" / "spark"
    cache.mkdir(parents=True)
    with recorded.open("rb") as whole:
        (cache / recorded.name).write_bytes(whole.read(8 * 2**20))
    script = (
        "from health_risk.spark import class_archive\n"
        "from health_risk.spark.session import build_spark_session\n"
        "spark = build_spark_session({'spark.master': 'local[1]', 'spark.ui.enabled': 'false'})\n"
        "assert spark.range(3).count() == 3\n"
        "print('archive left:', class_archive.archive_path().exists())\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=240, check=False,
                          env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "archive left: False" in done.stdout
    assert "stopped the JVM from starting" in done.stderr
