"""kedro-mlflow's hook logs each parameter value once per run."""

from __future__ import annotations

import mlflow

from health_risk.framework.hooks import RUN_ORDER
from health_risk.framework.hooks.kedro_mlflow import KedroMlflowHook


def test_a_repeated_parameter_value_is_logged_once_and_a_new_run_or_value_again(monkeypatch):
    logged = []
    monkeypatch.setattr(mlflow, "log_param", lambda name, value: logged.append((name, value)))
    hook = KedroMlflowHook()
    hook.run_id = "run-1"
    for _ in range(3):  # three nodes read the same block
        hook._log_param("stroke.modeling.tuning.seed", 42)
    hook._log_param("stroke.modeling.tuning.seed", 43)  # changed: MLflow decides (refuses)
    hook.run_id = "run-2"
    hook._log_param("stroke.modeling.tuning.seed", 42)
    assert logged == [("stroke.modeling.tuning.seed", 42), ("stroke.modeling.tuning.seed", 43),
                      ("stroke.modeling.tuning.seed", 42)]


def test_the_run_uses_it_in_kedro_mlflows_place():
    assert isinstance(RUN_ORDER[0], KedroMlflowHook)
