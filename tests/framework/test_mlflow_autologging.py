"""kedro-mlflow's set-up leaves MLflow's import hooks out (conf/base/mlflow.yml
``disable_autologging: False``): ``mlflow.autolog(disable=True)`` puts a finder in front of
every later import that takes one process-wide lock, and the Spark session's start-up thread
importing pyspark modules deadlocked with it (a `kedro run` hung at start, one in twenty under
load)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = """
import json, sys
from pathlib import Path
import mlflow
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
bootstrap_project(Path.cwd())
with KedroSession.create(project_path=Path.cwd(), env="test") as session:
    session.load_context()
print(json.dumps({"finders": [type(f).__name__ for f in sys.meta_path],
                  "experiment": mlflow.get_experiment(
                      mlflow.tracking.fluent._get_experiment_id()).name}))
"""


def test_a_project_context_installs_no_mlflow_import_hook(scratch_project):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "HEALTH_RISK_"))}
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=scratch_project,
                          env={**env, "KEDRO_DISABLE_TELEMETRY": "true"}, capture_output=True,
                          text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # kedro-mlflow's context hook ran (it chose the project's experiment) ...
    assert seen["experiment"] == "health_risk"
    # ... and left the import machinery as Python has it.
    assert "ImportHookFinder" not in seen["finders"], seen["finders"]
