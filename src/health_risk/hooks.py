"""Lazy Spark session hook.

The session is built from ``conf/<env>/spark.yml`` just before the pipeline runs, not when the
context is created: commands that never touch Spark (``kedro viz``, ``kedro catalog``) start no
JVM, and JVM-level settings such as driver memory are applied before the JVM starts (they are
ignored once it runs).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from kedro.framework.hooks import hook_impl

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
    """Get or create the SparkSession with the given ``spark.*`` settings."""
    from pyspark.sql import SparkSession

    configure_python_for_spark()
    builder = SparkSession.builder.appName(app_name)
    for key, value in spark_conf.items():
        if value is None:
            continue
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else str(value))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(str(spark_conf.get("health_risk.log_level", "WARN")))
    return session


class SparkHooks:
    """Create the SparkSession from the ``spark`` config before any dataset is loaded."""

    def __init__(self) -> None:
        self._spark_conf: dict[str, Any] = {}
        self._session = None

    @hook_impl
    def after_context_created(self, context) -> None:
        # Reading the config is cheap; starting the JVM is deferred to the run itself.
        try:
            self._spark_conf = dict(context.config_loader["spark"])
        except KeyError:
            self._spark_conf = {}

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        if self._session is None:
            self._session = build_spark_session(self._spark_conf)
            logger.info(
                "Spark %s session on %s",
                self._session.version,
                self._session.sparkContext.master,
            )


class StudyRegistryHooks:
    """Hand the run's config loader to pipeline registration (``config_loader``), so the study
    registry that shapes the pipelines honours ``--env`` and ``--conf-source``."""

    @hook_impl
    def after_context_created(self, context) -> None:
        from health_risk.config_loader import set_active_loader

        if set_active_loader(context.config_loader):
            # Another environment or conf source than the pipelines were built for (two
            # sessions in one process): build them again on next access.
            from kedro.framework.project import pipelines

            pipelines.configure(pipelines._pipelines_module)


class ParameterValidationHooks:
    """Fail before the run when a parameter block (conf or ``--params``) is invalid, when the
    registry and the parameter blocks disagree, or when a study's raw source is not in the
    catalog."""

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        from health_risk.config_loader import active_registry
        from health_risk.config_validation import validate_parameters, validate_wiring

        params = catalog.load("parameters") if "parameters" in catalog else {}
        registry = active_registry()
        checked = validate_parameters(params, registry)
        validate_wiring(registry, catalog)
        logger.info("Validated parameter blocks: %s", ", ".join(checked) or "none")
