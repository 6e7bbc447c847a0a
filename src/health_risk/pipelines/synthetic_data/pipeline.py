"""Synthetic data: one generic template per study namespace.

Reuse a fitted synthesizer without refitting by starting after the fit node, e.g.
``kedro run --pipelines synthetic_data --from-nodes stroke.sample_synthetic_batch``.
"""

from kedro.pipeline import Node, Pipeline

from health_risk.core.studies import Study, StudyRegistry, per_study
from health_risk.pipelines.synthetic_data.nodes import (
    assess_synthetic_batch,
    fit_synthesizer,
    measure_synthetic_utility,
    publish_synthetic_batch,
    report_synthetic_batch,
    sample_synthetic_batch,
    sample_utility_rows,
    select_synthesizer_rows,
)
from health_risk.spark.mode import FITS_CANDIDATES

CONFIG = ["params:synthetic_data", "params:ingestion", "params:feature_engineering"]


def template(study: Study) -> Pipeline:
    utility_inputs = {"utility_rows": "synthetic_utility_rows@spark",
                      "model_input": "model_input", "spec": "feature_spec",
                      "winner": "winning_candidate", "modeling_params": "params:modeling",
                      "sd_params": CONFIG[0], "fe_params": CONFIG[2],
                      **{name: f"{name}_table" for name in study.references}}
    return Pipeline([
        Node(select_synthesizer_rows, ["primary", "features", *CONFIG],
             ["synthesizer_training_rows", "synthesizer_holdout_rows"],
             name="select_synthesizer_rows"),
        Node(fit_synthesizer, ["synthesizer_training_rows", *CONFIG], "synthesizer",
             name="fit_synthesizer"),
        Node(sample_synthetic_batch, ["synthesizer", *CONFIG], "synthetic_candidate@pandas",
             name="sample_synthetic_batch"),
        Node(assess_synthetic_batch,
             ["synthesizer", "synthesizer_training_rows", "synthesizer_holdout_rows",
              "synthetic_candidate@pandas", *CONFIG],
             "synthetic_assessment", name="assess_synthetic_batch"),
        Node(sample_utility_rows, ["synthesizer", "synthesizer_training_rows", *CONFIG],
             "synthetic_utility_rows@pandas", name="sample_utility_rows"),
        Node(measure_synthetic_utility, utility_inputs, "synthetic_utility",
             name="measure_synthetic_utility", tags=[FITS_CANDIDATES]),
        Node(publish_synthetic_batch,
             ["synthetic_candidate@spark", "primary", "synthetic_assessment", *CONFIG],
             ["synthetic_batch_report", "synthetic_batches"], name="publish_synthetic_batch"),
        Node(report_synthetic_batch, ["synthetic_batch_report", "synthetic_utility"],
             ["synthetic_report", "synthetic_metrics"], name="report_synthetic_batch"),
    ])


def create_pipeline(studies: StudyRegistry, **kwargs) -> Pipeline:
    return per_study(studies, "synthetic_data", template)
