"""The second half of a study's reporting namespace: everything else the study's pipelines
produced for people to read (model card, features, tuning, synthetic batch, monitoring, the
metrics logged to MLflow), one node per group of the page, then the study's one report section.

Consuming every report, table and metrics file of the study here (and nowhere outside the
namespace) is what keeps the kedro-viz flowchart readable: collapsed, a study is one group whose
only output is its section, instead of sixty loose files in a row beside the groups.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from health_risk.pipelines.reporting import sections as blocks
from health_risk.pipelines.reporting.config import ReportingConfig

MONITORING_STEPS = 20  # the latest batches of the monitoring time series shown


def _metrics_table(stages: dict[str, dict[str, dict[str, float]] | None]) -> pd.DataFrame:
    rows = [{"stage": stage, "metric": name, "value": entry.get("value"),
             "step": entry.get("step")}
            for stage, metrics in stages.items() if metrics
            for name, entry in sorted(metrics.items())]
    return pd.DataFrame(rows, columns=["stage", "metric", "value", "step"])


def _feature_blocks(feature_report: dict[str, Any], ranking: pd.DataFrame) -> list[dict]:
    joins = pd.DataFrame([{"table": j.get("table"), "key": j.get("left_on"),
                           "unmatched_rows": j.get("rows_unmatched"),
                           "unmatched_keys": ", ".join(map(str, (j.get("unmatched_keys")
                                                                 or {}).keys()))}
                          for j in feature_report.get("unmatched_joins") or []])
    excluded = pd.DataFrame(sorted((feature_report.get("excluded_rows_by_reason")
                                    or {}).items()),
                            columns=["reason", "rows"])
    return [
        blocks.table_block("Feature ranking (mutual information with the label, TRAIN rows)",
                           ranking),
        blocks.table_block("Rows not modelled, by reason", excluded,
                           empty="every row of the primary table is modelled"),
        blocks.table_block("Reference-table joins", joins, empty="no join step"),
    ]


def _cross_validation_block(report: dict[str, Any]) -> dict[str, Any]:
    title = "Cross-validated estimate (train + validation)"
    if not report.get("performed"):
        return blocks.text_block(title, f"Not computed: {report.get('reason', 'n/a')}; the "
                                        "single test split is the estimate.")
    frame = pd.DataFrame([{"metric": name, "mean": stats["mean"], "sd": stats["sd"]}
                          for name, stats in report["summary"].items()])
    return blocks.table_block(title, frame, note=f"{report['method']}; {report['rows']:,} "
                                                 "rows, mean and sd over the folds.")


def _synthetic_blocks(report: dict[str, Any] | None) -> list[dict]:
    if not report:
        return [blocks.text_block("Synthetic batch", "no synthetic batch yet: run the "
                                  "synthetic_data pipeline")]
    privacy = report.get("privacy") or {}
    distance = privacy.get("distance_to_closest_record") or {}
    summary = {"batch_id": report.get("batch_id"), "rows": report.get("rows"),
               "accepted": report.get("accepted"),
               "published_rows": report.get("published_rows"),
               "rare_record_copies": privacy.get("rare_record_copies"),
               "exact_copies": privacy.get("exact_copies"),
               "median_dcr_synthetic": distance.get("median_dcr_synthetic_to_training"),
               "median_dcr_holdout": distance.get("median_dcr_holdout_to_training"),
               "quality_score": (report.get("quality") or {}).get("score")}
    # The gate's decision in words: what was published, or why nothing was.
    return [blocks.table_block("Latest synthetic batch (quality and privacy)",
                               pd.DataFrame([summary]), note=report.get("decision")),
            _utility_block(report.get("utility") or {}, report.get("conditioning") or {})]


def _utility_block(utility: dict[str, Any], conditioning: dict[str, Any]) -> dict:
    """Train on synthetic / test on real against train on real, metric by metric."""
    title = "Does the synthetic sample keep the signal? (TSTR vs TRTR)"
    if not utility.get("performed"):
        return blocks.text_block(title, f"Not measured: {utility.get('reason', 'n/a')}.")
    targets = utility.get("targets") or {}
    frame = pd.DataFrame([
        {"metric": metric, "train real, test real (TRTR)": utility["trtr"][metric],
         "train synthetic, test real (TSTR)": utility["tstr"][metric],
         "TSTR - TRTR": utility["gap"][metric],
         "allowed shortfall": (targets.get(metric) or {}).get("max_gap"),
         "within it": (targets.get(metric) or {}).get("met")}
        for metric in utility["gap"]])
    strata = conditioning.get("strata") or []
    how = (f"one synthesizer per stratum of {len(strata)} "
           f"({', '.join(s['stratum'] for s in strata)})" if conditioning.get("enabled")
           else "one synthesizer for the whole table (conditioning off)")
    return blocks.table_block(
        title, frame,
        note=f"The winning configuration ({utility['candidate']}) refitted on "
             f"{utility['synthetic_rows']:,} synthetic rows and on {utility['real_train_rows']:,}"
             f" real TRAIN rows, both scored on the {utility['test_rows']:,} real test rows; "
             f"synthesis: {how}.")


def build_model_card_group(model_card: str, params: dict[str, Any]) -> dict[str, Any]:
    """The "Model card" group: the card of this run's version, as written."""
    config = ReportingConfig.model_validate(params)
    return {"title": "Model card", "blocks": [blocks.markdown_block(
        "Model card of this run's version", model_card,
        note=f"08_reporting/{config.study}/model_card.md; MLflow artifact "
             f"modeling/{config.study}/model_card.md in the run that registered it.")]}


