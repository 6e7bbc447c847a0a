"""A study's parameter blocks as the nodes see them: its own blocks
(``conf/<env>/studies/<study>/parameters.yml``) deep-merged over the defaults of every study and
of its task (``conf/<env>/study_defaults/``), with its identity (``study``) and the registry
facts its blocks read (``task``) stamped in. ``StudyConfigLoader`` applies ``study_parameters``
whenever ``parameters`` are loaded: runs, notebooks and kedro-viz see the same blocks."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from health_risk.core.errors import ParameterError
from health_risk.core.studies import StudyRegistry

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
