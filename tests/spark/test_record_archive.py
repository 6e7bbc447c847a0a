"""Recording the class archive (spark/record_archive.py; `make spark-archive` runs it before
the tests, and tests/spark/test_class_archive.py uses what it wrote)."""

from __future__ import annotations

import os
import time

from health_risk.spark import record_archive


def test_a_present_archive_is_kept_without_starting_a_jvm(monkeypatch, tmp_path, capsys):
    archive = tmp_path / "a.jsa"
    archive.write_bytes(b"recorded")
    monkeypatch.setattr(record_archive, "archive_path", lambda: archive)
    monkeypatch.setattr(record_archive, "build_spark_session",
                        lambda conf: (_ for _ in ()).throw(AssertionError("a JVM started")))
    assert record_archive.record() == archive
    assert "(present)" in capsys.readouterr().out


def test_a_jdk_without_dynamic_archives_is_skipped(monkeypatch, capsys):
    monkeypatch.setattr(record_archive, "archive_path", lambda: None)
    assert record_archive.record() is None
    assert "JDK 13+" in capsys.readouterr().out


def test_parts_a_killed_recording_left_are_removed_after_an_hour(tmp_path):
    old, fresh = tmp_path / "k.1.part", tmp_path / "k.2.part"
    old.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    record_archive._remove_stale_parts(tmp_path)
    assert not old.exists() and fresh.exists()
