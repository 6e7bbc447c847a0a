"""Checks before any node runs: parameter blocks and raw-file headers (before any dataset is
read) and the candidates' hyper-parameter values against their estimators' own validators
(once the Spark session exists)."""

from __future__ import annotations

import logging

from kedro.framework.hooks import hook_impl

from health_risk.core.modeling_config import ModelingConfig
from health_risk.datasets.lineage import get_spark
from health_risk.framework.config_loader import active_registry
from health_risk.framework.hooks.mlflow_runs import fail_mlflow_runs
from health_risk.framework.validation import (
    check_raw_sources,
    validate_parameters,
    validate_wiring,
)
from health_risk.pipelines.modeling.hyperparameters import check_hyperparameters
from health_risk.spark.mode import FITS_CANDIDATES, is_connect

logger = logging.getLogger(__name__)


class ParameterValidationHooks:
    """Fail before the run when a parameter block (conf or ``--params``) is invalid, when the
    registry and the parameter blocks disagree, when a study's raw source is not in the
    catalog, or when a raw file the run ingests lacks a required column (from its header)."""

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        params = catalog.load("parameters") if "parameters" in catalog else {}
        try:
            registry = active_registry()
            checked = validate_parameters(params, registry)
            validate_wiring(registry, catalog)
            sources = check_raw_sources(pipeline, catalog, params)
        except Exception:
            fail_mlflow_runs()
            raise
        logger.info("Validated parameter blocks: %s", ", ".join(checked) or "none")
        for study, parts in sources.items():
            for part in parts:
                logger.info("%s: %s (survey year %s) has every required column; optional "
                            "columns it lacks: %s", study, part["file"], part["year"],
                            part["absent_optional_columns"] or "none")
                if part["renames_not_in_file"]:
                    logger.warning("%s: %s (survey year %s) has no variable %s that "
                                   "ingestion.years.%s.rename maps", study, part["file"],
                                   part["year"], part["renames_not_in_file"], part["year"])


class HyperparameterValidationHooks:
    """After the Spark session exists and before any node runs: every hyper-parameter value
    of the modeling candidates about to train passes the estimator's own validators."""

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        studies = {node.namespace.split(".")[0] for node in pipeline.nodes
                   if node.namespace and FITS_CANDIDATES in node.tags}
        checked = 0
        try:
            jvm = not (studies and is_connect(get_spark()))
            for study in sorted(studies):
                params = catalog.load(f"params:{study}.modeling")
                checked += check_hyperparameters(ModelingConfig.model_validate(params), jvm)
        except Exception:
            fail_mlflow_runs()
            raise
        if studies:
            logger.info("Hyper-parameters accepted by their estimators: %d value sets (%s)",
                        checked, ", ".join(sorted(studies)))
