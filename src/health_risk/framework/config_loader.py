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

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException, OmegaConfigLoader
from omegaconf import OmegaConf

from health_risk.core.studies import StudyRegistry, parse_registry
from health_risk.framework.library_warnings import silence_library_noise
from health_risk.framework.study_parameters import study_parameters

# What a YAML default may be: ``${env:SPARK_SHUFFLE_PARTITIONS,8}`` passes an int,
# ``${env:SPARK_UI_ENABLED,false}`` a bool. OmegaConf 2.4 checks a resolver's annotations.
Scalar = str | int | float | bool | None


def _env(name: str, default: Scalar = None) -> Scalar:
    """``${env:NAME,default}`` in any config file (Kedro only enables ``oc.env`` for
    credentials): the variable's text when it is set, else the default as YAML typed it."""
    return os.environ.get(name, default)


def register_env_resolver() -> None:
    """Register ``env`` with OmegaConf's ``register_resolver`` (Kedro's ``custom_resolvers``
    goes through the deprecated ``register_new_resolver``; it skips a name already registered)."""
    OmegaConf.register_resolver("env", _env, replace=True)


def merge_catalog(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """An environment's catalog over the base one, key by key (Kedro's soft merge), except that
    a mapping whose ``type`` differs from the base mapping's replaces it whole: the keys of one
    dataset class mean nothing to another (README's SQL source replaces a file source, whose
    ``filepath`` the SQL dataset would refuse). Applies at every level, so a wrapped
    ``dataset:`` whose type changes is replaced too."""
    merged = dict(base)
    for key, value in override.items():
        old = merged.get(key)
        if (isinstance(old, Mapping) and isinstance(value, Mapping)
                and value.get("type", old.get("type")) == old.get("type")):
            merged[key] = merge_catalog(old, value)
        else:
            merged[key] = value
    return merged


# settings.CONFIG_LOADER_ARGS: defined here, beside the loader, so the fallback loader below
# needs nothing from settings (which imports this module).
CONFIG_LOADER_ARGS: dict[str, Any] = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "spark": ["spark*", "spark*/**"],
        # kedro-mlflow adds this one in its hook; stated here, mlflow.yml also loads without
        # a session (``framework.mlflow_ui``)
        "mlflow": ["mlflow*", "mlflow*/**"],
        # Registry entries only: a study folder's catalog.yml and parameters.yml are picked up
        # by Kedro's catalog pattern ("**/catalog*") and ours for parameters.
        "studies": ["studies/*/study*"],
        "study_defaults": ["study_defaults*", "study_defaults*/**"],
        "parameters": ["parameters*", "parameters*/**", "**/parameters*"],
    },
    # ${env:...}: registered by StudyConfigLoader itself (register_env_resolver).
    # conf/test and conf/cluster override single keys, not whole files; a catalog entry (or a
    # wrapped dataset) whose `type` changes is replaced whole (merge_catalog).
    "merge_strategy": {"studies": "soft", "study_defaults": "soft", "parameters": "soft",
                       "catalog": "soft", "spark": "soft", "mlflow": "soft"},
}

_lock = threading.Lock()
_active: dict[str, Any] = {"loader": None, "key": None}


class StudyConfigLoader(OmegaConfigLoader):
    """``OmegaConfigLoader`` whose ``parameters`` are completed per study
    (``study_parameters``): task defaults under each study's blocks, identity and registry
    facts stamped in, so blocks state neither their study nor its task."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Before Kedro registers its own resolvers (and warns doing so).
        silence_library_noise()
        register_env_resolver()
        super().__init__(*args, **kwargs)

    def __getitem__(self, key: str) -> dict[str, Any]:
        # Kedro registers its runtime_params resolver again on every access (and warns): the
        # filters again too, in case a caller's warnings.catch_warnings dropped them since.
        silence_library_noise()
        value = super().__getitem__(key)
        if key == "parameters":
            value = study_parameters(value, self.study_registry(), self.study_defaults())
        return value

    def _merge_configs(self, config: dict[str, Any], env_config: dict[str, Any], key: str,
                       env_path: str) -> Any:
        if key == "catalog" and self.merge_strategy.get(key) == "soft":
            return merge_catalog(config, env_config)
        return super()._merge_configs(config, env_config, key, env_path)

    def _optional(self, key: str) -> dict[str, Any]:
        silence_library_noise()  # as in __getitem__
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
