"""One MLflow run per study: what a study's nodes log lands in the study's own run, nested under
the kedro run's run, under ThreadRunner as under SequentialRunner."""

from __future__ import annotations

import mlflow
import pytest
from kedro.framework.hooks import hook_impl
from kedro.framework.hooks.manager import _create_hook_manager
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node
from kedro.runner import SequentialRunner, ThreadRunner

from health_risk.datasets import JsonReportDataset
from health_risk.framework.hooks.study_runs import StudyRunHooks
from health_risk.framework.study_runs import STUDY_RUNS, flatten_params, study_params


class KedroMlflowLike:
    """What kedro-mlflow does around a run: one run for the kedro run, re-opened in every
    node's thread (MLflow's active run is per thread), ended after the pipeline."""

    def __init__(self) -> None:
        self.run_id: str | None = None

    @hook_impl
    def before_pipeline_run(self) -> None:
        self.run_id = mlflow.start_run(run_name="__default__").info.run_id

    @hook_impl
    def before_node_run(self) -> None:
        mlflow.start_run(run_id=self.run_id, nested=True)

    @hook_impl
    def after_pipeline_run(self) -> None:
        mlflow.end_run()


def _score(params: dict, study: str) -> dict:
    mlflow.log_metric("node_metric", params["seed"])
    return {"rows": {"value": float(params["seed"]), "step": 0}}


def _report(metrics: dict) -> str:
    return f"{metrics['rows']['value']} rows"


def _study_pipeline(study: str) -> Pipeline:
    return Pipeline([
        node(_score, [f"params:{study}.modeling", f"params:{study}.name"],
             f"{study}.modeling_metrics", name="score", namespace=study),
        node(_report, f"{study}.modeling_metrics", f"{study}.report", name="report",
             namespace=study),
    ])


def _project_node(first: str, second: str) -> str:
    mlflow.log_metric("project_metric", 1.0)
    return first + second


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("study-runs")
    try:
        yield mlflow.MlflowClient()
    finally:
        while mlflow.active_run():
            mlflow.end_run()
        mlflow.set_tracking_uri(None)


@pytest.mark.parametrize("runner", [SequentialRunner(), ThreadRunner(max_workers=2)],
                         ids=["sequential", "threads"])
def test_each_study_logs_to_a_run_of_its_own_under_the_kedro_run(tracking, tmp_path, runner):
    client = tracking
    studies = ["stroke", "insurance"]
    datasets = {}
    for seed, study in enumerate(studies, start=1):
        datasets[f"params:{study}.modeling"] = MemoryDataset(
            {"seed": seed, "tuning": {"max_seconds": 10 * seed}})
        datasets[f"params:{study}.name"] = MemoryDataset(study)
        datasets[f"{study}.modeling_metrics"] = JsonReportDataset(
            filepath=str(tmp_path / study / "modeling.json"), artifact_path="modeling",
            metrics_prefix="modeling")
    catalog = DataCatalog(datasets=datasets)
    pipeline = sum((_study_pipeline(s) for s in studies), Pipeline([])) + Pipeline(
        [node(_project_node, ["stroke.report", "insurance.report"], "combined",
              name="combine")])
    kedro_mlflow, hooks = KedroMlflowLike(), _create_hook_manager()
    hooks.register(StudyRunHooks())
    hooks.register(kedro_mlflow)  # registered last: called first, as the plugin is in kedro
    hooks.hook.before_pipeline_run(run_params={}, pipeline=pipeline, catalog=catalog)
    runner.run(pipeline, catalog, hooks)
    hooks.hook.after_pipeline_run(run_params={}, run_result={}, pipeline=pipeline,
                                  catalog=catalog)

    parent = client.get_run(kedro_mlflow.run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics == {"project_metric": 1.0}  # nothing of a study
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert sorted(r.info.run_name for r in children) == sorted(studies)
    for seed, study in enumerate(studies, start=1):
        run = next(r for r in children if r.info.run_name == study)
        assert run.info.status == "FINISHED"
        assert run.data.tags["study"] == study and run.data.tags["kind"] == "study"
        assert run.data.metrics == {"node_metric": seed, "modeling.rows": seed}
        # The study's parameters, keyed without the study prefix.
        assert run.data.params == {"modeling.seed": str(seed),
                                   "modeling.tuning.max_seconds": str(10 * seed),
                                   "name": study}
        assert [a.path for a in client.list_artifacts(run.info.run_id, "modeling")] == [
            "modeling/modeling.json"]
    # No study run is left active in this thread (kedro-mlflow ends only the top of the stack).
    left = mlflow.active_run()
    assert left is None or left.info.run_id == kedro_mlflow.run_id


def test_a_failing_node_leaves_its_study_run_and_the_study_runs_end_failed(tracking):
    client = tracking

    def boom(params):
        raise RuntimeError("bad rows")

    catalog = DataCatalog(datasets={"params:stroke.modeling": MemoryDataset({"seed": 1})})
    pipeline = Pipeline([node(boom, "params:stroke.modeling", "stroke.out", name="boom",
                              namespace="stroke")])
    kedro_mlflow, hooks = KedroMlflowLike(), _create_hook_manager()
    study_hooks = StudyRunHooks()
    hooks.register(study_hooks)
    hooks.register(kedro_mlflow)
    hooks.hook.before_pipeline_run(run_params={}, pipeline=pipeline, catalog=catalog)
    with pytest.raises(RuntimeError, match="bad rows"):
        SequentialRunner().run(pipeline, catalog, hooks)
    assert mlflow.active_run().info.run_id == kedro_mlflow.run_id  # the study run was left
    study_hooks.on_pipeline_error(RuntimeError(), {}, pipeline, catalog)
    (child,) = client.search_runs(
        [mlflow.active_run().info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{kedro_mlflow.run_id}'")
    assert child.info.run_name == "stroke" and child.info.status == "FAILED"


def test_without_a_tracked_run_nothing_is_created(tracking):
    assert STUDY_RUNS.run_id("stroke") is None
    STUDY_RUNS.enter("stroke", ["stroke.out"], {"modeling.seed": "1"})
    assert mlflow.active_run() is None


def test_parameters_are_flattened_without_the_study_prefix():
    inputs = {"params:stroke.modeling": {"tuning": {"seed": 42}, "candidates_to_run": "all"},
              "params:stroke.split": {"seed": 7}, "params:insurance.modeling": {"seed": 1},
              "stroke.model_input": object()}
    assert study_params(inputs, "stroke") == {
        "modeling.tuning.seed": "42", "modeling.candidates_to_run": "all", "split.seed": "7"}
    assert flatten_params("x", "a" * 7000)["x"] == "a" * 6000  # MLflow's limit
