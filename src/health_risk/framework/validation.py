"""Validate every parameter block against its pydantic model before anything runs, and the
parameter blocks against the study registry (cross-block consistency).

A typo in ``conf/`` or in ``--params`` then fails in a second, naming the key, instead of
minutes into a Spark job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from health_risk.core.contract.config import IngestionConfig
from health_risk.core.contract.years import (
    absent_columns,
    part_columns,
    require_columns,
    unused_renames,
)
from health_risk.core.errors import ParameterError, validation_problems
from health_risk.core.features.config import FeatureEngineeringConfig
from health_risk.core.modeling_config import ModelingConfig
from health_risk.core.split import SplitConfig
from health_risk.core.studies import StudyRegistry
from health_risk.pipelines.inference.config import InferenceConfig
from health_risk.pipelines.reporting.config import ReportConfig, ReportingConfig
from health_risk.pipelines.sample_data.config import SampleDataConfig
from health_risk.pipelines.synthetic_data.config import SyntheticDataConfig

# Top-level blocks, and blocks found under any study namespace (``<study>.<block>``).
TOP_LEVEL_MODELS: dict[str, type[BaseModel]] = {"sample_data": SampleDataConfig,
                                                 "report": ReportConfig}
STUDY_MODELS: dict[str, type[BaseModel]] = {
    "ingestion": IngestionConfig,
    "feature_engineering": FeatureEngineeringConfig,
    "modeling": ModelingConfig,
    "synthetic_data": SyntheticDataConfig,
    "inference": InferenceConfig,
    "reporting": ReportingConfig,
    "split": SplitConfig,
}


def validate_parameters(params: Mapping[str, Any], registry: StudyRegistry | None = None
                        ) -> list[str]:
    """Validate the known blocks; return the keys checked, raise ``ParameterError`` on the first
    invalid block. With the registry, also check that every registered study has the blocks
    its pipelines read, that every study block belongs to a registered study, and that the
    blocks agree with the registry (references, population).

    ``params`` are the parameters the nodes see: the config loader has already merged each
    study's blocks over its task's defaults (so a block is missing only when neither the
    study nor the defaults state it) and stamped the registry's ``task`` into them (rule
    registry_fact: ``config_loader.stamp_registry_facts``)."""
    checked = []
    for key, model in TOP_LEVEL_MODELS.items():
        if key in params:
            _check(f"{key}", model, params[key])
            checked.append(key)
    validated: dict[str, dict[str, BaseModel]] = {}
    for study, block in params.items():
        if not isinstance(block, Mapping):
            continue
        for key, model in STUDY_MODELS.items():
            if key in block:
                validated.setdefault(study, {})[key] = _check(f"{study}.{key}", model,
                                                              block[key])
                checked.append(f"{study}.{key}")
    if registry is not None:
        _check_against_registry(validated, registry)
    return checked


def _check_against_registry(blocks: dict[str, dict[str, BaseModel]],
                            registry: StudyRegistry) -> None:
    registered = registry.names
    for study, found in blocks.items():
        if study not in registry.studies:
            raise ParameterError(
                f"Parameter block(s) {sorted(f'{study}.{b}' for b in found)} belong to no "
                f"registered study (rule: registered_study). Registered: {registered}; add "
                f"its registry entry conf/<env>/studies/{study}/study.yml or remove the blocks.")
    for study in registry.studies.values():
        found = blocks.get(study.name, {})
        missing = [block for block in study.blocks() if block not in found]
        if missing:
            raise ParameterError(
                f"Study '{study.name}' runs {list(study.pipelines)} but has no parameter "
                f"block(s) {[f'{study.name}.{b}' for b in missing]}, neither in "
                f"conf/<env>/studies/{study.name}/parameters.yml nor in the defaults of its "
                "task (conf/<env>/study_defaults/) (rule: required_block).")
        if "feature_engineering" in found:
            joined = [step.table for step in found["feature_engineering"].join_steps]
            unknown = sorted(set(joined) - set(study.references))
            if unknown:
                raise ParameterError(
                    f"'{study.name}.feature_engineering' joins table(s) {unknown} that are not "
                    f"in the study's registry `references` {list(study.references)} "
                    "(rule: join_reference)")
        if "reporting" in found:
            has_population = found["reporting"].population is not None
            if has_population != study.population:
                raise ParameterError(
                    f"'{study.name}.reporting.population' is "
                    f"{'set' if has_population else 'not set'} but the registry says "
                    f"population: {str(study.population).lower()} (rule: population_consistent)")
            small_area = has_population and found["reporting"].population.small_area
            if small_area and small_area.reference not in study.references:
                raise ParameterError(
                    f"'{study.name}.reporting.population.small_area' reads its covariates "
                    f"from '{small_area.reference}', which is not in the study's registry "
                    f"`references` {list(study.references)} (rule: small_area_reference)")


def validate_wiring(registry: StudyRegistry, catalog) -> None:
    """Every study that is ingested has its raw source in the catalog."""
    for study in registry.running("ingestion"):
        name = f"{study.name}.raw_source@spark"
        if name not in catalog:
            raise ParameterError(
                f"Study '{study.name}' is registered for ingestion but the catalog has no "
                f"'{name}' entry (rule: raw_source); add it to "
                f"conf/<env>/studies/{study.name}/catalog.yml (see docs/adding-a-study.md).")


def check_raw_sources(pipeline, catalog, params: Mapping[str, Any]) -> dict[str, list[dict]]:
    """Before the run, in seconds: every raw source the run ingests that can describe its
    parts from their headers (``describe_parts``: a BRFSS file or folder of years) has, in each
    part, every required column of its contract after that year's renames. A part without one
    stops the run here, naming file, year and column, not after minutes of conversion.

    Returns ``{study: [{file, year, absent_optional_columns, renames_not_in_file}]}`` for the
    log; a source that does not exist yet (the sample generator writes it in the same run) or
    cannot describe itself is left to ingestion."""
    found: dict[str, list[dict]] = {}
    raw_sources = sorted({name for node in pipeline.nodes for name in node.inputs
                          if name.endswith(".raw_source@spark")})
    for name in raw_sources:
        study = name.split(".")[0]
        block = (params.get(study) or {}).get("ingestion")
        dataset = catalog.get(name)
        if block is None or not hasattr(dataset, "describe_parts"):
            continue
        config = IngestionConfig.model_validate(block)
        described = []
        for part in dataset.describe_parts():
            columns = part_columns(part, config)
            require_columns(part, columns, config)
            described.append({"file": part["file"], "year": part.get("year"),
                              "absent_optional_columns": absent_columns(columns, config),
                              "renames_not_in_file": unused_renames(part, config)})
        found[study] = described
    return found


def _check(key: str, model: type[BaseModel], value: Any) -> BaseModel:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        problems = validation_problems(exc)  # key paths inside the block
        study = key.split(".")[0] if "." in key else None
        where = (f"conf/<env>/studies/{study}/parameters.yml, the task's defaults "
                 "(conf/<env>/study_defaults/)" if study else "conf/<env>/parameters/")
        listed = (f" {problems[0]}" if len(problems) == 1
                  else "".join(f"\n  - {line}" for line in problems))
        raise ParameterError(f"Invalid parameters '{key}':{listed}\nChange the value in {where} "
                             "or in the run's --params.") from exc
