"""The four floors (framework over pipelines over core over infrastructure) and the sibling
pipelines, as import-linter contracts in ``pyproject.toml``; and no import cycle anywhere."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

import health_risk

PACKAGE = Path(health_risk.__file__).parent
PYPROJECT = PACKAGE.parents[1] / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(source_root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with the project's contracts on the package found under ``source_root``."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(PYPROJECT), "--no-cache"], cwd=source_root,
        env={"PYTHONPATH": str(source_root), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=False, timeout=120)


def test_the_contracts_hold():
    done = lint(PACKAGE.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


def test_an_upward_or_cross_pipeline_import_breaks_a_contract(tmp_path):
    copy = tmp_path / "health_risk"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    # The core reaching up into a pipeline, and one pipeline into another.
    (copy / "core" / "wrong_upward.py").write_text(
        "from health_risk.pipelines.modeling import nodes\n")
    (copy / "pipelines" / "inference" / "wrong_sideways.py").write_text(
        "from health_risk.pipelines.modeling.nodes import register_model\n")
    done = lint(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0 kept, 2 broken" in done.stdout
    assert "health_risk.core.wrong_upward -> health_risk.pipelines.modeling" in done.stdout
    assert "health_risk.pipelines.inference.wrong_sideways -> " in done.stdout


def test_no_module_imports_itself_through_a_cycle():
    graph = grimp.build_graph("health_risk", cache_dir=None)
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            if chain:
                cycles.append(" -> ".join((module, *chain)))
    assert cycles == []
