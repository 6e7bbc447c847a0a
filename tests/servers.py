"""Start a long-running server command for a test and stop its whole process group after
(``kedro viz run`` leaves a child server alive when only its parent is killed)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path


def first_status(url: str, seconds: float, process: subprocess.Popen) -> int | None:
    """The HTTP status of ``url`` once it answers (loopback only), or None when the process
    exits or the time runs out first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status
        except OSError:
            time.sleep(1)
    return None


@contextlib.contextmanager
def process_group(command: list[str], cwd: Path, env: dict[str, str], log: Path):
    """Run ``command`` in a session of its own, output to ``log``; stop the group on exit."""
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
