"""Pipelines are built from the study registry: a study (or reference table) added to the
registry gets its namespaces, and the collapsed kedro-viz flowchart stays readable."""

from __future__ import annotations

import pytest

from health_risk.core.errors import ParameterError
from health_risk.core.studies import StudyRegistryError, parse_registry
from health_risk.framework.validation import validate_parameters
from health_risk.pipeline_registry import register_pipelines

from .committed_config import CONF, committed_params, committed_registry


def _registry(**extra):
    return parse_registry({"studies": {**committed_registry().model_dump()["studies"], **extra}})


def _between_groups(pipeline) -> set[str]:
    """The datasets kedro-viz draws outside every collapsed namespace: each namespace's free
    inputs and outputs (``kedro_viz.data_access.repositories.modular_pipelines``) and the
    datasets of nodes outside any namespace."""
    outside = set()
    for namespace in {n.namespace for n in pipeline.nodes if n.namespace}:
        inner = pipeline.only_nodes_with_namespaces([namespace])
        rest = pipeline - inner
        outside |= inner.inputs() | inner.outputs() | (rest.inputs() & inner.all_outputs())
    for node in pipeline.nodes:
        if not node.namespace:
            outside |= set(node.inputs) | set(node.outputs)
    return {d.split("@")[0] for d in outside if not d.startswith("params:")
            and d != "parameters"}


def test_every_pipeline_has_one_namespace_per_registered_study():
    from health_risk import settings
    from health_risk.framework.config_loader import set_active_loader

    # What the registry hook does when a session starts on the repository (base env).
    set_active_loader(settings.CONFIG_LOADER_CLASS(conf_source=str(CONF.parent), env="base",
                                                   **settings.CONFIG_LOADER_ARGS))
    registry = committed_registry()
    pipelines = register_pipelines()
    for name in ("ingestion", "feature_engineering", "modeling", "synthetic_data",
                 "inference", "reporting"):
        namespaces = {n.namespace for n in pipelines[name].nodes if n.namespace}
        assert namespaces == {s.name for s in registry.running(name)}, name


def test_collapsed_default_flowchart_has_few_datasets_between_groups():
    from health_risk.core.studies import PIPELINES
    from health_risk.pipelines.reporting.pipeline import create_pipeline as reporting

    registry = committed_registry()
    default = sum((__import__(f"health_risk.pipelines.{name}", fromlist=["create_pipeline"])
                   .create_pipeline(studies=registry) for name in PIPELINES[:-1]),
                  reporting(studies=registry))
    outside = _between_groups(default)
    # Each study's raw inputs (its raw file, its incoming folder) are free inputs of its group;
    # besides them: the reference table a study joins, the map outlines, the report sections
    # and the report.
    raw = {d for d in outside if d.endswith((".raw_source", ".incoming"))}
    assert {d.split(".")[0] for d in raw if d.endswith(".incoming")} == {
        s.name for s in registry.running("inference")}
    assert len(outside - raw) <= 6, sorted(outside - raw)
    # Inference waits for the gate of the same run: the champion is produced inside the study.
    assert not {d for d in outside if d.endswith(".champion_model")}


def test_a_new_study_in_the_registry_gets_every_namespace():
    registry = _registry(claims={"task": "regression"})
    from health_risk.pipelines.modeling.pipeline import create_pipeline

    assert "claims" in {n.namespace for n in create_pipeline(studies=registry).nodes}


@pytest.mark.parametrize("entry, message", [
    ({"task": "ranking"}, "classification"),
    ({}, "needs `task"),
    ({"task": "classification", "pipelines": ["modeling"]}, "needs \\['feature_engineering'\\]"),
    ({"task": "classification", "references": ["nowhere"]}, "not a registered reference"),
    ({"role": "reference", "task": "regression"}, "no task"),
    ({"task": "classification", "colour": "red"}, "Extra inputs"),
])
def test_an_inconsistent_registry_entry_is_refused_naming_the_problem(entry, message):
    with pytest.raises(StudyRegistryError, match=f"(?s)study.yml.*{message}"):
        _registry(claims=entry)


def test_blocks_and_registry_must_agree_before_the_run():
    params = committed_params()
    assert validate_parameters(params, committed_registry())
    stray = {**params, "claims": {"modeling": params["stroke"]["modeling"]}}
    with pytest.raises(ParameterError, match="belong to no registered study.*registered_study"):
        validate_parameters(stray, committed_registry())
    with pytest.raises(ParameterError, match="claims.split.*required_block"):
        validate_parameters(stray, _registry(claims={"task": "classification"}))
    no_population = {**params, "brfss": {**params["brfss"], "reporting": {
        k: v for k, v in params["brfss"]["reporting"].items() if k != "population"}}}
    with pytest.raises(ParameterError, match="population_consistent"):
        validate_parameters(no_population, committed_registry())


def test_a_block_naming_another_study_is_refused():
    from health_risk.framework.study_parameters import stamp_study_identity

    raw = committed_params()
    copied = {**raw, "stroke": {**raw["stroke"], "modeling": {**raw["stroke"]["modeling"],
                                                                "study": "insurance"}}}
    with pytest.raises(ParameterError, match="stroke.modeling.*study_identity"):
        stamp_study_identity(copied, committed_registry())


MAX_NODE_INPUTS = 8  # DESIGN.md: a node a reader can hold in their head


def test_every_node_of_every_registered_pipeline_has_at_most_eight_inputs():
    from health_risk import settings
    from health_risk.framework.config_loader import set_active_loader

    set_active_loader(settings.CONFIG_LOADER_CLASS(conf_source=str(CONF.parent), env="base",
                                                   **settings.CONFIG_LOADER_ARGS))
    crowded = {f"{name}: {node.name} ({len(node.inputs)})"
               for name, pipeline in register_pipelines().items() for node in pipeline.nodes
               if len(node.inputs) > MAX_NODE_INPUTS}  # params: inputs count too
    assert not crowded, sorted(crowded)


def test_the_task_is_stated_once_in_the_registry_and_stamped_into_its_blocks():
    from health_risk.framework.study_parameters import stamp_registry_facts

    registry = committed_registry()
    params = committed_params()
    for study in registry.running("modeling"):
        for block in ("feature_engineering", "modeling"):
            assert params[study.name][block]["task"] == study.task
    # A block that repeats the registry's value is accepted; another value names key and rule.
    assert stamp_registry_facts(params, registry) == params
    with pytest.raises(ParameterError,
                       match=r"stroke\.feature_engineering\.task.*regression.*registry_fact"):
        stamp_registry_facts(params, _registry(stroke={"task": "regression"}))
