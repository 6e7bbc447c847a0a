"""Project hooks that guard a run: a killed run ends its MLflow runs as KILLED."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import mlflow


def test_sigterm_ends_the_kedro_run_and_its_children_as_killed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    script = textwrap.dedent(f"""
        import os, signal, time
        import mlflow
        from health_risk.framework.hooks.run_termination import RunTerminationHooks

        mlflow.set_tracking_uri({uri!r})
        mlflow.set_experiment("killed-run")
        parent = mlflow.start_run(run_name="__default__")  # what kedro-mlflow starts
        hooks = RunTerminationHooks()
        hooks.before_pipeline_run(None, None, None)
        child = mlflow.MlflowClient().create_run(
            parent.info.experiment_id, tags={{"mlflow.parentRunId": parent.info.run_id}},
            run_name="tuning trial")  # a trial running in another thread
        print("RUNS", parent.info.run_id, child.info.run_id, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
    """)
    # Not the MLFLOW_* variables an earlier in-process run may have left in this process.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    # Importing kedro-mlflow (the hooks package places its hook) configures Kedro's logging,
    # which may print to stdout first: read the line the script printed.
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("RUNS "))
    parent_id, child_id = line.split()[1:]
    client = mlflow.MlflowClient(tracking_uri=uri)
    assert client.get_run(parent_id).info.status == "KILLED"
    assert client.get_run(child_id).info.status == "KILLED"


def test_a_run_refused_before_its_nodes_ends_failed_not_running(tmp_path, monkeypatch):
    import pytest
    from kedro.io import DataCatalog, MemoryDataset

    from health_risk.core.errors import ParameterError
    from health_risk.framework.hooks.validation import ParameterValidationHooks

    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)  # left by earlier sessions
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        mlflow.set_experiment("refused-run")
        run = mlflow.start_run(run_name="__default__")
        catalog = DataCatalog(datasets={"parameters": MemoryDataset(
            {"stroke": {"modeling": {"study": "stroke", "task": "ranking"}}})})
        with pytest.raises(ParameterError, match="stroke.modeling"):
            ParameterValidationHooks().before_pipeline_run({}, None, catalog)
        assert mlflow.active_run() is None
        assert mlflow.MlflowClient().get_run(run.info.run_id).info.status == "FAILED"
    finally:
        mlflow.set_tracking_uri(None)
