"""A Spark standalone cluster for a test: a master and two one-core workers on 127.0.0.1,
started with the Spark inside the pyspark wheel (``bin/spark-class``; the wheel has no
``sbin/start-*.sh``), each in a process group of its own that is stopped at the end. Their logs
stay in the given folder, and a wait that fails prints their tails."""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.request
from pathlib import Path

import pyspark

from .committed_config import test_spark_settings
from .servers import process_group

SPARK_HOME = Path(pyspark.__file__).resolve().parent
MASTER_PORT, MASTER_UI, WORKER_UI = 7177, 8180, (8181, 8182)
# What conf/test/spark.yml does to the test environment's JVMs (compile less: make test keeps
# both cores busy), done to the test cluster's too: its daemons, executors and drivers.
JVM_OPTIONS = test_spark_settings()["spark.driver.extraJavaOptions"]
CLUSTER_TEST_SETTINGS = {"spark.driver.extraJavaOptions": JVM_OPTIONS,
                         "spark.executor.extraJavaOptions": JVM_OPTIONS,
                         "spark.sql.codegen.factoryMode":
                             test_spark_settings()["spark.sql.codegen.factoryMode"]}


def status(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def wait_for(condition, seconds: float, what: str, logs: list[Path]):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError):
            found = condition()
            if found:
                return found
        time.sleep(1)
    tails = "\n".join(f"--- {log}\n{log.read_text()[-3000:]}" for log in logs if log.exists())
    raise AssertionError(f"{what} not reached within {seconds} s\n{tails}")


def master_status() -> dict:
    return status(f"http://127.0.0.1:{MASTER_UI}/json/")


def worker_status(number: int) -> dict:
    return status(f"http://127.0.0.1:{WORKER_UI[number]}/json/")


class StandaloneCluster:
    """A master and two one-core workers. ``start`` returns at once (a worker retries until
    the master listens), so the JVMs can start while something else runs; ``wait_alive``
    then blocks until both workers are ALIVE."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.url = f"spark://127.0.0.1:{MASTER_PORT}"
        self.logs = [folder / "master.log", *(folder / f"worker{i}.log"
                                              for i in range(len(WORKER_UI)))]
        self._stack = contextlib.ExitStack()

    def start(self) -> StandaloneCluster:
        env = {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOG_DIR": str(self.folder),
               "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_DAEMON_JAVA_OPTS": JVM_OPTIONS}
        spark_class = str(SPARK_HOME / "bin" / "spark-class")
        self._stack.enter_context(process_group(
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
             "--port", str(MASTER_PORT), "--webui-port", str(MASTER_UI)], self.folder, env,
            self.logs[0]))
        for number, ui in enumerate(WORKER_UI):
            work = self.folder / f"work{number}"
            work.mkdir(exist_ok=True)
            self._stack.enter_context(process_group(
                [spark_class, "org.apache.spark.deploy.worker.Worker", self.url, "--host",
                 "127.0.0.1", "--cores", "1", "--memory", "1536m", "--webui-port", str(ui),
                 "--work-dir", str(work)], self.folder, env, self.logs[number + 1]))
        return self

    def wait_alive(self) -> str:
        wait_for(master_status, 60, "the master's status page", self.logs)
        wait_for(lambda: sum(w["state"] == "ALIVE" for w in master_status()["workers"]) == 2,
                 90, "two ALIVE workers", self.logs)
        return self.url

    def stop(self) -> None:
        self._stack.close()


@contextlib.contextmanager
def standalone_cluster(folder: Path):
    """Yields the master URL and the log files once both workers are ALIVE."""
    cluster = StandaloneCluster(folder).start()
    try:
        yield cluster.wait_alive(), cluster.logs
    finally:
        cluster.stop()


CONNECT_PORT = 15102


@contextlib.contextmanager
def connect_server(folder: Path, master: str, port: int = CONNECT_PORT):
    """A Spark Connect server (``sbin/start-connect-server.sh --wait``: in the foreground, so
    its process group is ours to stop) whose own driver runs on ``master``, bound to loopback.
    Yields the ``sc://`` URL once it accepts connections."""
    import socket
    import sys

    env = {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOG_DIR": str(folder),
           "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    log = folder / "connect-server.log"
    command = ["bash", str(SPARK_HOME / "sbin" / "start-connect-server.sh"), "--wait",
               "--master", master, "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
               "--conf", f"spark.connect.grpc.binding.port={port}",
               "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.executor.memory=1g",
               "--conf", "spark.executor.cores=1", "--conf", "spark.sql.shuffle.partitions=2",
               *(f"--conf={key}={value}" for key, value in CLUSTER_TEST_SETTINGS.items())]

    def accepts() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True

    with process_group(command, folder, env, log):
        wait_for(accepts, 90, "the Spark Connect server's port", [log])
        yield f"sc://127.0.0.1:{port}"
