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

from .servers import process_group

SPARK_HOME = Path(pyspark.__file__).resolve().parent
MASTER_PORT, MASTER_UI, WORKER_UI = 7177, 8180, (8181, 8182)


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


@contextlib.contextmanager
def standalone_cluster(folder: Path):
    """Yields the master URL and the log files once both workers are ALIVE."""
    env = {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOG_DIR": str(folder),
           "SPARK_LOCAL_IP": "127.0.0.1"}
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    logs = [folder / "master.log", *(folder / f"worker{i}.log" for i in range(len(WORKER_UI)))]
    url = f"spark://127.0.0.1:{MASTER_PORT}"
    with contextlib.ExitStack() as stack:
        stack.enter_context(process_group(
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
             "--port", str(MASTER_PORT), "--webui-port", str(MASTER_UI)], folder, env, logs[0]))
        wait_for(master_status, 60, "the master's status page", logs)
        for number, ui in enumerate(WORKER_UI):
            work = folder / f"work{number}"
            work.mkdir(exist_ok=True)
            stack.enter_context(process_group(
                [spark_class, "org.apache.spark.deploy.worker.Worker", url, "--host",
                 "127.0.0.1", "--cores", "1", "--memory", "1536m", "--webui-port", str(ui),
                 "--work-dir", str(work)], folder, env, logs[number + 1]))
        wait_for(lambda: sum(w["state"] == "ALIVE" for w in master_status()["workers"]) == 2,
                 90, "two ALIVE workers", logs)
        yield url, logs
