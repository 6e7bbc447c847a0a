"""Project pipelines, built from the study registry (``conf/<env>/studies/*/study.yml``).

Every pipeline package's ``create_pipeline(studies=...)`` receives the registry of the run
being started (``config_loader.active_registry``: it honours ``--env``), so a study added in
configuration gets its namespaces everywhere without a line of Python.

``__default__`` is the end-to-end job on whatever sits in ``data/01_raw``; it deliberately
leaves out ``sample_data`` so a real download dropped in ``data/01_raw`` is never overwritten
(``make run`` generates the sample only when the raw files are missing).
"""

import importlib
import pkgutil

from kedro.pipeline import Pipeline

from health_risk import pipelines as pipeline_packages
from health_risk.core.studies import PIPELINES
from health_risk.framework.config_loader import active_registry


def register_pipelines() -> dict[str, Pipeline]:
    studies = active_registry()
    found = {}
    for module in pkgutil.iter_modules(pipeline_packages.__path__):
        if module.ispkg:
            package = importlib.import_module(f"{pipeline_packages.__name__}.{module.name}")
            found[module.name] = package.create_pipeline(studies=studies)
    found["__default__"] = sum((found[name] for name in PIPELINES if name in found),
                               Pipeline([]))
    return found
