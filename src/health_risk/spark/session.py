"""Building the SparkSession: a classic one from ``conf/<env>/spark.yml`` (master and driver
memory from environment variables, see ``conf/base/spark.yml``) or a Spark Connect client when
``SPARK_REMOTE`` names a server."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

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
    from pyspark.sql import SparkSession

    configure_python_for_spark()
    remote = remote_url(spark_conf)
    if remote:
        return _connect_session(remote, spark_conf, app_name)
    builder = SparkSession.builder.appName(app_name)
    for key, value in spark_conf.items():
        if value is None or not key.startswith("spark."):
            continue  # the project's own keys (health_risk.log_level): Spark warns on them
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else str(value))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(str(spark_conf.get("health_risk.log_level", "WARN")))
    return session


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