def build_features_group(feature_report: dict[str, Any],
                         feature_ranking: pd.DataFrame) -> dict[str, Any]:
    """The "Features" group: the ranking, the rows not modelled and the reference joins."""
    return {"title": "Features", "blocks": _feature_blocks(feature_report, feature_ranking)}


def build_tuning_group(cross_validation: dict[str, Any], tuning_summary: pd.DataFrame,
                       reliability_curve: pd.DataFrame) -> dict[str, Any]:
    """The "Tuning and calibration" group: cross-validated estimate, trials, reliability."""
    return {"title": "Tuning and calibration", "blocks": [
        _cross_validation_block(cross_validation),
        blocks.table_block("Tuning trials (validation split)", tuning_summary, wide=True),
        blocks.table_block("Reliability table (test): mean predicted vs observed by bin",
                           reliability_curve)]}


def tabulate_logged_metrics(validation_metrics: dict, test_metrics: dict, cv_metrics: dict,
                            gate_metrics: dict, synthetic_metrics: dict | None,
                            inference_metrics: dict | None,
                            drift_metrics: dict | None) -> pd.DataFrame:
    """Every metric the study's stages logged to MLflow, one row per (stage, metric); a stage
    that has not run (None) has no rows."""
    return _metrics_table({"validation": validation_metrics, "test": test_metrics,
                           "cv": cv_metrics, "gate": gate_metrics,
                           "synthetic": synthetic_metrics,
                           "inference": inference_metrics, "drift": drift_metrics})


def build_monitoring_group(synthetic_report: dict[str, Any] | None,
                           monitoring_metrics: pd.DataFrame, section_metric_table: pd.DataFrame,
                           params: dict[str, Any]) -> dict[str, Any]:
    """The "Monitoring" group: the latest synthetic batch, the monitoring history (the latest
    batches, one column per metric) and the table of metrics logged to MLflow."""
    config = ReportingConfig.model_validate(params)
    history = monitoring_metrics
    if history is not None and not history.empty:
        latest = sorted(history["step"].unique())[-MONITORING_STEPS:]
        history = (history[history["step"].isin(latest)]
                   .pivot_table(index="step", columns="metric", values="value")
                   .reset_index())
    return {"title": "Monitoring", "blocks": [
        *_synthetic_blocks(synthetic_report),
        blocks.table_block("Monitoring history (one step per scored batch)", history,
                           empty="no batch scored yet", wide=True),
        blocks.table_block("Metrics logged to MLflow", section_metric_table,
                           note=f"MLflow keys are {config.study}.<stage>.<metric>.")]}


def assemble_study_report(study_section: dict[str, Any], section_model_card: dict[str, Any],
                          section_features: dict[str, Any], section_tuning: dict[str, Any],
                          section_monitoring: dict[str, Any],
                          population_section: dict[str, Any] | None = None) -> dict[str, Any]:
    """The study's section followed by its model card, features, tuning trials and calibration
    table, synthetic batch and monitoring; population estimates ride along."""
    section = {**study_section, "groups": [*study_section["groups"], section_model_card,
                                           section_features, section_tuning,
                                           section_monitoring]}
    if population_section is not None:
        section["population"] = population_section
    return section
