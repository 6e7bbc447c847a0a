"""Every module of the package imports on its own, whatever was imported before it.

Kedro imports pipeline packages in the registry's order, which hides an import cycle between a
shared module and a pipeline package; a script, a notebook or a benchmark that imports the
shared module first then fails. Each module is imported with the project's modules cleared from
``sys.modules`` (third-party libraries stay loaded, so this takes seconds), in a subprocess so
the test's own interpreter keeps its modules.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import health_risk

SCRIPT = textwrap.dedent("""
    import importlib, pkgutil, sys, traceback
    import health_risk
    names = sorted(m.name for m in pkgutil.walk_packages(health_risk.__path__, "health_risk."))
    failed = []
    for name in names:
        for loaded in [m for m in sys.modules if m.startswith("health_risk.")]:
            del sys.modules[loaded]
        try:
            importlib.import_module(name)
        except Exception:
            failed.append(name + ": " + traceback.format_exc(limit=1).strip().splitlines()[-1])
    print("MODULES", len(names))
    print("\\n".join(failed))
    sys.exit(1 if failed else 0)
""")


def test_every_module_imports_first():
    done = subprocess.run([sys.executable, "-c", SCRIPT], check=False, capture_output=True,
                          text=True, cwd=Path(health_risk.__file__).parents[2], timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    count = next(int(line.split()[1]) for line in done.stdout.splitlines()
                 if line.startswith("MODULES "))
    assert count > 50  # the walk found the package's modules


def test_registering_the_pipelines_does_not_import_sdv_torch_or_samplics():
    # Every `kedro run` registers every pipeline: a module-level `import sdv` there cost each
    # run ~300 MiB of driver memory (torch) and seconds of start-up. samplics (the Fay-Herriot
    # fit) brings statsmodels; it is imported when the area model is fitted. (polars, which it
    # also needs, is imported by MLflow's dataset registry whenever it is installed.)
    script = ("import sys\nfrom health_risk.pipeline_registry import register_pipelines\n"
              "register_pipelines()\nprint('HEAVY', [m for m in ('sdv', 'torch', 'samplics', "
              "'statsmodels') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True,
                          text=True, cwd=Path(health_risk.__file__).parents[2], timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "HEAVY []" in done.stdout, done.stdout[-500:]
