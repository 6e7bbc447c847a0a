"""The committed configuration as tests see it: what a run on ``conf/`` (env ``base``) sees,
read through the project's own config loader (``StudyConfigLoader`` with
``CONFIG_LOADER_ARGS``): the study registry of ``conf/base/studies/*/study.yml`` and the
parameters with each study's blocks over its task's defaults, identity and task stamped.
Tests read study names from here, never from a literal list."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

from health_risk.core.studies import StudyRegistry
from health_risk.framework.config_loader import CONFIG_LOADER_ARGS, StudyConfigLoader

CONF = Path(__file__).resolve().parents[1] / "conf" / "base"
TEST_SPARK = CONF.parent / "test" / "spark.yml"
# Non-study parameter files (the sample_data generators' specifications).
PARAMETERS = CONF / "parameters"


@cache
def _loader() -> StudyConfigLoader:
    return StudyConfigLoader(conf_source=str(CONF.parent), env="base", **CONFIG_LOADER_ARGS)


@cache
def _parameters() -> dict[str, Any]:
    return _loader()["parameters"]


def committed_registry() -> StudyRegistry:
    return _loader().study_registry()


def studies_running(pipeline: str) -> list[str]:
    return [study.name for study in committed_registry().running(pipeline)]


def committed_params(*blocks: str) -> dict[str, Any]:
    """The parameters a run sees (a fresh copy). With block names, only the registered
    studies, each narrowed to those of its blocks (``committed_params("ingestion")``)."""
    params = copy.deepcopy(_parameters())
    if not blocks:
        return params
    narrowed = {}
    for study in committed_registry().names:
        found = {block: params[study][block] for block in blocks
                 if block in params.get(study, {})}
        if found:
            narrowed[study] = found
    return narrowed


@cache
def test_spark_settings() -> dict[str, Any]:
    """``conf/test/spark.yml`` as written (it has no interpolation): the Spark settings of the
    test environment, which the tests' own session and test cluster use too."""
    import yaml

    return yaml.safe_load(TEST_SPARK.read_text())
