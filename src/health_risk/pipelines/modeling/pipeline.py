"""Modeling: one generic template per study namespace (task and features from configuration)."""

from kedro.pipeline import Node, Pipeline

from health_risk.core.studies import Study, StudyRegistry, per_study
from health_risk.pipelines.modeling.model_card import build_model_card, summarise_data_provenance
from health_risk.pipelines.modeling.nodes import (
    build_model_input,
    build_reference_profile,
    calibrate_and_choose_threshold,
    cross_validate_winner,
    evaluate_model,
    explain_model,
    promote_model,
    register_model,
    train_candidates,
)
from health_risk.pipelines.modeling.portable import export_portable_scorer
from health_risk.spark.mode import CLASSIC_SPARK, FITS_CANDIDATES


def template(study: Study | None = None) -> Pipeline:
    spec, params = "feature_spec", "params:modeling"
    return Pipeline([
        Node(build_model_input, ["features", spec, params], "model_input",
             name="build_model_input"),
        Node(train_candidates, ["model_input", spec, params],
             ["best_candidate_model", "tuning_summary", "winning_candidate"],
             name="train_candidates", tags=[FITS_CANDIDATES]),
        Node(cross_validate_winner, ["model_input", spec, "winning_candidate", params],
             ["cross_validation", "cv_metrics"], name="cross_validate_winner",
             tags=[FITS_CANDIDATES]),
        Node(calibrate_and_choose_threshold, ["best_candidate_model", "model_input", spec, params],
             ["model", "calibration"], name="calibrate_and_choose_threshold"),
        Node(evaluate_model, ["model", "model_input", spec, "calibration", params],
             ["validation_metrics", "test_metrics", "evaluation_report", "reliability_curve",
              "subgroup_metrics", "performance_plot", "calibration_plot", "error_plot"],
             name="evaluate_model"),
        Node(explain_model, ["model", "model_input", spec, params],
             ["shap_importance", "shap_plot"], name="explain_model"),
        Node(build_reference_profile, ["model", "model_input", spec, params],
             "reference_profile", name="build_reference_profile"),
        Node(export_portable_scorer,
             {"final_model": "model", "model_input": "model_input", "spec": spec,
              "reference_profile": "reference_profile", "ingestion": "params:ingestion",
              "feature_engineering": "params:feature_engineering",
              "inference": "params:inference",
              # The reference tables the study's joins read, frozen into the scorer.
              **{ref: f"{ref}_table" for ref in (study.references if study else ())}},
             "portable_scorer", name="export_portable_scorer", tags=[CLASSIC_SPARK]),
        Node(register_model, ["model", "portable_scorer", spec, "winning_candidate",
                              "calibration", "evaluation_report", "reference_profile", params],
             "registration", name="register_model", tags=[CLASSIC_SPARK]),
        Node(promote_model, ["registration", "evaluation_report", spec, params],
             ["gate_decision", "gate_metrics", "champion_model"], name="promote_model"),
        Node(summarise_data_provenance, ["validation_report", "feature_report"],
             "data_provenance", name="summarise_data_provenance"),
        Node(build_model_card, ["registration", "gate_decision", "evaluation_report", spec,
                                "subgroup_metrics", "data_provenance", "cross_validation",
                                params], "model_card", name="build_model_card"),
    ])


def create_pipeline(studies: StudyRegistry, **kwargs) -> Pipeline:
    return per_study(studies, "modeling", template)
