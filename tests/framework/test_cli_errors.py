"""A configuration or data error ends ``kedro run`` with one message (key, rule, what to change)
and no traceback, unless asked for with ``--verbose`` or ``HEALTH_RISK_TRACEBACK=1`` (issue 26,
item 2). The subprocess runs fail in the pre-run parameter validation: seconds, no Spark."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from health_risk import cli as project_cli
from health_risk.core.errors import DataQualityError, ParameterError

PROJECT = Path(__file__).resolve().parents[2]
BIN = str(Path(sys.executable).parent)
BAD_VALUE = "stroke.modeling.primary_metric=bogus"


def kedro_run(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    variables = {k: v for k, v in os.environ.items()
                 if not k.startswith(("MLFLOW_", "HEALTH_RISK_"))}
    variables.update(PATH=f"{BIN}:{variables.get('PATH', '')}", COLUMNS="200",
                     KEDRO_DISABLE_TELEMETRY="true", **env)
    return subprocess.run([f"{BIN}/kedro", "run", "--env", "test", *args], cwd=root,
                          env=variables, capture_output=True, text=True, timeout=300,
                          check=False)


def test_an_invalid_parameter_ends_the_run_with_one_message(scratch_project):
    done = kedro_run(scratch_project, "--params", BAD_VALUE)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output and "╭" not in output, output  # no (rich) traceback
    message = output[output.index("ParameterError:"):].strip().splitlines()
    assert len(message) < 15, output
    assert "'stroke.modeling'" in message[0] and "primary_metric" in message[0]
    assert "rule: ModelingConfig check" in message[0]
    assert "conf/<env>/studies/stroke/parameters.yml" in output  # what to change
    assert "--verbose" in message[-1]
    assert len(output.strip().splitlines()) < 30, output  # the whole run, Kedro's logs too

    # The MLflow run the hooks opened ended FAILED, not RUNNING.
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{scratch_project / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert runs and {run.info.status for run in runs} == {"FAILED"}


# The switch and the exception chain, in process (no session): Kedro's run is replaced by one
# that raises.
def _run_raising(monkeypatch, error: BaseException, *args: str, **env: str):
    def raising(**kwargs):
        raise error

    monkeypatch.setattr(project_cli.kedro_run, "callback", raising)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(project_cli.cli, ["run", *args])


def test_the_environment_variable_and_the_flag_keep_the_exception(monkeypatch):
    monkeypatch.delenv(project_cli.TRACEBACK_VARIABLE, raising=False)
    quiet = _run_raising(monkeypatch, DataQualityError("stroke.validated: too much quarantined"))
    assert quiet.exit_code == 1
    assert quiet.output.startswith("DataQualityError: stroke.validated: too much quarantined")
    assert quiet.exception is None or isinstance(quiet.exception, SystemExit)
    for args, env in (((), {project_cli.TRACEBACK_VARIABLE: "1"}), (("--verbose",), {})):
        shown = _run_raising(monkeypatch, ParameterError("bad"), *args, **env)
        assert isinstance(shown.exception, ParameterError)


def test_a_wrapped_user_error_is_found_and_a_bug_keeps_its_traceback(monkeypatch):
    monkeypatch.delenv(project_cli.TRACEBACK_VARIABLE, raising=False)
    try:
        try:
            raise ParameterError("Invalid parameters 'stroke.split': ...")
        except ParameterError as inner:
            raise RuntimeError("Failed while loading data from dataset X") from inner
    except RuntimeError as outer:
        wrapped = outer
    result = _run_raising(monkeypatch, wrapped)
    assert result.exit_code == 1
    assert result.output.startswith("ParameterError: Invalid parameters 'stroke.split'")
    assert "raised through RuntimeError: Failed while loading data from dataset X" in result.output
    bug = _run_raising(monkeypatch, KeyError("a bug"))
    assert isinstance(bug.exception, KeyError)


def test_the_project_run_takes_every_option_of_kedros():
    ours = {param.name for param in project_cli.run.params}
    assert {param.name for param in project_cli.kedro_run.params} | {"verbose"} == ours
    assert isinstance(project_cli.cli, click.Group)


def test_a_year_without_a_required_column_is_refused_before_anything_is_converted(
        scratch_project):
    """Issue 25: what a year's file lacks is known from its header, before the run converts
    anything: a required column missing stops `kedro run` in seconds, naming file, year and
    column (measured: docs/performance.md)."""
    import pandas as pd

    from health_risk.datasets import SasXportDataset

    folder = scratch_project / "data" / "01_raw" / "brfss"
    # 2021's sex variable is SEXVAR in the contract; this file calls it SEX and no map says so.
    SasXportDataset(filepath=str(folder)).save({"LLCP2021.XPT": pd.DataFrame({
        "_STATE": [1.0, 2.0], "IMONTH": ["01", "02"], "IYEAR": ["2021", "2021"],
        "SEQNO": ["2021000001", "2021000002"], "_LLCPWT": [10.0, 20.0], "SEX": [1.0, 2.0],
        "_RFHLTH": [1.0, 2.0], "_AGEG5YR": [3.0, 4.0]})})
    done = kedro_run(scratch_project, "--pipelines", "ingestion", "--namespaces", "brfss")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output, output
    message = output[output.index("DataQualityError:"):]
    assert "LLCP2021.XPT (survey year 2021)" in message and "['sexvar']" in message
    assert "required_column" in message and "brfss.ingestion.years.2021.rename" in message
    # Refused by the pre-run check on the file's header: no node ran, nothing was staged.
    assert "Spark 4" not in output and "Running node" not in output, output
    assert not (scratch_project / "data" / "02_intermediate" / "brfss").exists()
