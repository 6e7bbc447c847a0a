"""The project's config loader and the study registry it serves to pipeline registration.

Kedro builds pipelines before it loads parameters, and ``register_pipelines()`` takes no
arguments, so the registry that shapes the pipelines has to come from the config loader of the
run being started: ``StudyRegistryHooks.after_context_created`` hands that loader over (the
context is created before the first ``pipelines`` access), and ``active_registry()`` reads
``studies`` through it, honouring ``--env`` and ``--conf-source``. Outside a session (a test
calling ``register_pipelines()``) it falls back to a loader on the project found from the
working directory, with ``KEDRO_ENV``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader

from health_risk.core.errors import ParameterError
from health_risk.core.studies import StudyRegistry, parse_registry


def _env(name: str, default: str | None = None) -> str | None:
    """``${env:NAME,default}`` in any config file (Kedro only enables ``oc.env`` for credentials)."""
    return os.environ.get(name, default)


# settings.CONFIG_LOADER_ARGS: defined here, beside the loader, so the fallback loader below
# needs nothing from settings (which imports this module).
CONFIG_LOADER_ARGS: dict[str, Any] = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "spark": ["spark*", "spark*/**"],
        "studies": ["studies*", "studies*/**"],
        "parameters": ["parameters*", "parameters*/**", "**/parameters*"],
    },
    "custom_resolvers": {"env": _env},
    # conf/test and conf/cluster override single keys, not whole files.
    "merge_strategy": {"studies": "soft", "parameters": "soft", "catalog": "soft",
                       "spark": "soft", "mlflow": "soft"},
}

_lock = threading.Lock()
_active: dict[str, Any] = {"loader": None, "key": None}


def stamp_study_identity(params: Mapping[str, Any], registry: StudyRegistry) -> dict[str, Any]:
    """Every ``<study>.<block>`` mapping of a registered study gets ``study: <study>``.

    A block that already names a study must name its own namespace: a copy-pasted
    ``study: insurance`` under another study would otherwise register into (and could promote
    over) ``health_risk_insurance``.
    """
    stamped = dict(params)
    for name in registry.studies:
        blocks = params.get(name)
        if not isinstance(blocks, Mapping):
            continue
        new_blocks = {}
        for key, block in blocks.items():
            if isinstance(block, Mapping) and key != "split":
                declared = block.get("study", name)
                if declared != name:
                    raise ParameterError(
                        f"Invalid parameters '{name}.{key}': `study: {declared}` differs from "
                        f"its namespace '{name}' (rule: study_identity). The namespace is the "
                        "study's identity; drop the `study:` key.")
                block = {**block, "study": name}
            new_blocks[key] = block
        stamped[name] = new_blocks
    return stamped


class StudyConfigLoader(OmegaConfigLoader):
    """``OmegaConfigLoader`` whose ``parameters`` carry each study's identity from its
    namespace (``studies.stamp_study_identity``): blocks do not repeat ``study:``."""

    def __getitem__(self, key: str) -> dict[str, Any]:
        value = super().__getitem__(key)
        if key == "parameters":
            value = stamp_study_identity(value, self.study_registry())
        return value

    def study_registry(self) -> StudyRegistry:
        env = self.env or self.default_run_env
        return parse_registry(super().__getitem__("studies"),
                              source=f"{self.conf_source}/{{{self.base_env},{env}}}/studies*.yml")


def loader_key(loader: OmegaConfigLoader) -> tuple[str, str | None]:
    return (str(loader.conf_source), loader.env)


def set_active_loader(loader: OmegaConfigLoader) -> bool:
    """Remember the run's loader; True when it differs from the previous one (the registered
    pipelines may then be stale)."""
    with _lock:
        changed = _active["key"] is not None and _active["key"] != loader_key(loader)
        _active["loader"], _active["key"] = loader, loader_key(loader)
        return changed


def _fallback_loader() -> OmegaConfigLoader:
    from kedro.utils import find_kedro_project

    project = find_kedro_project(Path.cwd()) or Path(__file__).resolve().parents[3]
    return StudyConfigLoader(conf_source=str(Path(project) / "conf"),
                             env=os.environ.get("KEDRO_ENV"), **CONFIG_LOADER_ARGS)


def active_registry() -> StudyRegistry:
    """The study registry of the run being started (or of the project on disk)."""
    with _lock:
        loader = _active["loader"]
    if loader is None:
        loader = _fallback_loader()
        set_active_loader(loader)
    if isinstance(loader, StudyConfigLoader):
        return loader.study_registry()
    return parse_registry(loader["studies"])
