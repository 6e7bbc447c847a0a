"""Batch inference: one generic template per study namespace.

Each namespace scores the new raw files dropped into ``01_raw/<study>/incoming/`` (the study's
raw format, through its contract; each file once), or else the latest batch of
``<study>.synthetic_batches`` (or the one named by ``<study>.inference.batch_id``), with
``models:/health_risk_<study>@champion``.
"""

from kedro.pipeline import Node, Pipeline

from health_risk.core.studies import Study, StudyRegistry, per_study
from health_risk.pipelines.inference.nodes import (
    build_batch_features,
    extract_batch_quarantine,
    measure_drift,
    score_batch,
    select_batch,
    summarise_batch,
    validate_batch,
)

INGESTION, FEATURES, INFERENCE = ("params:ingestion", "params:feature_engineering",
                                  "params:inference")
from health_risk.spark.mode import CLASSIC_SPARK


def template(study: Study) -> Pipeline:
    feature_inputs = {"flagged": "batch_flagged", "fe_params": FEATURES,
                      **{name: f"{name}_table" for name in study.references}}
    return Pipeline([
        # New raw files of the study's incoming folder first, else the published batch.
        Node(select_batch, ["synthetic_batches", "incoming", INGESTION, FEATURES, INFERENCE],
             ["scoring_batch", "batch_info"], name="select_batch"),
        Node(validate_batch, ["scoring_batch", "batch_info", INGESTION, FEATURES, INFERENCE],
             ["batch_flagged", "batch_audit"], name="validate_batch"),
        Node(extract_batch_quarantine, ["batch_flagged", "batch_info", INGESTION, FEATURES],
             "batch_quarantine", name="extract_batch_quarantine"),
        Node(build_batch_features, feature_inputs, "batch_features",
             name="build_batch_features"),
        Node(score_batch, ["batch_features", "champion_model", "batch_info", FEATURES,
                           INFERENCE], "predictions", name="score_batch", tags=[CLASSIC_SPARK]),
        Node(summarise_batch, ["batch_flagged", "predictions", "batch_quarantine",
                               "champion_model", "batch_info", "batch_audit", INFERENCE],
             ["inference_report", "inference_metrics"], name="summarise_batch",
             # Once the scores and the report are written, the incoming files of this batch
             # are recorded as scored: no later run scores them again.
             confirms="incoming"),
        Node(measure_drift, ["batch_features", "predictions", "champion_model", "batch_info",
                             "inference_report", INFERENCE],
             ["drift_report", "drift_metrics", "monitoring_metrics"], name="measure_drift"),
    ])


def create_pipeline(studies: StudyRegistry, **kwargs) -> Pipeline:
    return per_study(studies, "inference", template)
