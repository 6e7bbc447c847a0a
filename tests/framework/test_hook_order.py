"""The hooks run in the order ``health_risk.framework.hooks.RUN_ORDER`` lists, at every hook
point, with kedro-mlflow's hook placed there (its plugin entry point disabled) and no other copy
of it registered."""

from __future__ import annotations

from kedro.framework.hooks.manager import (
    _create_hook_manager,
    _register_hooks,
    _register_hooks_entry_points,
)
from kedro_mlflow.framework.hooks import MlflowHook

from health_risk import settings
from health_risk.framework.hooks import RUN_ORDER
from health_risk.framework.hooks.kedro_mlflow import KedroMlflowHook
from health_risk.framework.hooks.publication import PublicationHooks
from health_risk.framework.hooks.run_lock import RunLockHooks, RunLockReleaseHooks
from health_risk.framework.hooks.spark import SparkHooks
from health_risk.framework.hooks.study_runs import StudyRunHooks
from health_risk.framework.hooks.validation import (
    HyperparameterValidationHooks,
    ParameterValidationHooks,
)

HOOK_POINTS = ("after_context_created", "before_pipeline_run", "before_node_run",
               "after_pipeline_run", "on_pipeline_error")


def session_hook_manager():
    """The hook manager as ``KedroSession.create`` builds it: the project's hooks, then the
    plugins' entry points less those the settings disable (Kedro's own functions)."""
    manager = _create_hook_manager()
    _register_hooks(manager, settings.HOOKS)
    _register_hooks_entry_points(manager, settings.DISABLE_HOOKS_FOR_PLUGINS)
    return manager


def call_order(manager, hook_point: str) -> list[object]:
    # pluggy calls the implementations of a hook point last-registered first
    return [impl.plugin for impl in reversed(getattr(manager.hook, hook_point).get_hookimpls())]


def test_each_hook_point_calls_the_hooks_in_the_listed_order():
    manager = session_hook_manager()
    for hook_point in HOOK_POINTS:
        ours = [plugin for plugin in call_order(manager, hook_point) if plugin in RUN_ORDER]
        listed = [hook for hook in RUN_ORDER if hasattr(hook, hook_point)]
        assert ours == listed, hook_point


def test_kedro_mlflow_runs_first_and_only_once():
    manager = session_hook_manager()
    mlflow_hooks = [p for p in manager.get_plugins() if isinstance(p, MlflowHook)]
    assert mlflow_hooks == [RUN_ORDER[0]]  # the entry point's instance is not registered
    for hook_point in ("after_context_created", "before_pipeline_run", "before_node_run"):
        project = [p for p in call_order(manager, hook_point)
                   if p in RUN_ORDER or isinstance(p, MlflowHook)]
        assert isinstance(project[0], MlflowHook), hook_point


def test_the_dependencies_between_hooks_are_respected():
    """Parameters are validated before the JVM starts, the studies are locked after that (a
    run refused for its parameters holds no lock) and before it (a busy study starts no JVM),
    hyper-parameters are validated after it has, the study's MLflow run is entered after
    kedro-mlflow re-opened the kedro run's run, and the locks are released last."""
    position = {type(hook): index for index, hook in enumerate(RUN_ORDER)}
    assert position[ParameterValidationHooks] < position[RunLockHooks] < position[SparkHooks]
    # The locks are released after every other hook has ended (or failed) the run.
    assert isinstance(RUN_ORDER[-1], RunLockReleaseHooks)
    assert RUN_ORDER[-1] is RUN_ORDER[position[RunLockHooks]].release_hooks
    assert position[SparkHooks] < position[HyperparameterValidationHooks]
    assert position[KedroMlflowHook] < position[StudyRunHooks]
    # Outputs are published before the study's lock is released (a run starting then sees them).
    assert position[PublicationHooks] < len(RUN_ORDER) - 1
