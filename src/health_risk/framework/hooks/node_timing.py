"""Where a run's time goes: each node's loads, function and saves, and the rest (Kedro, the
hooks, the runner) as the run's overhead.

At the end of a run the slowest nodes and the overhead are logged; with
``HEALTH_RISK_NODE_TIMES=<file.json>`` every node's figures are written there too (the
benchmarks read them: bench/bench_decade.py). Timing is a few ``perf_counter`` calls per
dataset, nothing a run would notice.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

NODE_TIMES_VARIABLE = "HEALTH_RISK_NODE_TIMES"
PHASES = ("load", "run", "save")


class NodeTimingHooks:
    """Seconds per node and phase (``load`` of its inputs, ``run`` of its function, ``save`` of
    its outputs), from before the pipeline to after it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: dict[tuple, float] = {}
        self._seconds: dict[str, dict[str, float]] = {}
        self._run_start = 0.0

    def _begin(self, *key) -> None:
        with self._lock:
            self._started[key] = time.perf_counter()

    def _end(self, node: str, phase: str, *key) -> None:
        now = time.perf_counter()
        with self._lock:
            start = self._started.pop((node, phase, *key), None)
            if start is not None:
                times = self._seconds.setdefault(node, dict.fromkeys(PHASES, 0.0))
                times[phase] += now - start

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        self._run_start = time.perf_counter()
        self._seconds.clear()
        self._started.clear()

    @hook_impl
    def before_dataset_loaded(self, dataset_name, node) -> None:
        self._begin(node.name, "load", dataset_name)

    @hook_impl
    def after_dataset_loaded(self, dataset_name, data, node) -> None:
        self._end(node.name, "load", dataset_name)

    @hook_impl
    def before_node_run(self, node) -> None:
        self._begin(node.name, "run")

    @hook_impl
    def after_node_run(self, node) -> None:
        self._end(node.name, "run")

    @hook_impl
    def before_dataset_saved(self, dataset_name, node) -> None:
        self._begin(node.name, "save", dataset_name)

    @hook_impl
    def after_dataset_saved(self, dataset_name, node) -> None:
        self._end(node.name, "save", dataset_name)

    @hook_impl
    def after_pipeline_run(self, run_params, pipeline, catalog) -> None:
        wall = time.perf_counter() - self._run_start
        nodes = {name: {phase: round(value, 3) for phase, value in times.items()}
                 for name, times in self._seconds.items()}
        in_nodes = sum(sum(times.values()) for times in self._seconds.values())
        summary = {"pipeline_seconds": round(wall, 3), "nodes": len(nodes),
                   "in_nodes_seconds": round(in_nodes, 3),
                   # Runner, hooks and Kedro between the nodes (sequential runs; with threads
                   # nodes overlap and this can go negative).
                   "between_nodes_seconds": round(wall - in_nodes, 3), "per_node": nodes}
        slowest = sorted(nodes.items(), key=lambda kv: -sum(kv[1].values()))[:5]
        logger.info("Run: %.1f s, %d nodes (%.1f s in their loads, functions and saves, %.1f s "
                    "between them); slowest: %s", wall, len(nodes), in_nodes, wall - in_nodes,
                    ", ".join(f"{name} {sum(t.values()):.1f} s" for name, t in slowest))
        target = os.environ.get(NODE_TIMES_VARIABLE)
        if target:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            Path(target).write_text(json.dumps(summary, indent=1))
