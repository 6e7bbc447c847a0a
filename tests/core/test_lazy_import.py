"""Heavy libraries imported on first use, one at a time (core/lazy_import.py)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import health_risk

SOURCE = Path(health_risk.__file__).parent
# The libraries the project imports inside functions (every `kedro run` registers every
# pipeline, so they stay out of its start). Spark, pandas, numpy and mlflow are imported when a
# run starts anyway.
HEAVY = {"matplotlib", "onnxmltools", "onnxruntime", "pandera", "samplics", "scipy", "sdmetrics",
         "sdv", "shap", "sklearn", "torch", "xgboost"}


def _heavy_imports_outside_the_lock(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []

    def visit(node, in_function: bool, locked: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            in_function = True
        if isinstance(node, ast.With) and any(
                isinstance(item.context_expr, ast.Name) and
                item.context_expr.id == "LAZY_IMPORT_LOCK" for item in node.items):
            locked = True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and in_function and not locked:
            names = [node.module] if isinstance(node, ast.ImportFrom) else [
                alias.name for alias in node.names]
            if any(name and name.split(".")[0] in HEAVY for name in names):
                found.append(f"{path.relative_to(SOURCE.parent)}:{node.lineno}")
        for child in ast.iter_child_nodes(node):
            visit(child, in_function, locked)

    visit(tree, False, False)
    return found


def test_every_first_use_import_of_a_heavy_library_takes_the_lock():
    """Node code runs in ThreadRunner's threads; see the next test for what happens without."""
    unlocked = [place for package in ("core", "pipelines")
                for path in sorted((SOURCE / package).rglob("*.py"))
                for place in _heavy_imports_outside_the_lock(path)]
    assert unlocked == []


def test_two_threads_importing_pandera_through_the_lock_both_succeed():
    """pandera.config and pandera.pyspark imported at once by two threads of a fresh process:
    without the lock importlib raises _DeadlockError in one of them (every time on this
    machine: pandera's backends and checks modules import each other), with it both
    succeed."""
    script = (
        "import importlib, sys, threading\n"
        "from health_risk.core.lazy_import import LAZY_IMPORT_LOCK\n"
        "errors = []\n"
        "def load(name):\n"
        "    try:\n"
        "        with LAZY_IMPORT_LOCK:\n"
        "            importlib.import_module(name)\n"
        "    except BaseException as error:\n"
        "        errors.append(repr(error))\n"
        "threads = [threading.Thread(target=load, args=(n,))\n"
        "           for n in ('pandera.config', 'pandera.pyspark')]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "print(errors)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
