"""Model registration, the quality gate and retention: the one place that writes to the MLflow
model registry (versions, their tags and aliases; aliases, never the deprecated stages)."""

from __future__ import annotations

import logging
import math
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from health_risk.core.modeling_config import ModelingConfig, higher_is_better
from health_risk.core.serving.bundle import PortableModel
from health_risk.datasets.mlflow_models import PROFILE_TAG

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
PIP_REQUIREMENTS = ["pyspark==4.3.0", "xgboost-cpu==3.2.0", "mlflow==3.17.2",
                    "onnxruntime==1.32.0"]


def log_and_register(model, portable: PortableModel | None, config: ModelingConfig,
                     tags: dict[str, str], reference_profile: dict | None = None,
                     batch_only_reason: str | None = None) -> dict:
    """Log the fitted PipelineModel with its portable scorer (``core.serving.flavour``: the
    Spark flavour plus a Spark-free ``python_function`` flavour) and register a new version.

    No signature: the served flavour takes raw records and names each broken rule itself, per
    record; MLflow's schema enforcement would refuse a whole request for one bad field.
    The reference profile is logged to the same run and named by the version tag
    ``reference_profile``, so whoever loads a version finds the profile of its training data.
    """
    from mlflow.models import Model

    from health_risk.core.serving import flavour

    if mlflow.active_run() is None:
        raise RuntimeError("Model registration needs an active MLflow run (kedro-mlflow opens "
                           "one per kedro run and health_risk.framework.study_runs one per study under it; "
                           "check conf/*/mlflow.yml).")
    # Explicit requirements: inferring them re-loads the model in a subprocess (slow).
    info = Model.log(artifact_path="model", flavor=flavour,
                     registered_model_name=config.registered_model_name, spark_model=model,
                     portable=portable, batch_only_reason=batch_only_reason,
                     pip_requirements=PIP_REQUIREMENTS)
    client = MlflowClient()
    version = str(info.registered_model_version)
    if reference_profile is not None:
        artifact = f"model_registry/{PROFILE_TAG}.json"
        mlflow.log_dict(reference_profile, artifact)
        tags = {**tags, PROFILE_TAG: artifact}
    for key, value in tags.items():
        client.set_model_version_tag(config.registered_model_name, version, key, str(value))
    return {"model_name": config.registered_model_name, "version": version,
            "model_uri": info.model_uri, "run_id": mlflow.active_run().info.run_id}


def _champion(client: MlflowClient, name: str):
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def decide_promotion(config: ModelingConfig, registration: dict, validation: dict[str, float],
                     client: MlflowClient | None = None) -> dict[str, Any]:
    """Give the new version ``champion`` only if it passes every threshold and beats the current
    champion on the validation metric; otherwise ``challenger``. Returns the decision."""
    client = client or MlflowClient()
    name, version, metric = registration["model_name"], str(registration["version"]), config.metric
    reasons: list[str] = []
    for key, limit in config.quality_gate.thresholds.items():
        value = validation.get(key, float("nan"))
        ok = value >= limit if higher_is_better(key) else value <= limit
        if math.isnan(value) or not ok:
            sign = ">=" if higher_is_better(key) else "<="
            reasons.append(f"validation {key} {value:.4f} fails threshold {sign} {limit}")
    new_value = validation.get(metric, float("nan"))
    current = _champion(client, name)
    champion_value = None
    current_version = str(current.version) if current is not None else None
    if current is not None and current_version != version:
        champion_value = float(current.tags.get(f"validation_{metric}", "nan"))
        margin = config.quality_gate.min_improvement
        beats = (new_value > champion_value + margin if higher_is_better(metric)
                 else new_value < champion_value - margin)
        if not beats:
            reasons.append(f"validation {metric} {new_value:.4f} does not beat champion "
                           f"v{current_version} ({champion_value:.4f}, margin {margin})")
    promoted = not reasons
    alias = CHAMPION if promoted else CHALLENGER
    client.set_registered_model_alias(name, alias, version)
    decision = {
        "study": config.study, "model_name": name, "version": version, "alias": alias,
        "promoted": promoted,
        # Which version is champion after this gate: the new one, the one kept, or none.
        "champion_version": version if promoted else current_version,
        "metric": metric, "validation_value": new_value,
        "previous_champion_version": current_version,
        "previous_champion_value": champion_value,
        "reasons": reasons or ["passes every threshold and beats the current champion"
                               if current is not None else
                               "passes every threshold; first champion"],
    }
    client.set_model_version_tag(name, version, "gate_decision", alias)
    client.set_model_version_tag(name, version, "gate_reasons", "; ".join(decision["reasons"]))
    logger.info("%s v%s -> %s: %s", name, version, alias, "; ".join(decision["reasons"]))
    return decision


def prune_versions(name: str, keep_last: int | None, client: MlflowClient | None = None
                   ) -> list[str]:
    """Delete the versions of ``name`` that hold no alias and are not among the newest
    ``keep_last``; return them, oldest first. The champion always stays, however old: inference
    loads it by alias. Deleting a version removes it from the model registry only; its run keeps
    its metrics and the logged model."""
    if keep_last is None:
        return []
    client = client or MlflowClient()
    # The registered model's aliases, not each version's: search results leave those empty.
    aliased = {str(v) for v in client.get_registered_model(name).aliases.values()}
    versions = sorted((int(v.version) for v in client.search_model_versions(f"name = '{name}'")),
                      reverse=True)
    pruned = [str(v) for v in reversed(versions[keep_last:]) if str(v) not in aliased]
    for version in pruned:
        client.delete_model_version(name, version)
    if pruned:
        logger.info("%s: pruned version(s) %s (retention: the newest %d and every alias)", name,
                    ", ".join(pruned), keep_last)
    return pruned
