"""``make serve STUDY=<study>``: MLflow's own model server for the study's champion, on
127.0.0.1, running the version's Spark-free ``python_function`` flavour (no JVM).

The alias is resolved here, once: the server is started on that exact version
(``models:/health_risk_<study>/<version>``) and told its number, so every answer names the
version that scored it even if the alias moves while the server runs. The tracking store and
the registered-model name come from ``conf/<env>`` (``KEDRO_ENV``), as for ``kedro run``.
A study whose champion is batch-only (no portable form) is refused with the reason.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from health_risk.core.errors import HealthRiskError
from health_risk.core.modeling_config import ModelingConfig
from health_risk.core.serving.flavour import VERSION_ENV
from health_risk.framework.config_loader import CONFIG_LOADER_ARGS, StudyConfigLoader

CHAMPION = "champion"


class ServeError(HealthRiskError):
    """The study cannot be served (unknown study, no champion, a batch-only champion)."""


def serve_command(project: Path, study: str, port: int, env: str | None = None
                  ) -> tuple[list[str], dict[str, str]]:
    """(the ``mlflow models serve`` command line, the environment to run it with)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    loader = StudyConfigLoader(conf_source=str(project / "conf"), env=env, **CONFIG_LOADER_ARGS)
    store = str(loader["mlflow"]["server"]["mlflow_tracking_uri"])
    parameters = loader["parameters"]
    if study not in parameters or "modeling" not in parameters[study]:
        known = sorted(k for k, v in parameters.items() if isinstance(v, dict) and "modeling" in v)
        raise ServeError(f"study '{study}' has no model to serve (studies with one: {known})")
    name = ModelingConfig.model_validate(parameters[study]["modeling"]).registered_model_name
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        raise ServeError(f"'{name}' has no {CHAMPION} in the model registry at {store}: "
                         "run `make run` (or the modeling pipeline) first") from None
    serving = version.tags.get("serving", "")
    if not serving.startswith("python_function"):
        raise ServeError(f"{name} v{version.version} cannot be served without Spark "
                         f"({serving or 'registered before portable scorers existed'})")
    command = [sys.executable, "-m", "mlflow", "models", "serve",
               "-m", f"models:/{name}/{version.version}", "--env-manager", "local",
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    environment = {**os.environ, "MLFLOW_TRACKING_URI": store, "MLFLOW_REGISTRY_URI": store,
                   VERSION_ENV: str(version.version)}
    return command, environment


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study")
    parser.add_argument("--port", type=int, default=5001)
    args = parser.parse_args(argv)
    try:
        command, environment = serve_command(Path.cwd(), args.study, args.port,
                                             os.environ.get("KEDRO_ENV"))
    except ServeError as exc:
        print(f"make serve: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"Serving {command[6]} on http://127.0.0.1:{args.port}/invocations", flush=True)
    os.execve(command[0], command, environment)


if __name__ == "__main__":
    main()
