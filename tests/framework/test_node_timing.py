"""The run's time per node and phase, and the rest between nodes."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

from health_risk.framework.hooks.node_timing import NODE_TIMES_VARIABLE, NodeTimingHooks


def test_each_phase_of_each_node_is_timed_and_the_rest_is_overhead(tmp_path, monkeypatch):
    target = tmp_path / "times.json"
    monkeypatch.setenv(NODE_TIMES_VARIABLE, str(target))
    hooks, node = NodeTimingHooks(), SimpleNamespace(name="brfss.flag_invalid_rows")
    hooks.before_pipeline_run(None, None, None)
    for phase, begin, end, pause in (("load", hooks.before_dataset_loaded,
                                      hooks.after_dataset_loaded, 0.02),
                                     ("save", hooks.before_dataset_saved,
                                      hooks.after_dataset_saved, 0.01)):
        begin(dataset_name=f"x_{phase}", node=node)
        time.sleep(pause)
        end(dataset_name=f"x_{phase}", **({"data": None} if phase == "load" else {}), node=node)
    hooks.before_node_run(node=node)
    time.sleep(0.03)
    hooks.after_node_run(node=node)
    time.sleep(0.02)  # between nodes
    hooks.after_pipeline_run(None, None, None)
    summary = json.loads(target.read_text())
    times = summary["per_node"]["brfss.flag_invalid_rows"]
    assert times["load"] >= 0.02 and times["run"] >= 0.03 and times["save"] >= 0.01
    assert summary["nodes"] == 1
    assert summary["between_nodes_seconds"] >= 0.02
    assert summary["pipeline_seconds"] >= summary["in_nodes_seconds"] + 0.02 - 1e-3
