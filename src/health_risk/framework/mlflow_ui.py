"""``make mlflow-ui``: MLflow's own UI on the store ``conf/<env>/mlflow.yml`` configures.

``kedro mlflow ui`` loads the whole project (settings, hooks, every pipeline) just to read two
settings, 15-50 s before the UI answers; this reads ``mlflow.yml`` with the project's config
loader alone and replaces itself with ``mlflow ui`` (so stopping its process stops the UI).
``KEDRO_ENV`` selects the environment, as for ``kedro run``; ``MLFLOW_UI_WORKERS`` the number of
server processes (1).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from health_risk.framework.config_loader import CONFIG_LOADER_ARGS, StudyConfigLoader

UI_WORKERS_VARIABLE = "MLFLOW_UI_WORKERS"


def ui_command(project: Path, env: str | None = None) -> list[str]:
    """The ``mlflow ui`` command line for the project's tracking store, host and port."""
    loader = StudyConfigLoader(conf_source=str(project / "conf"), env=env, **CONFIG_LOADER_ARGS)
    config = loader["mlflow"]
    store = config["server"]["mlflow_tracking_uri"]
    ui = config.get("ui") or {}
    # One local reader: one server process (MLflow starts 4 by default, each importing the
    # whole server: 4x the memory and the start-up CPU). kedro-mlflow's `ui` block forbids
    # other keys, so the count comes from the environment.
    workers = os.environ.get(UI_WORKERS_VARIABLE, "1")
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", str(store),
            "--workers", workers,
            "--host", str(ui.get("host", "127.0.0.1")), "--port", str(ui.get("port", "5000"))]


def main() -> None:
    project = Path.cwd()
    command = ui_command(project, os.environ.get("KEDRO_ENV"))
    print(f"MLflow UI on http://{command[-3]}:{command[-1]} ({command[5]})", flush=True)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
