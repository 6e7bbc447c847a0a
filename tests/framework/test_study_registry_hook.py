"""StudyRegistryHooks hands the run's config loader to pipeline registration."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import yaml

from health_risk.framework import config_loader
from health_risk.framework.config_loader import CONFIG_LOADER_ARGS, StudyConfigLoader
from health_risk.framework.hooks import study_registry
from health_risk.framework.hooks.study_registry import StudyRegistryHooks

PROJECT_CONF = Path(__file__).resolve().parents[2] / "conf"


def test_the_registry_follows_the_run_loader_and_pipelines_are_rebuilt_on_a_change(
        tmp_path, monkeypatch):
    configured = []
    monkeypatch.setattr(study_registry.pipelines, "configure", configured.append)
    monkeypatch.setattr(config_loader, "_active", {"loader": None, "key": None})
    hooks = StudyRegistryHooks()

    base = StudyConfigLoader(conf_source=str(PROJECT_CONF), env="base", **CONFIG_LOADER_ARGS)
    hooks.after_context_created(SimpleNamespace(config_loader=base))
    assert configured == []  # the first loader: the pipelines are built for it already
    assert config_loader.active_registry().names == base.study_registry().names

    other_conf = tmp_path / "conf"
    (other_conf / "base").mkdir(parents=True)
    (other_conf / "local").mkdir()
    (other_conf / "base" / "studies" / "only_one").mkdir(parents=True)
    (other_conf / "base" / "studies" / "only_one" / "study.yml").write_text(yaml.safe_dump(
        {"only_one": {"task": "regression"}}))
    other = StudyConfigLoader(conf_source=str(other_conf), env="base", **CONFIG_LOADER_ARGS)
    hooks.after_context_created(SimpleNamespace(config_loader=other))
    assert configured == ["health_risk.pipeline_registry"]
    assert config_loader.active_registry().names == ["only_one"]
