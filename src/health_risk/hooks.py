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
    """Get or create the SparkSession with the given ``spark.*`` settings: a classic one, or a
    Spark Connect client when ``SPARK_REMOTE`` (or ``spark.remote``) names a server."""
    from pyspark.sql import SparkSession

    from health_risk.spark_mode import remote_url

    configure_python_for_spark()
    remote = remote_url(spark_conf)
    if remote:
        return _connect_session(remote, spark_conf, app_name)
    builder = SparkSession.builder.appName(app_name)
    for key, value in spark_conf.items():
        if value is None:
            continue
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else str(value))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(str(spark_conf.get("health_risk.log_level", "WARN")))
    return session


def _connect_session(remote: str, spark_conf: dict[str, Any], app_name: str):
    """A Spark Connect client: only runtime SQL settings travel; the server owns the JVM."""
    from pyspark.sql import SparkSession

    from health_risk.spark_mode import connect_settings

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
    from health_risk.spark_mode import is_connect, remote_url

    if is_connect(session):
        return f"Spark Connect server {remote_url({})}"
    return session.sparkContext.master


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
        from health_risk.spark_mode import remote_url

        if remote_url(self._spark_conf):
            refuse_classic_only_nodes(pipeline, catalog)
        if self._session is None:
            self._session = build_spark_session(self._spark_conf)
            logger.info("Spark %s session on %s", self._session.version,
                        spark_location(self._session))


def refuse_classic_only_nodes(pipeline, catalog) -> None:
    """Over Spark Connect, stop before any node runs when the pipeline holds a node that needs
    the classic JVM gateway (``health_risk.spark_mode``), naming each with the reason."""
    from health_risk.pipelines.modeling.config import ModelingConfig
    from health_risk.spark_mode import (
        ClassicSparkRequired,
        classic_message,
        classic_only_components,
    )

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


def fail_mlflow_runs() -> None:
    """End the MLflow run(s) kedro-mlflow opened as FAILED. Kedro calls ``on_pipeline_error``
    only for errors raised while nodes run, not in ``before_pipeline_run``: a run refused by a
    pre-run check would otherwise stay RUNNING in MLflow."""
    import mlflow

    while mlflow.active_run():
        mlflow.end_run("FAILED")


class RunTerminationHooks:
    """A run stopped by SIGTERM (a scheduler, ``kill``) or SIGINT (Ctrl-C) ends its MLflow runs
    as KILLED, the kedro run's and its tuning children alike, instead of leaving them RUNNING
    forever. Outputs are written whole or not at all (Spark overwrites, the XPT staging marker
    comes last), so nothing half-written blocks the next run."""

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._run: tuple[str, str] | None = None  # (run id, experiment id)

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        import signal
        import threading

        import mlflow

        active = mlflow.active_run()
        self._run = (active.info.run_id, active.info.experiment_id) if active else None
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be installed from the main thread
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        import signal

        from health_risk.study_runs import STUDY_RUNS

        end_mlflow_runs_as_killed(self._run)
        STUDY_RUNS.finish("KILLED")  # those between two of their nodes too, not only RUNNING ones
        self._restore()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    def _restore(self) -> None:
        import signal

        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        self._restore()

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        self._restore()


def end_mlflow_runs_as_killed(run: tuple[str, str] | None) -> list[str]:
    """End the kedro run's MLflow run and every child still RUNNING as KILLED; return their
    ids."""
    import mlflow
    from mlflow import MlflowClient

    ended = []
    client = MlflowClient()
    if run is not None:
        run_id, experiment_id = run
        children = client.search_runs(
            [experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{run_id}' and "
            "attributes.status = 'RUNNING'")
        for child in children:
            client.set_terminated(child.info.run_id, "KILLED")
            ended.append(child.info.run_id)
    while mlflow.active_run():
        ended.append(mlflow.active_run().info.run_id)
        mlflow.end_run("KILLED")
    if run is not None and client.get_run(run[0]).info.status == "RUNNING":
        client.set_terminated(run[0], "KILLED")
        ended.append(run[0])
    logger.warning("Run stopped by a signal: MLflow run(s) %s ended as KILLED", ended)
    return ended


class StudyRunHooks:
    """Each study's nodes log to the study's own MLflow run, nested under the kedro run's
    (``health_risk.study_runs``): its metrics, artifacts, tuning trials and model version."""

    def __init__(self) -> None:
        self._studies: set[str] = set()

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        from health_risk.config_loader import active_registry

        self._studies = set(active_registry().names)

    # trylast: after kedro-mlflow has re-opened the kedro run's run in this node's thread.
    @hook_impl(trylast=True)
    def before_node_run(self, node, catalog, inputs) -> None:
        from health_risk.study_runs import STUDY_RUNS, study_params

        study = (node.namespace or "").split(".")[0]
        if study in self._studies:
            STUDY_RUNS.enter(study, node.outputs, study_params(inputs, study))

    @hook_impl
    def after_dataset_saved(self, dataset_name, node) -> None:
        from health_risk.study_runs import STUDY_RUNS

        STUDY_RUNS.saved(dataset_name)

    @hook_impl
    def on_node_error(self, error, node) -> None:
        from health_risk.study_runs import STUDY_RUNS

        STUDY_RUNS.leave()

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        from health_risk.study_runs import STUDY_RUNS

        STUDY_RUNS.finish("FINISHED")

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        from health_risk.study_runs import STUDY_RUNS

        STUDY_RUNS.finish("FAILED")


class HyperparameterValidationHooks:
    """After the Spark session exists and before any node runs: every hyper-parameter value
    of the modeling candidates about to train passes the estimator's own validators."""

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        from health_risk.datasets.lineage import get_spark
        from health_risk.pipelines.modeling.config import ModelingConfig
        from health_risk.pipelines.modeling.hyperparameters import check_hyperparameters
        from health_risk.spark_mode import is_connect

        studies = {node.namespace for node in pipeline.nodes
                   if node.namespace and node.name.endswith(".train_candidates")}
        checked = 0
        try:
            jvm = not (studies and is_connect(get_spark()))
            for study in sorted(studies):
                params = catalog.load(f"params:{study}.modeling")
                checked += check_hyperparameters(ModelingConfig.model_validate(params), jvm)
        except Exception:
            fail_mlflow_runs()
            raise
        if studies:
            logger.info("Hyper-parameters accepted by their estimators: %d value sets (%s)",
                        checked, ", ".join(sorted(studies)))


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
        try:
            registry = active_registry()
            checked = validate_parameters(params, registry)
            validate_wiring(registry, catalog)
        except Exception:
            fail_mlflow_runs()
            raise
        logger.info("Validated parameter blocks: %s", ", ".join(checked) or "none")
