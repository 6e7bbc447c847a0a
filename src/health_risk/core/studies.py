"""The study registry: which studies (and reference tables) the pipelines are built for.

Each has a registry entry, ``conf/<env>/studies/<study>/study.yml`` (a study is one folder; the
config loader gathers the entries as ``{"studies": {<study>: entry}}``); this module validates
them and turns a per-study pipeline template into one Kedro namespace per study. No Python constant
names a study: the registry is read when pipelines are registered (through the run's config
loader, so ``--env`` can add or change a study) and passed to every ``create_pipeline``.

A study's namespace is its identity: parameter blocks do not repeat it, the config loader
stamps it into every block (``stamp_study_identity``), and a block that names another study is
an error. The task likewise is stated once, in the registry entry, and stamped into the blocks
that read it (``stamp_registry_facts``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from kedro.pipeline import Pipeline
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from health_risk.core.errors import HealthRiskError, validation_problems

# The generic pipelines a study can take part in, in data-flow order.
PIPELINES = ("ingestion", "feature_engineering", "modeling", "synthetic_data", "inference",
             "reporting")

# What each pipeline reads from another pipeline of the same study.
REQUIRES: dict[str, tuple[str, ...]] = {
    "ingestion": (),
    "feature_engineering": ("ingestion",),
    "modeling": ("feature_engineering",),
    # The synthetic sample's utility is measured with the winning modeling configuration on
    # the real test split (train on synthetic, test on real).
    "synthetic_data": ("modeling",),
    "inference": ("modeling",),
    "reporting": ("modeling",),
}

# Parameter blocks (``<study>.<block>``) each pipeline's nodes read.
BLOCKS: dict[str, tuple[str, ...]] = {
    "ingestion": ("ingestion",),
    # The split is assigned once, by feature engineering; the others read its `split` column.
    "feature_engineering": ("feature_engineering", "split"),
    "modeling": ("modeling",),
    "synthetic_data": ("synthetic_data", "ingestion", "feature_engineering", "modeling"),
    "inference": ("ingestion", "feature_engineering", "inference"),
    "reporting": ("reporting",),
}

Task = Literal["classification", "regression"]


class StudyRegistryError(HealthRiskError):
    """The study registry is inconsistent (unknown pipeline, missing reference, ...)."""


class Study(BaseModel):
    """One registry entry. ``name`` is filled from its key in ``studies:``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    # `study`: modelled end to end; `reference`: a lookup table other studies join (census).
    role: Literal["study", "reference"] = "study"
    task: Task | None = None
    pipelines: tuple[str, ...] | None = None  # default: all for a study, ingestion for a reference
    # Reference tables this study's `join` steps read, by registry name (`table: census`).
    references: tuple[str, ...] = ()
    # Survey-weighted estimates by area (weight and area columns in `<study>.reporting.population`).
    population: bool = False

    @model_validator(mode="after")
    def _complete(self) -> Study:
        if self.pipelines is None:
            default = PIPELINES if self.role == "study" else ("ingestion",)
            object.__setattr__(self, "pipelines", default)
        unknown = [p for p in self.pipelines if p not in PIPELINES]
        if unknown:
            raise ValueError(f"unknown pipeline(s) {unknown}; known: {list(PIPELINES)}")
        for pipeline in self.pipelines:
            missing = [r for r in REQUIRES[pipeline] if r not in self.pipelines]
            if missing:
                raise ValueError(f"pipeline '{pipeline}' needs {missing} in `pipelines` too")
        if self.role == "study" and self.task is None:
            raise ValueError("a study needs `task: classification` or `task: regression`")
        if self.role == "reference":
            if tuple(self.pipelines) != ("ingestion",):
                raise ValueError("a reference table is only ingested: `pipelines: [ingestion]`")
            if self.task or self.references or self.population:
                raise ValueError("a reference table has no task, references or population")
        if self.population and "reporting" not in self.pipelines:
            raise ValueError("`population: true` needs the reporting pipeline")
        return self

    def runs(self, pipeline: str) -> bool:
        return pipeline in (self.pipelines or ())

    def blocks(self) -> list[str]:
        """The parameter blocks this study's pipelines read."""
        needed = [block for p in self.pipelines or () for block in BLOCKS[p]]
        return list(dict.fromkeys(needed))


class StudyRegistry(BaseModel):
    """Every registered study, in the order the report shows them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    studies: dict[str, Study] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _name_entries(cls, value: Any) -> Any:
        if isinstance(value, Mapping) and isinstance(value.get("studies"), Mapping):
            named = {}
            for name, entry in value["studies"].items():
                entry = dict(entry or {})
                if entry.setdefault("name", name) != name:
                    raise ValueError(f"study '{name}': `name: {entry['name']}` differs from its key")
                named[name] = entry
            value = {**value, "studies": named}
        return value

    @model_validator(mode="after")
    def _references_exist(self) -> StudyRegistry:
        for study in self.studies.values():
            for ref in study.references:
                target = self.studies.get(ref)
                if target is None or target.role != "reference":
                    raise ValueError(f"study '{study.name}': reference '{ref}' is not a "
                                     "registered reference table (role: reference)")
            if "." in study.name or not study.name:
                raise ValueError(f"study name '{study.name}' must be non-empty, without '.'")
        return self

    def running(self, pipeline: str) -> Iterator[Study]:
        """The studies that take part in ``pipeline``, in registry order."""
        return (s for s in self.studies.values() if s.runs(pipeline))

    @property
    def names(self) -> list[str]:
        return list(self.studies)


def parse_registry(config: Mapping[str, Any], source: str = "studies/<study>/study.yml"
                   ) -> StudyRegistry:
    """Validate ``{"studies": {<study>: entry}}`` (the entries of
    ``conf/<env>/studies/*/study.yml``)."""
    try:
        return StudyRegistry.model_validate(dict(config))
    except ValidationError as exc:
        problems = "".join(f"\n  - {line.removeprefix('studies.')}"
                           for line in validation_problems(exc))
        raise StudyRegistryError(f"Invalid study registry ({source}):{problems}") from exc


def per_study(studies: StudyRegistry, pipeline: str, template: Callable[[Study], Pipeline],
              extra_inputs: Callable[[Study], Mapping[str, str]] | None = None,
              only: Callable[[Study], bool] | None = None) -> Pipeline:
    """``template(study)`` once per registered study that runs ``pipeline`` (and passes
    ``only``), each in its own namespace: ``params:<block>`` maps to ``params:<study>.<block>``
    and each reference table ``<ref>_table`` to the reference's validated table
    ``<ref>.validated``. ``extra_inputs(study)`` maps further inputs to datasets outside the
    namespace (e.g. shared map outlines)."""
    parts = []
    for study in studies.running(pipeline):
        if only is not None and not only(study):
            continue
        template_pipeline = template(study)
        wanted = BLOCKS[pipeline]
        used = {name for node in template_pipeline.nodes for name in node.inputs}
        inputs = {f"{ref}_table": f"{ref}.validated" for ref in study.references
                  if f"{ref}_table" in used}
        if extra_inputs is not None:
            inputs.update({k: v for k, v in extra_inputs(study).items() if k in used})
        parts.append(Pipeline(
            template_pipeline, namespace=study.name,
            parameters={f"params:{block}": f"params:{study.name}.{block}" for block in wanted
                        if f"params:{block}" in used},
            inputs=inputs, tags=[pipeline, study.name],
        ))
    return sum(parts, Pipeline([]))
