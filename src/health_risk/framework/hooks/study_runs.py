"""Each study's nodes log to the study's own MLflow run (``health_risk.framework.study_runs``)."""

from __future__ import annotations

from kedro.framework.hooks import hook_impl

from health_risk.framework.config_loader import active_registry
from health_risk.framework.study_runs import STUDY_RUNS, study_params


class StudyRunHooks:
    """Each study's nodes log to the study's own MLflow run, nested under the kedro run's
    (``health_risk.framework.study_runs``): its metrics, artifacts, tuning trials and model version."""

    def __init__(self) -> None:
        self._studies: set[str] = set()

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        self._studies = set(active_registry().names)

    # Runs after kedro-mlflow's before_node_run, which re-opens the kedro run's run in this
    # node's thread (the order in health_risk.framework.hooks).
    @hook_impl
    def before_node_run(self, node, catalog, inputs) -> None:
        study = (node.namespace or "").split(".")[0]
        if study in self._studies:
            STUDY_RUNS.enter(study, node.outputs, study_params(inputs, study))

    @hook_impl
    def after_dataset_saved(self, dataset_name, node) -> None:
        STUDY_RUNS.saved(dataset_name)

    @hook_impl
    def on_node_error(self, error, node) -> None:
        STUDY_RUNS.leave()

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        STUDY_RUNS.finish("FINISHED")

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        STUDY_RUNS.finish("FAILED")
