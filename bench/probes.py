"""What the benchmark suite measures about a command: wall seconds and the peak resident memory
summed over its whole process tree (the Python driver, the Spark JVM, PySpark and xgboost
workers), sampled while it runs.

Sampling sees every process that lives at least one interval (0.1 s); the figure is a lower bound
of the true peak, close to it for the long-lived JVM and driver that dominate it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

MIB = 1024 * 1024
RESULT_PREFIX = "BENCH_RESULT "  # a worker's last stdout line: its own timings as JSON
INTERVAL_S = 0.1


def tree_rss_mib(root: psutil.Process) -> float:
    """Resident memory of ``root`` and all its live descendants, MiB."""
    total = 0
    for proc in (root, *root.children(recursive=True)):
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total / MIB


class TreePeak(threading.Thread):
    """Samples a process tree's summed RSS until stopped; ``peak_mib`` is the largest sample."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak_mib = 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.peak_mib = max(self.peak_mib, tree_rss_mib(self.root))
            except psutil.Error:
                return
            self._stop_event.wait(INTERVAL_S)

    def stop(self) -> float:
        self._stop_event.set()
        self.join()
        return self.peak_mib


@dataclass
class CommandResult:
    seconds: float
    peak_tree_rss_mib: float
    returncode: int
    result: dict[str, Any] = field(default_factory=dict)  # the worker's BENCH_RESULT, if any
    log: str = ""


class CommandFailed(RuntimeError):
    pass


def run_measured(argv: list[str], env: dict[str, str], cwd: Path, log_path: Path
                 ) -> CommandResult:
    """Run ``argv``; wall seconds, peak RSS of its process tree, and its BENCH_RESULT line.
    The output goes to ``log_path``; a failure raises with the log's tail."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        sampler = TreePeak(proc.pid)
        sampler.start()
        returncode = proc.wait()
        seconds = time.perf_counter() - start
        peak = sampler.stop()
    text = log_path.read_text(errors="replace")
    if returncode != 0:
        tail = "\n".join(text.splitlines()[-40:])
        raise CommandFailed(f"{' '.join(argv)} exited {returncode} (log {log_path}):\n{tail}")
    result = {}
    for line in reversed(text.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX):])
            break
    return CommandResult(seconds, peak, returncode, result, str(log_path))


def emit(result: dict[str, Any]) -> None:
    """A worker's report to the suite (its last stdout line)."""
    print(RESULT_PREFIX + json.dumps(result, default=float), flush=True)


def python_argv(script: Path, *args: str) -> list[str]:
    return [sys.executable, str(script), *args]


def load_average() -> float:
    return round(os.getloadavg()[0], 2)
