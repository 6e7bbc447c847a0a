"""The project's ``kedro run``: Kedro's own run command, with the errors a user fixes in
configuration or data shown as one message instead of a traceback.

Kedro looks for ``<package>.cli`` (``KedroCLI.project_groups``, ``find_run_command`` for
``python -m health_risk``); its ``cli`` group's ``run`` overrides the built-in one. This ``run``
takes every option of Kedro's (the same ``click`` parameters, so ``--config`` files and
``kedro run --help`` keep working) plus ``--verbose``, and calls Kedro's implementation.

A ``HealthRiskError`` (``ParameterError``, ``DataQualityError``, ``StudyRegistryError``, ...:
``health_risk.core.errors``) or ``ClassicSparkRequired`` anywhere in the exception chain ends the
command with its message, which names the file or key, the rule and what to change, and exit
code 1. ``--verbose`` or ``HEALTH_RISK_TRACEBACK=1`` shows the traceback instead; any other
exception is a bug and keeps it. The hooks have already ended the MLflow runs as FAILED
(``framework.hooks.mlflow_runs``) when the error reaches this command.
"""

from __future__ import annotations

import atexit
import gc
import os

import click
from kedro.framework.cli.project import run as kedro_run

from health_risk.core.errors import HealthRiskError
from health_risk.framework import spark_start
from health_risk.spark.mode import ClassicSparkRequired

TRACEBACK_VARIABLE = "HEALTH_RISK_TRACEBACK"
# Errors whose message is the whole story for the user (ClassicSparkRequired lives below core,
# in spark/, so it does not share the base).
USER_FIXABLE = (HealthRiskError, ClassicSparkRequired)


@click.group(name="health_risk")
def cli() -> None:
    """health-risk's project commands."""


def user_fixable(error: BaseException) -> BaseException | None:
    """The first user-fixable error in ``error``'s chain (a dataset may wrap one in its own
    ``DatasetError``), or None."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, USER_FIXABLE):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def error_message(error: BaseException, raised: BaseException) -> str:
    """The block the user sees: the error's type and message, where it was raised when another
    exception wrapped it, and how to see the traceback."""
    lines = [f"{type(error).__name__}: {error}"]
    if raised is not error:
        lines.append(f"(raised through {type(raised).__name__}: "
                     f"{str(raised).splitlines()[0] if str(raised) else ''})")
    lines.append(f"Run again with --verbose (or {TRACEBACK_VARIABLE}=1) for the traceback.")
    return "\n".join(lines)


@cli.command(name="run", params=[*kedro_run.params, click.Option(
    ["--verbose"], is_flag=True,
    help=f"Show the traceback of a configuration or data error (or set {TRACEBACK_VARIABLE}=1).")],
    help=kedro_run.help, short_help=kedro_run.short_help)
@click.pass_context
def run(ctx: click.Context, verbose: bool, **kwargs):
    # Any run but the sample generator's (pandas only) uses Spark: its session is built while
    # Kedro sets the run up (framework.spark_start; settings.py has started it already when
    # this process is a `kedro run` command line).
    # At exit, Python's last collections walk every object of the run (~0.6 s after a run of
    # seconds); frozen objects are freed all the same, by their reference counts.
    atexit.register(gc.freeze)
    pipelines = kwargs.get("pipeline") or kwargs.get("pipelines")
    spark_start.request(spark_start.needs_spark(pipelines))
    try:
        return ctx.invoke(kedro_run.callback, **kwargs)
    except Exception as raised:
        error = user_fixable(raised)
        if error is None or verbose or os.environ.get(TRACEBACK_VARIABLE, "") not in ("", "0"):
            raise
        spark_start.settle(refused=True)  # the JVM's start-up lines before the message
        click.secho(error_message(error, raised), fg="red", err=True)
        ctx.exit(1)
