"""The README's long-running targets work from a plain shell (the venv not activated): each
serves HTTP 200 on loopback, and its whole process group is stopped afterwards."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .servers import first_status, process_group

PROJECT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("target, url", [
    ("mlflow-ui", "http://127.0.0.1:5000/"),
    # `make viz` is started the same way by tests/test_viz_browser.py, which drives it.
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
    with process_group(["make", "-s", target], PROJECT, env, log) as process:
        status = first_status(url, 120, process)
    assert status == 200, log.read_text()[-3000:]
