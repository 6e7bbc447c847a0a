"""The one place that silences warnings a normal run would print although nothing the project
wrote causes them: each is matched exactly, by its message and the library module that issues
it. A warning the project's own code or configuration causes is fixed where it arises (the
``env`` resolver's annotations and registration in ``framework.config_loader``, the Spark
builder's own keys in ``spark.session``), never listed here;
``tests/framework/test_quiet_run.py`` fails on any warning raised from ``src/health_risk`` or
known to come from the project's configuration.

Installed when ``health_risk.framework`` is imported (before the hooks import kedro-mlflow),
and again whenever the project's config loader is created or read (``StudyConfigLoader``):
Kedro registers its resolvers there, and filters installed once would be lost to any
``warnings.catch_warnings`` block around the import (pytest's per-test one, for instance).
"""
from __future__ import annotations

import logging
import re
import warnings

# (message regex, regex of the module the warning is attributed to, why it is not ours)
LIBRARY_NOISE: tuple[tuple[str, str, str], ...] = (
    (r"register_new_resolver\(\) is deprecated",
     r"kedro\.config\.omegaconf_config|kedro_mlflow\.framework\.hooks\.mlflow_hook",
     ("OmegaConf 2.4 deprecates register_new_resolver(); Kedro 1.7 calls it for its own "
      "`globals`, `runtime_params` and (credentials) `oc.env` resolvers, and kedro-mlflow 2.0 "
      "for `km.random_name`, in every project. The project's `env` resolver is registered with "
      "register_resolver().")),
    (r"One or more dataset names contain '\.' characters",
     r"kedro\.pipeline\.node|health_risk\.",
     ("Kedro 1.x warns once per process on the first node that names a dataset of another "
      "namespace (kedro-org/kedro#5021), whether written directly or made by its own "
      "Pipeline(inputs=...) mapping. The project's cross-namespace edges are deliberate: a "
      "study reads its reference tables (`census.validated`), the report gathers every study's "
      "section, sample_data writes each study's raw file. Every dotted name is "
      "`<registered namespace>.<dataset>` (tests/framework/test_quiet_run.py checks it).")),
)

# Warnings a library issues under its own ``warnings.simplefilter("once")`` (no filter above can
# reach them): dropped where Kedro's logging shows warnings (``py.warnings``), matched on the
# formatted warning (file and message). (regex, why)
FORCED_LIBRARY_NOISE: tuple[tuple[str, str], ...] = (
    (r"mlflow/pyfunc/utils/data_validation\.py:\d+: UserWarning: \S*Add type hints to the `predict`",
     ("kedro-mlflow's KedroPipelineModel (imported with its hook) defines an untyped predict; "
      "the project defines no PythonModel of its own.")),
)


class _ForcedNoiseFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not any(re.search(pattern, text) for pattern, _why in FORCED_LIBRARY_NOISE)


def silence_library_noise() -> None:
    """Install the filters (idempotent: ``warnings.filterwarnings`` replaces an equal filter)."""
    for message, module, _why in LIBRARY_NOISE:
        warnings.filterwarnings("ignore", message=message, category=UserWarning, module=module)
    shown = logging.getLogger("py.warnings")
    if not any(isinstance(existing, _ForcedNoiseFilter) for existing in shown.filters):
        shown.addFilter(_ForcedNoiseFilter())
