"""Two runs of one study do not collide: the second is refused at its start, naming the first
(``health_risk.framework.run_lock``, ``RunLockHooks``). No SparkSession, and no KedroSession
on the repository: the one ``kedro run`` below runs in a scratch copy of the configuration."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from kedro.pipeline import Node, Pipeline

from health_risk.core.errors import HealthRiskError, StudyBusyError
from health_risk.framework.run_lock import (
    StudyLock,
    StudyRunLock,
    holder_info,
    lock_folder,
    read_holder,
    run_studies,
)

PROJECT = Path(__file__).resolve().parents[2]
BIN = str(Path(sys.executable).parent)


def identity(x):
    return x


def study_pipeline(*studies: str) -> Pipeline:
    """One node per study, in the study's namespace, and one outside any (sample data)."""
    parts = [Pipeline([Node(identity, "a", "b", name="copy")], namespace=study)
             for study in studies]
    return sum(parts, Pipeline([Node(identity, "raw", "sample", name="make_sample")]))


RUN_PARAMS = {"pipeline_names": ["modeling"], "namespaces": ["insurance"], "run_id": "run-1"}


# 1. Two lock objects of one process conflict (flock belongs to the open file description).
def test_a_second_lock_on_a_study_is_refused_naming_the_first_run(tmp_path):
    first = StudyRunLock(tmp_path)
    assert first.acquire(["insurance"], holder_info(RUN_PARAMS, ["insurance"])) == ["insurance"]
    holder = read_holder(tmp_path / "insurance.lock")
    assert holder["pid"] == os.getpid() and holder["pipelines"] == ["modeling"]
    assert holder["started"].endswith("+00:00")  # UTC, ISO

    with pytest.raises(StudyBusyError) as refused:
        StudyRunLock(tmp_path).acquire(["insurance"], holder_info({}, ["insurance"]))
    message = str(refused.value)
    assert isinstance(refused.value, HealthRiskError)  # shown by cli.py as one message
    assert "Study 'insurance' is busy" in message and str(tmp_path / "insurance.lock") in message
    assert f"pid {os.getpid()}" in message and holder["started"] in message
    assert holder["command"] in message and "pipelines: modeling" in message
    assert "Wait for that run to finish, or stop it" in message

    first.release()
    assert read_holder(tmp_path / "insurance.lock") == {}  # a released lock names nobody
    second = StudyRunLock(tmp_path)
    assert second.acquire(["insurance"], holder_info({}, ["insurance"])) == ["insurance"]
    second.release()


def test_locks_are_all_or_none_in_study_order(tmp_path):
    busy = StudyLock("stroke", tmp_path)
    busy.acquire(holder_info({}, ["stroke"]))
    run = StudyRunLock(tmp_path)
    with pytest.raises(StudyBusyError, match="'stroke'"):
        run.acquire(["stroke", "insurance", "brfss"], holder_info({}, ["brfss", "stroke"]))
    assert run.studies == []
    for study in ("brfss", "insurance"):  # taken before stroke refused, then released
        probe = StudyLock(study, tmp_path)
        assert probe.acquire({}) and probe.held
        probe.release()
    busy.release()


def test_a_lock_being_written_is_refused_without_a_holder(tmp_path):
    import fcntl

    (tmp_path / "brfss.lock").touch()
    with open(tmp_path / "brfss.lock") as raw:  # taken, holder not written yet
        fcntl.flock(raw.fileno(), fcntl.LOCK_EX)
        with pytest.raises(StudyBusyError, match="has not written who it is yet"):
            StudyLock("brfss", tmp_path).acquire({})


