"""The JVM's early start: a ``kedro run`` builds its Spark session while Python sets the run up.

A classic session costs seconds before the first node can use it: ~4 s to start (Spark's
launcher, the JVM, the SparkContext) and ~3.5 s more the first time each kind of query runs
(class loading, expression code generation, the parquet writer), whatever the data's size. A
``kedro run`` spends about as long in Python before its first node (the hooks, mlflow and the
pipelines imported, configuration and catalog read, kedro-mlflow's run opened, parameters and
raw headers checked). On the 52-row census table both were most of the run
(docs/performance.md, "Fixed cost of a run").

So the session is built in a thread, as early as the run's configuration can be known:

- ``start_for_command_line`` (called by ``settings.py`` before the hooks are imported): the
  process is ``kedro run`` (or ``python -m health_risk``) of a pipeline that uses Spark; the
  run's ``--env`` / ``--conf-source`` (and ``KEDRO_ENV``) select ``spark.yml`` as Kedro will.
- ``request`` (``cli.run``, also for a run started in-process) lets ``SparkHooks`` start it when
  the context is created, if nothing has yet.

Once the session exists, the same thread runs ``spark.session.warm_up`` (one small query of each
kind a run starts with), so those one-time costs are paid while Python still works.
``session_for`` hands the session over in ``SparkHooks.before_pipeline_run``, after checking
that it was built from the settings the context read (otherwise it is stopped and rebuilt:
a JVM setting such as driver memory only applies when the JVM starts).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

from health_risk.spark.mode import remote_url
from health_risk.spark.session import stop_with_jvm

logger = logging.getLogger(__name__)

# Pipelines that never touch Spark (the sample generator writes raw files with pandas).
WITHOUT_SPARK = frozenset({"sample_data"})


class _Start:
    """One early start per process: the thread, the settings it used, what it produced."""

    def __init__(self) -> None:
        self.requested = False
        self.thread: threading.Thread | None = None
        self.built = threading.Event()  # the session exists, or building it failed
        self.conf: dict[str, Any] | None = None
        self.session = None
        self.error: BaseException | None = None
        self.handed_over = False  # a run got the session (session_for): a next run starts anew
        self.stop_warm_up = threading.Event()  # a refused run: no more warm-up queries


_START = _Start()


def request(enabled: bool = True) -> None:
    """Ask ``SparkHooks`` to start the session when the context is created (``cli.run``)."""
    _START.requested = enabled


def requested() -> bool:
    return _START.requested


def needs_spark(pipelines) -> bool:
    """Whether a run of ``--pipelines`` (a comma-separated string, a sequence, or nothing for
    ``__default__``) uses Spark: every pipeline does except ``sample_data``."""
    if isinstance(pipelines, str):
        pipelines = pipelines.split(",")
    names = {str(name).strip() for name in pipelines or [] if str(name).strip()}
    return not names or not names <= WITHOUT_SPARK  # no --pipelines: __default__, which ingests


def begin(spark_conf: dict[str, Any]) -> bool:
    """Start building the classic session for ``spark_conf`` in a thread, unless one was started
    already or the settings name a Spark Connect server (a client is built in a moment, and must
    not be built before the classic-only nodes are refused). True when this call started it."""
    if remote_url(spark_conf):
        return False
    if _START.thread is not None:
        if not _START.handed_over:
            return False
        settle()  # an earlier run of this process (tests) got its session: a new start
        _forget()
    _START.conf = dict(spark_conf)
    _START.thread = threading.Thread(target=_build_and_warm, args=(dict(spark_conf),),
                                     name="spark-early-start", daemon=True)
    _START.thread.start()
    return True


def _build_and_warm(spark_conf: dict[str, Any]) -> None:
    from pyspark import SparkContext

    from health_risk.spark.session import build_spark_session, warm_up

    fresh = SparkContext._active_spark_context is None  # no public accessor
    try:
        _START.session = build_spark_session(spark_conf)
    except BaseException as error:  # noqa: BLE001 - re-raised by session_for
        _START.error = error
        return
    finally:
        _START.built.set()
    if fresh:  # a JVM this process already used (tests) is warm
        warm_up(_START.session, _START.stop_warm_up.is_set)


def session_for(spark_conf: dict[str, Any]):
    """The early session when one was started with ``spark_conf``; None when none was started
    or it was built from other settings (it is then stopped, for the caller to build the
    right one). Re-raises the error that stopped the build."""
    if _START.thread is None or _START.handed_over:
        return None
    _START.built.wait()
    if _START.error is not None:
        error, _START.error = _START.error, None
        _forget()
        raise error
    if _START.conf != dict(spark_conf):
        changed = sorted(k for k in {*_START.conf, *spark_conf}
                         if _START.conf.get(k) != spark_conf.get(k))
        logger.info("The early Spark session was built from other settings (%s): rebuilt",
                    ", ".join(changed))
        settle()
        stop_with_jvm(_START.session)
        _forget()
        return None
    _START.handed_over = True
    return _START.session


def _forget() -> None:
    _START.thread, _START.conf, _START.session = None, None, None
    _START.handed_over = False
    _START.built.clear()
    _START.stop_warm_up.clear()


def settle(timeout: float = 120.0, refused: bool = False) -> None:
    """Wait for the early start when it is still under way, so that no warm-up query is left
    running while the process stops Spark, and a refused run prints the JVM's start-up lines
    before its message. ``refused``: the warm-up stops after its current query (a refused run
    waited ~2.5 s more for queries nobody would use)."""
    thread = _START.thread
    if refused:
        _START.stop_warm_up.set()
    if thread is not None and thread.is_alive():
        thread.join(timeout)


def start_for_command_line(loader_class, loader_args: dict[str, Any],
                           argv: list[str] | None = None) -> bool:
    """``begin`` for this process's command line when it is a ``kedro run`` of a pipeline that
    uses Spark, with ``spark.yml`` read as the run's config loader will read it. Anything that
    stops the early start (an option Kedro will refuse, a configuration error) leaves the run to
    build its session as usual, and to report the error itself."""
    run_args = _run_arguments(sys.argv if argv is None else argv)
    if run_args is None:
        return False
    try:
        options = _run_options(run_args)
        if options is None or not needs_spark(options.get("pipeline")
                                              or options.get("pipelines")):
            return False
        project = _project_path()
        conf_source = options.get("conf_source") or str(project / "conf")
        loader = loader_class(conf_source=str(conf_source),
                              env=options.get("env") or os.environ.get("KEDRO_ENV"),
                              **loader_args)
        spark_conf = dict(loader["spark"])
    except Exception as error:  # noqa: BLE001 - the run itself reports what is wrong
        logger.debug("No early Spark start: %s", error)
        return False
    return begin(spark_conf)


def _run_arguments(argv: list[str]) -> list[str] | None:
    """The run command's arguments when ``argv`` is ``kedro run ...`` or
    ``python -m health_risk ...``; None for any other command."""
    if not argv:
        return None
    program = Path(argv[0])
    if program.name == "__main__.py" and program.parent.name == "health_risk":
        return list(argv[1:])
    if (program.name == "kedro" or (program.name == "__main__.py"
                                    and program.parent.name == "kedro")) \
            and len(argv) > 1 and argv[1] == "run":
        return list(argv[2:])
    return None


def _run_options(args: list[str]) -> dict[str, Any] | None:
    """Kedro's own parsing of ``kedro run``'s options (``--config`` files included); None for
    ``--help``. Options of the project's ``run`` that Kedro's lacks are ignored."""
    from kedro.framework.cli.project import run as kedro_run

    if "--help" in args or "-h" in args:
        return None
    context = kedro_run.make_context("run", list(args), ignore_unknown_options=True)
    return dict(context.params)


def _project_path() -> Path:
    from kedro.utils import find_kedro_project

    return Path(find_kedro_project(Path.cwd()) or Path.cwd())
