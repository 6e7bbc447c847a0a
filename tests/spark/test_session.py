"""What the classic session builder receives from spark.yml."""

from __future__ import annotations

from types import SimpleNamespace

import pyspark.sql

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
    build_spark_session({"spark.master": "local[1]", "spark.ui.enabled": False,
                         "spark.sql.shuffle.partitions": 2, "spark.driver.host": None,
                         "health_risk.log_level": "ERROR"})
    assert given == {"spark.master": "local[1]", "spark.ui.enabled": "false",
                     "spark.sql.shuffle.partitions": "2"}
    assert levels == ["ERROR"]