def test_a_file_system_without_flock_runs_unguarded_with_a_warning(tmp_path, monkeypatch, caplog):
    import errno
    import fcntl

    def refuse(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", refuse)
    run = StudyRunLock(tmp_path)
    assert run.acquire(["insurance"], {}) == []
    assert "not guarded" in caplog.text


# 2. A real second process, and kill -9 leaves no stale lock.
HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from health_risk.framework.run_lock import StudyRunLock, holder_info

    lock = StudyRunLock(Path(sys.argv[1]))
    lock.acquire(["insurance"], holder_info({"pipeline_names": ["modeling"],
                                             "namespaces": ["insurance"]}, ["insurance"]))
    print("LOCKED", flush=True)
    time.sleep(120)
""")


@pytest.fixture
def holder_process(tmp_path):
    """Another process holding the insurance lock, for the data root ``tmp_path / 'data'``."""
    folder = tmp_path / "data" / ".locks"
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while line.strip() != "LOCKED":  # Kedro's logging setup may print first
            line = process.stdout.readline()
            if not line:
                raise AssertionError(process.stderr.read())
        yield process, folder
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        process.stdout.close()
        process.stderr.close()


def test_a_run_in_another_process_is_named_and_kill_9_leaves_no_stale_lock(holder_process):
    process, folder = holder_process
    with pytest.raises(StudyBusyError) as refused:
        StudyRunLock(folder).acquire(["insurance"], holder_info({}, ["insurance"]))
    message = str(refused.value)
    assert f"pid {process.pid} on " in message and f"kill {process.pid}" in message
    assert str(folder) in message and "namespaces: insurance" in message  # its command line

    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert read_holder(folder / "insurance.lock")["pid"] == process.pid  # the file stays ...
    lock = StudyRunLock(folder)  # ... but the lock died with its process
    assert lock.acquire(["insurance"], holder_info({}, ["insurance"])) == ["insurance"]
    assert read_holder(folder / "insurance.lock")["pid"] == os.getpid()
    lock.release()


# 3. The hook.
def hooks_on(data_root: str, project: Path):
    from health_risk.framework.hooks.run_lock import RunLockHooks

    hooks = RunLockHooks()
    hooks.after_context_created(SimpleNamespace(
        config_loader={"globals": {"data_root": data_root}}, project_path=project))
    return hooks


def test_the_hook_refuses_a_busy_study_and_lets_another_study_run(holder_process, tmp_path):
    _, folder = holder_process
    hooks = hooks_on(str(tmp_path / "data"), tmp_path)

    with pytest.raises(HealthRiskError, match="Study 'insurance' is busy"):
        hooks.before_pipeline_run(RUN_PARAMS, study_pipeline("insurance", "stroke"), None)
    assert hooks.studies == []
    stroke = StudyLock("stroke", folder)  # not left locked by the refused run
    assert stroke.acquire({})
    stroke.release()

    hooks.before_pipeline_run({"pipeline_names": ["modeling"], "namespaces": ["stroke"]},
                              study_pipeline("stroke"), None)
    with pytest.raises(StudyBusyError, match="namespaces: stroke"):
        StudyLock("stroke", folder).acquire({})
    assert hooks.studies == ["stroke"]
    hooks.release_hooks.after_pipeline_run({}, {}, study_pipeline("stroke"), None)
    stroke = StudyLock("stroke", folder)
    assert stroke.acquire({})  # released at the end of the run
    stroke.release()


def test_the_hook_locks_under_the_data_root_and_releases_on_error(tmp_path):
    hooks = hooks_on("data", tmp_path)  # relative: to the project, as the catalog's paths
    pipeline = study_pipeline("insurance", "brfss.population")
    hooks.before_pipeline_run(RUN_PARAMS, pipeline, None)
    assert sorted(p.name for p in (tmp_path / "data" / ".locks").iterdir()) == [
        "brfss.lock", "insurance.lock"]
    with pytest.raises(StudyBusyError, match="'brfss'"):
        StudyRunLock(tmp_path / "data" / ".locks").acquire(["brfss"], {})
    hooks.release_hooks.on_pipeline_error(RuntimeError("a node failed"), RUN_PARAMS, pipeline,
                                          None)
    after = StudyRunLock(tmp_path / "data" / ".locks")
    assert after.acquire(["brfss", "insurance"], {}) == ["brfss", "insurance"]
    after.release()


def test_a_run_refused_after_locking_frees_its_locks_at_the_next_run(tmp_path):
    """A later pre-run check (Spark, hyper-parameters) refusing the run reaches no
    after_pipeline_run: a second session of the same process must not find its own lock."""
    hooks = hooks_on(str(tmp_path), tmp_path)
    hooks.before_pipeline_run(RUN_PARAMS, study_pipeline("insurance"), None)
    # (refused here by a later hook: no after_pipeline_run, no on_pipeline_error)
    hooks.before_pipeline_run(RUN_PARAMS, study_pipeline("insurance"), None)  # not busy
    assert hooks.studies == ["insurance"]
    hooks.release_hooks.after_pipeline_run(RUN_PARAMS, {}, study_pipeline("insurance"), None)
    assert hooks.studies == []


def test_unnamespaced_nodes_take_no_lock(tmp_path):
    assert run_studies(study_pipeline().nodes) == []
    assert run_studies(study_pipeline("stroke", "census").nodes) == ["census", "stroke"]
    hooks = hooks_on(str(tmp_path / "data"), tmp_path)
    hooks.before_pipeline_run({"pipeline_names": ["sample_data"]}, study_pipeline(), None)
    assert not (tmp_path / "data" / ".locks").exists()


def test_the_lock_folder_follows_the_configured_data_root(tmp_path, monkeypatch):
    from health_risk.framework.config_loader import CONFIG_LOADER_ARGS, StudyConfigLoader
    from health_risk.framework.hooks.run_lock import _data_root

    assert lock_folder("data", "/srv/project") == Path("/srv/project/data/.locks")
    assert lock_folder(None, "/srv/project") == Path("/srv/project/data/.locks")
    assert lock_folder("/mnt/shared/hr", "/srv/project") == Path("/mnt/shared/hr/.locks")
    assert lock_folder("file:///mnt/shared/hr", "/srv/project") == Path("/mnt/shared/hr/.locks")
    # A bucket cannot be flock-ed: the project's local data folder guards this checkout's runs.
    assert lock_folder("s3a://bucket/hr", "/srv/project") == Path("/srv/project/data/.locks")

    monkeypatch.setenv("HEALTH_RISK_DATA_ROOT", str(tmp_path / "scratch"))
    loader = StudyConfigLoader(conf_source=str(PROJECT / "conf"), env="test",
                               **CONFIG_LOADER_ARGS)
    assert lock_folder(_data_root(loader), PROJECT) == tmp_path / "scratch" / ".locks"

    # A hook called outside a session (no context) reads the project's globals itself.
    from health_risk.framework.hooks.run_lock import RunLockHooks

    hooks = RunLockHooks()
    hooks.before_pipeline_run({"project_path": str(PROJECT), "env": "test"},
                              study_pipeline("insurance"), None)
    assert (tmp_path / "scratch" / ".locks" / "insurance.lock").exists()
    hooks.release()


# 4. Through `kedro run`: refused before the JVM starts, one message, the MLflow run FAILED.
def test_kedro_run_of_a_busy_study_stops_with_one_message(scratch_project):
    import mlflow

    holder = StudyRunLock(scratch_project / "data" / ".locks")
    holder.acquire(["insurance"], holder_info(RUN_PARAMS, ["insurance"]))
    variables = {k: v for k, v in os.environ.items()
                 if not k.startswith(("MLFLOW_", "HEALTH_RISK_"))}
    variables.update(PATH=f"{BIN}:{variables.get('PATH', '')}", COLUMNS="200",
                     KEDRO_DISABLE_TELEMETRY="true")
    try:
        done = subprocess.run(
            [f"{BIN}/kedro", "run", "--env", "test", "--pipelines", "modeling",
             "--namespaces", "insurance"], cwd=scratch_project, env=variables,
            capture_output=True, text=True, timeout=300, check=False)
    finally:
        holder.release()
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output and "╭" not in output, output
    message = output[output.index("StudyBusyError:"):].strip().splitlines()
    assert message[0].startswith("StudyBusyError: Study 'insurance' is busy"), output
    assert f"pid {os.getpid()}" in message[0] and "pipelines: modeling" in message[0]
    assert "Wait for that run to finish" in message[1] and "--verbose" in message[-1]
    # No dataset of the study was read or written (the JVM may have started: `kedro run` starts
    # it while the run is set up, framework/spark_start.py).
    assert "Loading data from insurance" not in output and "Running node" not in output, output

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{scratch_project / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert runs and {run.info.status for run in runs} == {"FAILED"}
