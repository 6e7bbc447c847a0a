"""The project's config loader and the study registry it serves to pipeline registration.

A study is one folder, ``conf/<env>/studies/<study>/``: ``study.yml`` (its registry entry),
``catalog.yml`` (its raw source) and ``parameters.yml`` (its parameter blocks). The loader reads
the registry entries under the ``studies`` key, and completes each study's parameter blocks
(``study_parameters``): the defaults of every study and of its task
(``conf/<env>/study_defaults/{every_study,<task>}.yml``, key ``study_defaults``) deep-merged
under them, its identity (``study: <name>``) and the registry facts its blocks read (``task``)
stamped in.

Kedro builds pipelines before it loads parameters, and ``register_pipelines()`` takes no
arguments, so the registry that shapes the pipelines has to come from the config loader of the
run being started: ``StudyRegistryHooks.after_context_created`` hands that loader over (the
context is created before the first ``pipelines`` access), and ``active_registry()`` reads
``studies`` through it, honouring ``--env`` and ``--conf-source``. Outside a session (a test
calling ``register_pipelines()``) it falls back to a loader on the project found from the
working directory, with ``KEDRO_ENV``.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException, OmegaConfigLoader

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
        # Registry entries only: a study folder's catalog.yml and parameters.yml are picked up
        # by Kedro's catalog pattern ("**/catalog*") and ours for parameters.
        "studies": ["studies/*/study*"],
        "study_defaults": ["study_defaults*", "study_defaults*/**"],
        "parameters": ["parameters*", "parameters*/**", "**/parameters*"],
    },
    "custom_resolvers": {"env": _env},
    # conf/test and conf/cluster override single keys, not whole files.
    "merge_strategy": {"studies": "soft", "study_defaults": "soft", "parameters": "soft",
                       "catalog": "soft", "spark": "soft", "mlflow": "soft"},
}

_lock = threading.Lock()
_active: dict[str, Any] = {"loader": None, "key": None}


# Registry facts, stated once in a study's registry entry, and the blocks that read them: the
# loader writes them into those blocks; a block stating another value is refused.
REGISTRY_FACTS: dict[str, tuple[str, ...]] = {"task": ("feature_engineering", "modeling")}

# Mappings a study replaces whole instead of merging into the defaults' key by key: a study's
# own aggregate tables and charts are its report, not additions to the default one.
REPLACED_WHOLE: dict[str, tuple[str, ...]] = {"reporting": ("aggregates", "charts")}


def _merged(default: Mapping[str, Any], own: Mapping[str, Any],
            whole: tuple[str, ...] = ()) -> dict[str, Any]:
    """``own`` deep-merged over ``default`` (mappings key by key, anything else replaced)."""
    merged = dict(default)
    for key, value in own.items():
        base = merged.get(key)
        if key not in whole and isinstance(base, Mapping) and isinstance(value, Mapping):
            value = _merged(base, value)
        merged[key] = value
    return merged


# The defaults of every study, under those of its task (`study_defaults` key).
EVERY_STUDY = "every_study"


def apply_study_defaults(params: Mapping[str, Any], registry: StudyRegistry,
                         defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Each study's blocks deep-merged over the defaults (``conf/<env>/study_defaults/``):
    ``defaults["every_study"]``, then ``defaults[<task>]`` over it, then the study's own blocks
    over both (the study wins). Only the blocks its pipelines read get defaults; reference
    tables (no task) get none."""
    completed = dict(params)
    for study in registry.studies.values():
        if study.task is None:
            continue
        task_defaults = _merged(defaults.get(EVERY_STUDY) or {}, defaults.get(study.task) or {})
        blocks = dict(params.get(study.name) or {})
        for block in study.blocks():
            default = task_defaults.get(block)
            own = blocks.get(block)
            if not isinstance(default, Mapping) or (own is not None
                                                    and not isinstance(own, Mapping)):
                continue  # a block that is no mapping is left for validation to name
            # A copy: studies of one task must not share (and so mutate) one default object.
            blocks[block] = _merged(copy.deepcopy(default), own or {},
                                    REPLACED_WHOLE.get(block, ()))
        completed[study.name] = blocks
    return completed


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


def stamp_registry_facts(params: Mapping[str, Any], registry: StudyRegistry) -> dict[str, Any]:
    """Each registry fact (``REGISTRY_FACTS``, e.g. ``task``) written into the blocks that read
    it. A block may repeat the registry's value; a different one is an error, because the
    registry entry is the one place that states it."""
    stamped = dict(params)
    for study in registry.studies.values():
        blocks = params.get(study.name)
        if not isinstance(blocks, Mapping):
            continue
        new_blocks = dict(blocks)
        for fact, readers in REGISTRY_FACTS.items():
            value = getattr(study, fact)
            for key in readers:
                block = blocks.get(key)
                if value is None or not isinstance(block, Mapping):
                    continue
                declared = block.get(fact, value)
                if declared != value:
                    raise ParameterError(
                        f"Invalid parameters '{study.name}.{key}.{fact}': {declared} differs "
                        f"from the registry entry's `{fact}: {value}` (rule: registry_fact). "
                        f"The registry entry (conf/<env>/studies/{study.name}/study.yml) states "
                        f"it once for every block; drop `{fact}:` from the block.")
                new_blocks[key] = {**block, fact: value}
        stamped[study.name] = new_blocks
    return stamped


def study_parameters(params: Mapping[str, Any], registry: StudyRegistry,
                     defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The parameters the nodes see: each study's blocks over its task's defaults, with its
    identity and registry facts stamped in."""
    completed = apply_study_defaults(params, registry, defaults or {})
    return stamp_registry_facts(stamp_study_identity(completed, registry), registry)


class StudyConfigLoader(OmegaConfigLoader):
    """``OmegaConfigLoader`` whose ``parameters`` are completed per study
    (``study_parameters``): task defaults under each study's blocks, identity and registry
    facts stamped in, so blocks state neither their study nor its task."""

    def __getitem__(self, key: str) -> dict[str, Any]:
        value = super().__getitem__(key)
        if key == "parameters":
            value = study_parameters(value, self.study_registry(), self.study_defaults())
        return value

    def _optional(self, key: str) -> dict[str, Any]:
        try:
            return super().__getitem__(key)
        except MissingConfigException:
            return {}

    def study_registry(self) -> StudyRegistry:
        """The registry entries of ``conf/<env>/studies/*/study.yml``, in study-name order
        (folders have no other order; the HTML report follows it)."""
        env = self.env or self.default_run_env
        entries = self._optional("studies")
        return parse_registry(
            {"studies": {name: entries[name] for name in sorted(entries)}},
            source=f"{self.conf_source}/{{{self.base_env},{env}}}/studies/*/study.yml")

    def study_defaults(self) -> dict[str, Any]:
        """``{"every_study" | task: {block: defaults}}`` from ``conf/<env>/study_defaults/``."""
        return self._optional("study_defaults")


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
    entries = loader["studies"]
    return parse_registry({"studies": {name: entries[name] for name in sorted(entries)}})
