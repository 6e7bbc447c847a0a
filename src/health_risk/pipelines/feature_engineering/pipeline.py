"""Feature engineering: one generic template, instantiated per study namespace.

Each namespace reads ``<study>.validated`` and ``params:<study>.feature_engineering``; what
differs between studies (target, derivations, features, leakage list) is configuration. The
only wiring that differs is which reference tables a study's ``join`` steps may read: the
registry's ``references`` (``census`` becomes the input ``census_table`` = ``census.validated``).
The feature table carries the study's split (``params:<study>.split``), assigned here once for
every later pipeline.
"""

from kedro.pipeline import Node, Pipeline

from health_risk.core.features.table import derive_primary
from health_risk.core.studies import Study, StudyRegistry, per_study
from health_risk.pipelines.feature_engineering.nodes import (
    build_feature_report,
    build_feature_table_with_split,
)
from health_risk.pipelines.feature_engineering.selection import rank_features


def template(study: Study) -> Pipeline:
    """The per-study nodes; each of the study's references adds a ``<name>_table`` input to
    ``derive_primary``."""
    derive_inputs = {"validated": "validated", "params": "params:feature_engineering",
                     **{name: f"{name}_table" for name in study.references}}
    return Pipeline(
        [
            Node(derive_primary, derive_inputs, "primary", name="derive_primary"),
            Node(build_feature_table_with_split,
                 ["primary", "params:feature_engineering", "params:split"], "features",
                 name="build_feature_table"),
            Node(rank_features, ["features", "params:feature_engineering", "params:split",
                                 "validation_report"],
                 ["feature_ranking", "feature_spec"], name="rank_features"),
            Node(build_feature_report, ["primary", "features", "params:feature_engineering",
                                        "validation_report"],
                 "feature_report", name="build_feature_report"),
        ]
    )


def create_pipeline(studies: StudyRegistry, **kwargs) -> Pipeline:
    return per_study(studies, "feature_engineering", template)
