"""Classic Spark (a JVM in this process, driven through Py4J) or Spark Connect (a gRPC client of
a Spark Connect server: ``SPARK_REMOTE=sc://host:15002``, the protocol Databricks Connect
speaks).

Over Spark Connect the DataFrame API works unchanged, so ingestion and feature engineering run
as they are. There is no JVM gateway, though: no ``SparkContext``, no RDDs, no ``_java_obj``.
The components built on those are refused before the run, with what to do instead
(``classic_only_components``), not left to fail deep in a Py4J traceback; the few that depend
on what a run decides (SHAP of a tree model that won) check where they run
(``require_classic``). The server owns the
JVM, so only runtime SQL settings (``spark.sql.*``) can be sent from the client; master, driver
and executor settings belong to the server's own configuration.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

REMOTE_ENV = "SPARK_REMOTE"
# Static SQL settings: fixed when the server's session starts, refused from a client.
STATIC_SQL_SETTINGS = ("spark.sql.warehouse.dir", "spark.sql.catalogImplementation",
                       "spark.sql.extensions", "spark.sql.legacy.")


class ClassicSparkRequired(RuntimeError):
    """A component needs the JVM gateway that Spark Connect does not offer."""


def remote_url(spark_conf: Mapping[str, Any]) -> str | None:
    """The Spark Connect URL of this run: ``SPARK_REMOTE``, or ``spark.remote`` in spark.yml."""
    return os.environ.get(REMOTE_ENV) or spark_conf.get("spark.remote") or None


def connect_settings(spark_conf: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """(settings a Connect client may send, the keys left to the server)."""
    sent, left = {}, []
    for key, value in spark_conf.items():
        if value is None or key == "spark.remote" or key.startswith("health_risk."):
            continue
        if key.startswith("spark.sql.") and not key.startswith(STATIC_SQL_SETTINGS):
            sent[key] = str(value).lower() if isinstance(value, bool) else str(value)
        else:
            left.append(key)
    return sent, left


def is_connect(session) -> bool:
    """Whether ``session`` (a SparkSession or a DataFrame) talks to a Spark Connect server."""
    try:
        from pyspark.sql.connect.dataframe import DataFrame as ConnectDataFrame
        from pyspark.sql.connect.session import SparkSession as ConnectSession
    except ImportError:  # the Connect client's dependencies (grpcio) are not installed
        return False
    return isinstance(session, ConnectSession | ConnectDataFrame)


# What needs the classic gateway, and why: one list, checked before a run over Connect.
XGBOOST_REASON = ("xgboost.spark trains in barrier-mode RDD stages and sizes its workers from "
                  "the SparkContext")
TREE_SHAP_REASON = ("SHAP's TreeExplainer reads the fitted Spark trees through the JVM gateway "
                    "(Py4J)")
MLFLOW_SPARK_REASON = ("mlflow.spark saves and loads a PipelineModel through the JVM's Hadoop "
                       "filesystem")
# Node tags (set in each pipeline's ``pipeline.py``, read by the framework's hooks before a
# run): what a node needs from Spark, so no list of node names lives in code.
CLASSIC_SPARK = "classic_spark"  # saves or loads a Spark ML model with mlflow.spark
FITS_CANDIDATES = "fits_candidates"  # fits the study's candidates: classic when xgboost is one


def classic_only_components(nodes, xgboost_studies: set[str]) -> list[tuple[str, str]]:
    """(node, reason) for each node of ``nodes`` that cannot run over Spark Connect, from its
    tags; ``xgboost_studies``: the studies with xgboost among their candidates."""
    blockers = []
    for node in nodes:
        study = (node.namespace or "").split(".")[0]
        if CLASSIC_SPARK in node.tags:
            blockers.append((node.name, MLFLOW_SPARK_REASON))
        elif FITS_CANDIDATES in node.tags and study in xgboost_studies:
            blockers.append((node.name, f"the xgboost candidate: {XGBOOST_REASON}"))
    return blockers


def require_classic(session, component: str, reason: str) -> None:
    """Raise ``ClassicSparkRequired`` naming the component when ``session`` is Spark Connect."""
    if is_connect(session):
        raise ClassicSparkRequired(classic_message([(component, reason)]))


def classic_message(blockers: list[tuple[str, str]]) -> str:
    listed = "; ".join(f"{name}: {reason}" for name, reason in blockers)
    return (f"Spark Connect ({REMOTE_ENV}={os.environ.get(REMOTE_ENV, '<spark.remote>')}) "
            f"cannot run {listed}. Spark Connect has no JVM gateway. Run these nodes with a "
            f"classic session (unset {REMOTE_ENV} and set SPARK_MASTER, e.g. --env cluster), "
            "or run only the pipelines that work over Connect: "
            "--pipelines ingestion,feature_engineering (docs/operations.md, 'Spark Connect')")
