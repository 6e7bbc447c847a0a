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
    # A group of its own: the status tracker keeps only the last spark.ui.retainedJobs (1,000)
    # jobs of the session, and the tests before this one in the same process ran more.
    context = spark.sparkContext
    context.setJobGroup("warm-up-test", "the warm-up's queries")
    try:
        warm_up(spark)
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
        context.setLocalProperty("spark.job.description", None)
    assert len(context.statusTracker().getJobIdsForGroup("warm-up-test")) >= 3
    assert folders and not folders[0].exists()


def test_a_failing_warm_up_is_only_logged(caplog):
    from health_risk.spark.session import warm_up

    with caplog.at_level("DEBUG", logger="health_risk.spark.session"):
        warm_up(SimpleNamespace())  # no createDataFrame: the first query fails
    assert "warm-up query failed" in caplog.text


def test_a_session_stopped_with_its_jvm_gives_way_to_a_jvm_with_the_next_settings(tmp_path):
    """Driver memory applies when a JVM starts; pyspark keeps the first JVM for every later
    session unless it is stopped too (framework/spark_start.py relies on it). In a process of
    its own: this test process's JVM is the other tests'."""
    import json
    import subprocess
    import sys

    script = (
        "from health_risk.spark.session import build_spark_session, stop_with_jvm\n"
        "def heap(s):\n"
        "    pid = s.sparkContext._jvm.java.lang.ProcessHandle.current().pid()\n"
        "    args = open(f'/proc/{pid}/cmdline').read().split(chr(0))\n"
        "    return pid, [a for a in args if a.startswith('-Xmx')]\n"
        "conf = {'spark.master': 'local[1]', 'spark.ui.enabled': 'false'}\n"
        "first = heap(build_spark_session({**conf, 'spark.driver.memory': '1g'}))\n"
        "stop_with_jvm(build_spark_session(conf))\n"
        "second = build_spark_session({**conf, 'spark.driver.memory': '2g'})\n"
        "import json\n"
        "print(json.dumps([first, heap(second), second.range(4).count()]))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    first, second, count = json.loads(done.stdout.strip().splitlines()[-1])
    assert first[1] == ["-Xmx1g"] and second[1] == ["-Xmx2g"] and first[0] != second[0]
    assert count == 4
