"""The lazy Spark session hook.

The session is built from ``conf/<env>/spark.yml`` for a run, not for every context: commands
that never touch Spark (``kedro viz``, ``kedro catalog``) start no JVM, and JVM-level settings
such as driver memory are applied before the JVM starts (they are ignored once it runs). Over
Spark Connect, a pipeline holding a node tagged as needing the classic JVM gateway is refused
before the session is built.

``kedro run`` of a Spark pipeline builds its session in a thread from the start
(``framework.spark_start``: from ``settings.py`` for a command line, at context creation for a
run started in-process); the session is awaited where it was built before, in
``before_pipeline_run``: a run refused by a check before it never used it.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl

from health_risk.core.modeling_config import ModelingConfig
from health_risk.framework import spark_start
from health_risk.framework.hooks.mlflow_runs import fail_mlflow_runs
from health_risk.spark.mode import (
    ClassicSparkRequired,
    classic_message,
    classic_only_components,
    remote_url,
)
from health_risk.spark.session import build_spark_session, spark_location

logger = logging.getLogger(__name__)


class SparkHooks:
    """Create the SparkSession from the ``spark`` config before any dataset is loaded."""
    def __init__(self) -> None:
        self._spark_conf: dict[str, Any] = {}
        self._session = None

    @hook_impl
    def after_context_created(self, context) -> None:
        try:
            self._spark_conf = dict(context.config_loader["spark"])
        except KeyError:
            self._spark_conf = {}
        if spark_start.requested() and self._session is None:
            spark_start.begin(self._spark_conf)  # unless settings.py started it already

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        if remote_url(self._spark_conf):
            refuse_classic_only_nodes(pipeline, catalog)
        if self._session is None:
            self._session = (spark_start.session_for(self._spark_conf)
                             or build_spark_session(self._spark_conf))
        logger.info("Spark %s session on %s", self._session.version,
                    spark_location(self._session))

    @hook_impl
    def after_pipeline_run(self) -> None:
        spark_start.settle()  # no warm-up query left running while the process stops Spark

    @hook_impl
    def on_pipeline_error(self) -> None:
        spark_start.settle(refused=True)


def refuse_classic_only_nodes(pipeline, catalog) -> None:
    """Over Spark Connect, stop before any node runs when the pipeline holds a node that needs
    the classic JVM gateway (``health_risk.spark.mode``), naming each with the reason."""
    studies = {node.namespace.split(".")[0] for node in pipeline.nodes if node.namespace}
    xgboost = set()
    for study in studies:
        name = f"params:{study}.modeling"
        if name in catalog and "xgboost" in ModelingConfig.model_validate(
                catalog.load(name)).active_candidates:
            xgboost.add(study)
    blockers = classic_only_components(pipeline.nodes, xgboost)
    if blockers:
        fail_mlflow_runs()
        raise ClassicSparkRequired(classic_message(blockers))
