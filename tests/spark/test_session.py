"""What the classic session builder receives from spark.yml."""

from __future__ import annotations

from types import SimpleNamespace

import pyspark.sql

from health_risk.spark import class_archive
from health_risk.spark.session import build_spark_session


def test_only_spark_settings_reach_the_builder_and_the_log_level_is_applied(monkeypatch):
    """The project's own keys (``health_risk.log_level``) never reach Spark, which would print
    "Ignoring non-Spark config property" on every run (issue 26, item 4)."""
    given, levels = {}, []

    class Builder:
        def appName(self, name):
            return self

        def config(self, key, value):
            given[key] = value
            return self

        def getOrCreate(self):
            return SimpleNamespace(sparkContext=SimpleNamespace(setLogLevel=levels.append))

    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    monkeypatch.setattr(pyspark.sql, "SparkSession", SimpleNamespace(builder=Builder()))
    # Whether a class archive is recorded on this machine (test_class_archive.py covers it).
    monkeypatch.setattr(class_archive, "java_options", lambda conf: None)
    build_spark_session({"spark.master": "local[1]", "spark.ui.enabled": False,
                         "spark.sql.shuffle.partitions": 2, "spark.driver.host": None,
                         "health_risk.log_level": "ERROR"})
    assert given == {"spark.master": "local[1]", "spark.ui.enabled": "false",
                     "spark.sql.shuffle.partitions": "2"}
    assert levels == ["ERROR"]


def test_the_warm_up_runs_each_kind_of_first_query_and_leaves_no_file(spark, monkeypatch,
                                                                       tmp_path):
    import tempfile

    from health_risk.spark.session import warm_up

    folders = []

    def mkdtemp(prefix=""):
        folders.append(tmp_path / f"{prefix}0")
        folders[-1].mkdir()
        return str(folders[-1])

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    jobs_before = len(spark.sparkContext.statusTracker().getJobIdsForGroup())
    warm_up(spark)
    assert len(spark.sparkContext.statusTracker().getJobIdsForGroup()) > jobs_before
    assert folders and not folders[0].exists()


def test_a_failing_warm_up_is_only_logged(caplog):
    from health_risk.spark.session import warm_up

    with caplog.at_level("DEBUG", logger="health_risk.spark.session"):
        warm_up(SimpleNamespace())  # no createDataFrame: the first query fails
    assert "warm-up query failed" in caplog.text
