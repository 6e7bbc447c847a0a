"""The MLflow model of a registered version: the Spark flavour (batch inference) and, beside
it in the same folder, a Spark-free ``python_function`` flavour (serving).

``save_model`` is the flavour module ``mlflow.models.Model.log`` calls (from the one place that
registers models, ``pipelines/modeling/promotion.py``): it saves the Spark flavour, writes the
portable scorer into ``portable/`` and points ``python_function`` at ``_load_pyfunc`` below
instead of ``mlflow.spark`` (which starts a SparkSession per server worker). A version whose
model has no portable form keeps no ``python_function`` flavour at all, so ``mlflow models
serve`` refuses it rather than quietly starting Spark.

The served model answers a request of N raw records with N results (score, risk tier, model
version, top reasons); when some records break the contract, with HTTP 400 and a JSON body
naming each bad record, field and rule, beside the results of the valid records.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE

from health_risk.core.serving.bundle import PortableModel
from health_risk.core.serving.scorer import PortableScorer

logger = logging.getLogger(__name__)

PORTABLE_FOLDER = "portable"
# Set by `make serve` (health_risk.framework.serve) to the version it resolved the alias to:
# the answer says which version scored it.
VERSION_ENV = "HEALTH_RISK_MODEL_VERSION"


def save_model(spark_model, path: str, portable: PortableModel | None,
               mlflow_model=None, pip_requirements: list[str] | None = None,
               batch_only_reason: str | None = None, **kwargs) -> None:
    """Save both flavours into ``path`` (``Model.log`` passes a fresh folder)."""
    import mlflow.spark
    from mlflow import pyfunc
    from mlflow.models import Model

    mlflow_model = mlflow_model or Model()
    mlflow.spark.save_model(spark_model, path, mlflow_model=mlflow_model,
                            pip_requirements=pip_requirements, **kwargs)
    mlflow_model.flavors.pop(pyfunc.FLAVOR_NAME, None)
    if portable is not None:
        portable.save(Path(path) / PORTABLE_FOLDER)
        pyfunc.add_to_model(mlflow_model, loader_module=__name__, data=PORTABLE_FOLDER,
                            conda_env="conda.yaml", python_env="python_env.yaml")
    else:
        mlflow_model.metadata = {**(mlflow_model.metadata or {}),
                                 "batch_only": batch_only_reason or "no portable form"}
    mlflow_model.save(os.path.join(path, "MLmodel"))


class InvalidRecords(MlflowException):
    """HTTP 400 naming every bad record, field and rule, with the valid records' results.

    MLflow's server rewrites an exception's message to ``Failed to predict data '<the whole
    request>'``: people's records would be echoed into the answer and the server log. The
    message here stays the one written below.
    """

    @property
    def message(self) -> str:
        return self._clean

    @message.setter
    def message(self, value: str) -> None:
        if getattr(self, "_clean", None) is None:
            self._clean = str(value)


class ServedModel:
    """What ``mlflow.pyfunc.load_model`` returns for the portable flavour."""

    def __init__(self, scorer: PortableScorer) -> None:
        self.scorer = scorer

    def predict(self, model_input: Any, params: dict[str, Any] | None = None
                ) -> list[dict[str, Any]]:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(
            model_input)
        try:
            request = self.scorer.score(frame)
        except Exception as exc:
            # A defect of the scorer, not of the request: a 500 that says so, no traceback.
            logger.exception("scoring failed")
            raise InvalidRecords(f"the {self.scorer.study} scorer failed "
                                 f"({type(exc).__name__}); the server log has the details",
                                 error_code=INTERNAL_ERROR) from None
        if request.violations:
            bad = sorted({v.record for v in request.violations})
            first = request.violations[0]
            raise InvalidRecords(
                f"{len(bad)} of {len(frame)} record(s) break the {self.scorer.study} contract "
                f"and are not scored (first: record {first.record}, field '{first.field}', "
                f"rule '{first.rule}'); the valid records are scored under 'predictions'",
                error_code=INVALID_PARAMETER_VALUE,
                errors=[v.as_dict() for v in request.violations],
                predictions=request.results)
        return request.results


def _load_pyfunc(data_path: str, model_config: dict | None = None) -> ServedModel:
    scorer = PortableScorer(PortableModel.load(data_path), os.environ.get(VERSION_ENV))
    return ServedModel(scorer)
