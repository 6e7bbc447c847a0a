"""Ending the MLflow runs of a kedro run that did not finish: refused before its nodes
(FAILED) or stopped by a signal (KILLED). Kedro calls ``on_pipeline_error`` only for errors
raised while nodes run, so the hooks that refuse a run, and the signal handler, call these."""

from __future__ import annotations

import logging

import mlflow
from mlflow import MlflowClient

logger = logging.getLogger(__name__)


def fail_mlflow_runs() -> None:
    """End the MLflow run(s) kedro-mlflow opened as FAILED. Kedro calls ``on_pipeline_error``
    only for errors raised while nodes run, not in ``before_pipeline_run``: a run refused by a
    pre-run check would otherwise stay RUNNING in MLflow."""

    while mlflow.active_run():
        mlflow.end_run("FAILED")


def end_mlflow_runs_as_killed(run: tuple[str, str] | None) -> list[str]:
    """End the kedro run's MLflow run and every child still RUNNING as KILLED; return their
    ids."""

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
