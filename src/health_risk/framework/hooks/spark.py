"""The lazy Spark session hook.

The session is built from ``conf/<env>/spark.yml`` for a run, not for every context: commands
that never touch Spark (``kedro viz``, ``kedro catalog``) start no JVM, and JVM-level settings
such as driver memory are applied before the JVM starts (they are ignored once it runs). Over
Spark Connect, a pipeline holding a node tagged as needing the classic JVM gateway is refused
before the session is built.

``kedro run`` (the project's ``cli.run``, for any pipeline but ``sample_data``) asks for an
early start (``start_early``): the JVM then starts in a thread as soon as the configuration is
read, while Kedro builds the catalog and the pipelines, kedro-mlflow opens its run and the
validation hooks check the parameters and the raw files' headers (seconds of Python that used
to come before the JVM's own seconds; measured in docs/performance.md). The session is awaited
where it was built before, in ``before_pipeline_run``: a run refused by a check before it never
used it (the JVM exits with the Python process).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kedro.framework.hooks import hook_impl

from health_risk.core.modeling_config import ModelingConfig
from health_risk.framework.hooks.mlflow_runs import fail_mlflow_runs
from health_risk.spark.mode import (
    ClassicSparkRequired,
    classic_message,
    classic_only_components,
    remote_url,
)
from health_risk.spark.session import build_spark_session, spark_location

logger = logging.getLogger(__name__)


_EARLY: dict[str, Any] = {"start": False, "thread": None}


def start_early(enabled: bool = True) -> None:
    """Start the JVM when the context is created (``kedro run`` of a Spark pipeline), not when
    the pipeline starts."""
    _EARLY["start"] = enabled


def settle_early_start(timeout: float = 120.0) -> None:
    """Wait for an early JVM start still under way (a run refused by a check before the
    pipeline): the JVM's start-up lines then come before the refusal, not after it."""
    thread = _EARLY["thread"]
    if thread is not None and thread.is_alive():
        thread.join(timeout)


class SparkHooks:
    """Create the SparkSession from the ``spark`` config before any dataset is loaded."""
    def __init__(self) -> None:
        self._spark_conf: dict[str, Any] = {}
        self._session = None
        self._starting: threading.Thread | None = None
        self._failed: BaseException | None = None

    @hook_impl
    def after_context_created(self, context) -> None:
        try:
            self._spark_conf = dict(context.config_loader["spark"])
        except KeyError:
            self._spark_conf = {}
        # Only a classic JVM is worth starting ahead: a Connect client is built in a moment,
        # and it must not be built before the classic-only nodes are refused.
        if _EARLY["start"] and self._session is None and not remote_url(self._spark_conf):
            self._starting = threading.Thread(target=self._build, name="spark-early-start",
                                              daemon=True)
            self._starting.start()
            _EARLY["thread"] = self._starting

    def _build(self) -> None:
        try:
            self._session = build_spark_session(self._spark_conf)
        except BaseException as error:  # noqa: BLE001 - re-raised in before_pipeline_run
            self._failed = error

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        if remote_url(self._spark_conf):
            refuse_classic_only_nodes(pipeline, catalog)
        if self._starting is not None:
            self._starting.join()
            self._starting = None
            if self._failed is not None:
                failed, self._failed = self._failed, None
                raise failed
        if self._session is None:
            self._session = build_spark_session(self._spark_conf)
        logger.info("Spark %s session on %s", self._session.version,
                    spark_location(self._session))


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
