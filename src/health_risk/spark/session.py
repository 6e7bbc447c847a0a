"""Building the SparkSession: a classic one from ``conf/<env>/spark.yml`` (master and driver
memory from environment variables, see ``conf/base/spark.yml``) or a Spark Connect client when
``SPARK_REMOTE`` names a server."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from health_risk.spark import class_archive
from health_risk.spark.mode import connect_settings, is_connect, remote_url

logger = logging.getLogger(__name__)


def configure_python_for_spark() -> None:
    """Make Spark workers use this interpreter and bind to loopback unless told otherwise.

    Without ``PYSPARK_PYTHON`` the workers start whatever ``python3`` is first on PATH, which is
    not the project's virtualenv.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def build_spark_session(spark_conf: dict[str, Any], app_name: str = "health-risk"):
    """Get or create the SparkSession with the given ``spark.*`` settings: a classic one, or a
    Spark Connect client when ``SPARK_REMOTE`` (or ``spark.remote``) names a server."""

    configure_python_for_spark()
    remote = remote_url(spark_conf)
    if remote:
        return _connect_session(remote, spark_conf, app_name)
    from pyspark import SparkContext

    # A JVM this process starts (no gateway yet) maps the recorded class archive if there is one.
    options = (class_archive.java_options(spark_conf)
               if SparkContext._gateway is None else None)
    try:
        session = _classic_session(
            class_archive.with_archive(spark_conf, options) if options else spark_conf,
            app_name)
    except Exception as error:
        if not options:
            raise
        class_archive.discard(error)
        session = _classic_session(spark_conf, app_name)
    session.sparkContext.setLogLevel(str(spark_conf.get("health_risk.log_level", "WARN")))
    return session


def _classic_session(spark_conf: dict[str, Any], app_name: str):
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    for key, value in spark_conf.items():
        if value is None or not key.startswith("spark."):
            continue  # the project's own keys (health_risk.log_level): Spark warns on them
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else str(value))
    return builder.getOrCreate()


def stop_with_jvm(session) -> None:
    """Stop ``session`` and the JVM this process started for it, so that the next session
    starts a new JVM with its own settings (driver memory, Java options apply at launch only;
    pyspark otherwise reuses the running JVM)."""
    from pyspark import SparkContext

    session.stop()
    gateway = SparkContext._gateway
    process = getattr(gateway, "proc", None)
    if gateway is None or process is None:
        return  # a JVM this process did not launch (PYSPARK_GATEWAY_PORT) is not its to stop
    gateway.shutdown()
    process.stdin.close()  # the gateway server exits on end of input
    process.wait(timeout=60)
    SparkContext._gateway, SparkContext._jvm = None, None


def warm_up(session, stopped=lambda: False) -> None:
    """One small query of each kind a run starts with (a pandas frame through Arrow, decoding
    expressions, a window, an aggregation collected, a parquet file written and read back), so
    the JVM's one-time costs for them (class loading, code generation, the parquet writer:
    ~3.5 s on a fresh JVM, whatever the data's size) are paid before the first node needs
    them. Best effort: a failure here is logged, and the run meets it again where it matters.
    ``stopped()`` is asked between queries (a run refused before its pipeline ends it early).
    """
    import shutil
    import tempfile

    import pandas as pd
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    folder = tempfile.mkdtemp(prefix="health-risk-warm-up-")
    try:
        frame = session.createDataFrame(pd.DataFrame(
            {"code": [" 1", "2", None], "value": [1.0, float("nan"), 3.0], "n": [1, 2, 2]}))
        decoded = frame.selectExpr(
            "CASE WHEN try_cast(trim(code) AS DOUBLE) IN (1.0) THEN 'one' END AS label",
            "try_cast(value AS INT) AS whole", "n",
            "array(named_struct('rule', 'range', 'value', CAST(value AS STRING))) AS reasons",
        ).withColumn("reasons", F.filter("reasons", lambda r: r.isNotNull()))
        if stopped():
            return
        ranked = decoded.withColumn(
            "seen", F.row_number().over(Window.partitionBy("n").orderBy("whole")))
        ranked.withColumn("raw", F.to_json(F.struct("label", "whole"))).groupBy("n").agg(
            F.count(F.when(F.size("reasons") > 0, F.col("label"))).alias("count"),
            F.sum("seen").alias("seen")).collect()
        if not stopped() and session.sparkContext.master.startswith("local"):
            # On a cluster the executors would write into their own hosts' temporary folders.
            path = f"{folder}/table.parquet"
            ranked.write.mode("overwrite").parquet(path)
            session.read.parquet(path).toPandas()
    except Exception as error:  # noqa: BLE001 - only a head start
        logger.debug("Spark warm-up query failed: %s", error)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _connect_session(remote: str, spark_conf: dict[str, Any], app_name: str):
    """A Spark Connect client: only runtime SQL settings travel; the server owns the JVM."""
    from pyspark.sql import SparkSession

    sent, left = connect_settings(spark_conf)
    builder = SparkSession.builder.remote(remote).appName(app_name)
    for key, value in sent.items():
        builder = builder.config(key, value)
    if left:
        logger.info("Spark Connect: %s left to the server's configuration", ", ".join(left))
    # The builder also reads SPARK_REMOTE; a configured spark.master alongside it is refused,
    # and spark.yml always has one, so MASTER must not be taken from the environment here.
    return builder.getOrCreate()


def spark_location(session) -> str:
    """The master URL of a classic session, the server URL of a Spark Connect one."""
    if is_connect(session):
        return f"Spark Connect server {remote_url({})}"
    return session.sparkContext.master
