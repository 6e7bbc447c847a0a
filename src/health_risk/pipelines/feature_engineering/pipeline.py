"""Feature engineering: one generic template, instantiated per study namespace.

Each namespace reads ``<study>.validated`` and ``params:<study>.feature_engineering``; what
differs between studies (target, derivations, features, leakage list) is configuration. The
only wiring that differs is which reference tables a study's ``join`` steps may read.
"""

from collections.abc import Callable

from kedro.pipeline import Node, Pipeline

from health_risk.pipelines.feature_engineering.nodes import (
    build_feature_report,
    build_feature_table,
    derive_primary,
)
from health_risk.pipelines.feature_engineering.selection import rank_features

STUDIES = ("brfss", "stroke", "insurance")

# Reference tables a study's `join` steps read: {study: {name used in `table:`: dataset}}.
LOOKUP_TABLES: dict[str, dict[str, str]] = {"brfss": {"census": "census.validated"}}


def template(lookups: tuple[str, ...] = ()) -> Pipeline:
    """The per-study nodes; ``lookups`` adds ``<name>_table`` inputs to ``derive_primary``."""
    derive_inputs = {"validated": "validated", "params": "params:feature_engineering",
                     **{name: f"{name}_table" for name in lookups}}
    return Pipeline(
        [
            Node(derive_primary, derive_inputs, "primary", name="derive_primary"),
            Node(build_feature_table, ["primary", "params:feature_engineering"], "features",
                 name="build_feature_table"),
            Node(rank_features, ["features", "params:feature_engineering"],
                 ["feature_ranking", "feature_spec"], name="rank_features"),
            Node(build_feature_report, ["primary", "features", "params:feature_engineering"],
                 "feature_report", name="build_feature_report"),
        ]
    )


def per_study(template: Callable[[tuple[str, ...]], Pipeline], blocks: tuple[str, ...],
              tag: str) -> Pipeline:
    """``template(lookups)`` in every study namespace: each parameter block ``params:<block>``
    maps to ``params:<study>.<block>`` and each lookup table ``<name>_table`` to its dataset
    (``LOOKUP_TABLES``). Shared by the pipelines that join reference tables."""
    pipelines = []
    for study in STUDIES:
        lookups = LOOKUP_TABLES.get(study, {})
        pipelines.append(Pipeline(
            template(tuple(lookups)), namespace=study,
            parameters={f"params:{block}": f"params:{study}.{block}" for block in blocks},
            inputs={f"{name}_table": dataset for name, dataset in lookups.items()},
            tags=[tag, study],
        ))
    return sum(pipelines, Pipeline([]))


def create_pipeline(**kwargs) -> Pipeline:
    return per_study(template, ("feature_engineering",), "feature_engineering")
