"""kedro-viz in a real browser: Debian's Chromium driven by Playwright (``executable_path``; no
browser is downloaded). The served flowchart shows one group per registered study and reference
table with its layer bands; expanding a study draws its nodes in every layer."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from .committed_config import committed_registry
from .servers import first_status, process_group

PROJECT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LAYERS = ["raw", "intermediate", "primary", "feature", "model_input", "models", "model_output",
          "reporting"]


# A fixed port outside Linux's ephemeral range: kedro-viz refuses a port it sees in use, and a
# port taken from the ephemeral range can be held by an outgoing connection meanwhile.
VIZ_PORT = 4242


@pytest.fixture()
def viz_server(tmp_path):
    port = VIZ_PORT
    # Not the KEDRO_ENV / MLFLOW_* variables an earlier in-process run may have left behind
    # (kedro-mlflow keeps MLFLOW_EXPERIMENT_ID of its store, which this project's store lacks).
    env = {k: v for k, v in os.environ.items()
           if k != "KEDRO_ENV" and not k.startswith("MLFLOW_")}
    env["KEDRO_DISABLE_TELEMETRY"] = "true"
    kedro = str(Path(sys.executable).parent / "kedro")
    log = tmp_path / "viz.log"
    url = f"http://127.0.0.1:{port}/"
    command = [kedro, "viz", "run", "--host", "127.0.0.1", "--port", str(port), "--no-browser"]
    with process_group(command, PROJECT, env, log) as server:
        if first_status(url, 120, server) is None:
            pytest.fail(f"kedro viz did not answer: {log.read_text()[-3000:]}")
        yield url


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt install chromium)")
def test_flowchart_draws_one_group_per_study_and_expands_a_study(viz_server):
    from playwright.sync_api import sync_playwright

    groups_expected = set(committed_registry().names)
    study = next(s.name for s in committed_registry().running("modeling"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(viz_server, wait_until="networkidle")
            page.wait_for_selector(".pipeline-node--modularPipeline", timeout=60_000)
            groups = page.locator(".pipeline-node--modularPipeline")
            names = {groups.nth(i).text_content().strip() for i in range(groups.count())}
            assert names == groups_expected
            layers = page.locator(".pipeline-layer-name").all_text_contents()
            assert layers and [name for name in LAYERS if name in layers] == layers
            # Expand one study: its nodes are drawn, in every layer band.
            groups.filter(has_text=study).first.click(force=True)
            page.wait_for_function(
                "document.querySelectorAll('.pipeline-node--task').length > 10",
                timeout=30_000)
            assert page.locator(".pipeline-layer-name").all_text_contents() == LAYERS
            shot = PROJECT / "data" / "08_reporting" / "kedro_viz_flowchart.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
