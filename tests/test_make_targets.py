"""The README's long-running targets work from a plain shell (the venv not activated): each
serves HTTP 200 on loopback, and its whole process group is stopped afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]


def _serves(url: str, seconds: float, process: subprocess.Popen) -> int | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # loopback only
                return response.status
        except OSError:
            time.sleep(1)
    return None


@pytest.mark.slow
@pytest.mark.parametrize("target, url", [
    ("mlflow-ui", "http://127.0.0.1:5000/"),
    ("viz", "http://127.0.0.1:4141/"),
])
def test_server_target_answers_without_an_activated_venv(target, url, tmp_path):
    # PATH as a fresh shell has it: no .venv/bin, so nothing finds `mlflow` unless the
    # Makefile puts it there.
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV",) and not k.startswith("MLFLOW_")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if ".venv" not in p)
    env["KEDRO_DISABLE_TELEMETRY"] = "true"
    log = tmp_path / f"{target}.log"
    with open(log, "w") as out:
        process = subprocess.Popen(["make", "-s", target], cwd=PROJECT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        status = _serves(url, 120, process)
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # kedro viz leaves a child server otherwise
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    assert status == 200, log.read_text()[-3000:]
