"""The served flavour answers per record: scores for valid records, and for each record that
breaks the contract an HTTP 400 error naming the record, the field and the rule (never a score,
never a traceback). A toy study: a contract, a derivation, a fitted model, exported as the
registration exports it."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from mlflow.protos.databricks_pb2 import ErrorCode

from health_risk.core.estimators import fit_configuration
from health_risk.core.serving.flavour import InvalidRecords, ServedModel
from health_risk.core.serving.scorer import PortableScorer
from health_risk.pipelines.modeling.portable import export_portable_scorer

CONTRACT = {
    "study": "toy",
    "columns": {
        "age": {"type": "double", "required": True, "range": [18, 100]},
        "bmi": {"type": "double", "range": [10, 80]},
        "smoking": {"type": "string", "allowed": ["current", "former", "never"],
                    "missing_codes": ["unknown"]},
        "region": {"type": "string", "required": True, "nullable": False},
        "children": {"type": "int", "range": [0, 10]},
        "outcome": {"type": "double", "required": True},  # the target: never asked of a request
    },
}
FEATURES = {
    "study": "toy", "task": "classification", "id_column": "region",
    "target": {"column": "outcome"}, "leakage_columns": [],
    "derivations": [{"step": "log", "input": "children", "output": "log_children",
                     "offset": 1.0}],
    "numeric_features": ["age", "bmi", "log_children"],
    "categorical_features": ["smoking", "region"],
}
SPEC = {"task": "classification", "numeric_features": ["age", "bmi", "log_children"],
        "categorical_features": ["smoking", "region"]}
VALID = {"age": 54, "bmi": 31.5, "smoking": "current", "region": "south", "children": 2}


@pytest.fixture(scope="module")
def served(spark, classification_features):
    from pyspark.sql import functions as F

    table = classification_features.withColumn("children", (F.col("age") % 4).cast("int")) \
        .withColumn("log_children", F.log(F.col("children") + 1.0)).withColumn(
            "class_weight", F.lit(1.0))
    model = fit_configuration(table, "linear", "classification", {"regParam": 0.01},
                              SPEC["numeric_features"], SPEC["categorical_features"], False)
    portable = export_portable_scorer(
        model, table, SPEC, {}, CONTRACT, FEATURES,
        {"risk_tiers": {"cut": "score", "edges": [0.3, 0.6], "labels": ["low", "mid", "high"]}})
    return ServedModel(PortableScorer(portable, version="7"))


def _refused(served: ServedModel, records: list[dict]) -> InvalidRecords:
    with pytest.raises(InvalidRecords) as caught:
        served.predict(pd.DataFrame(records))
    return caught.value


def test_a_valid_request_gets_score_tier_version_and_three_signed_reasons(served):
    [result] = served.predict(pd.DataFrame([VALID]))
    assert 0.0 < result["score"] < 1.0
    assert result["risk_tier"] in ("low", "mid", "high")
    assert result["model_version"] == "7"
    assert len(result["reasons"]) == 3
    assert {r["feature"] for r in result["reasons"]} <= {*SPEC["numeric_features"],
                                                          *SPEC["categorical_features"]}
    sizes = [abs(r["contribution"]) for r in result["reasons"]]
    assert sizes == sorted(sizes, reverse=True)
    assert "log-odds" in result["reasons_method"]


@pytest.mark.parametrize(("change", "field", "rule"), [
    ({"age": "sixty"}, "age", "type:double"),
    ({"age": 130}, "age", "range:[18,100]"),
    ({"smoking": "vaping"}, "smoking", "allowed_values"),
    ({"children": 2.5}, "children", "type:int"),
    ({"region": None}, "region", "not_null"),
])
def test_a_bad_record_is_named_and_the_others_are_scored(served, change, field, rule):
    records = [VALID, {**VALID, **change}, VALID]
    error = _refused(served, records)
    assert error.get_http_status_code() == 400
    assert error.error_code == ErrorCode.Name(ErrorCode.INVALID_PARAMETER_VALUE)
    body = error.json_kwargs
    assert [(e["record"], e["field"], e["rule"]) for e in body["errors"]] == [(1, field, rule)]
    assert [p["record"] for p in body["predictions"]] == [0, 2]
    assert f"record 1, field '{field}', rule '{rule}'" in error.message
    assert "Traceback" not in error.serialize_as_json()


def test_a_missing_required_field_is_named_for_every_record(served):
    records = [{k: v for k, v in VALID.items() if k != "region"}] * 2
    body = _refused(served, records).json_kwargs
    named = {(e["record"], e["field"], e["rule"]) for e in body["errors"]}
    # A non-nullable field that is absent also breaks not_null, as a null would.
    assert named == {(r, "region", rule) for r in (0, 1) for rule in ("required", "not_null")}
    assert body["predictions"] == []


def test_the_target_and_unknown_fields_are_not_asked_of_a_request(served):
    [result] = served.predict(pd.DataFrame([{**VALID, "outcome": "whatever", "note": "x"}]))
    assert math.isfinite(result["score"])


def test_servers_rewrite_of_the_message_keeps_records_out_of_it(served):
    error = _refused(served, [{**VALID, "age": 130}])
    error.message = f"Failed to predict data '{VALID}'"  # what MLflow's server does
    assert "south" not in error.serialize_as_json()


def test_a_batch_only_version_keeps_spark_and_no_python_function(spark, classification_features,
                                                                  tmp_path):
    """A model with no portable form is registered for batch only: `mlflow models serve` then
    refuses it, instead of starting Spark behind the user's back."""
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model
    from pyspark.sql import functions as F

    from health_risk.core.serving.flavour import save_model
    from health_risk.pipelines.modeling.promotion import PIP_REQUIREMENTS

    table = classification_features.withColumn("class_weight", F.lit(1.0))
    model = fit_configuration(table, "linear", "classification", {"maxIter": 5},
                              ["age"], ["smoking"], False)
    # The requirements the registry writer states (without them MLflow infers them by loading
    # the model in a Python process of its own, with a JVM of its own: 25 s).
    save_model(model, str(tmp_path / "model"), None, pip_requirements=PIP_REQUIREMENTS,
               batch_only_reason="no portable form (test)")
    saved = Model.load(str(tmp_path / "model"))
    assert set(saved.flavors) == {"spark"}
    assert saved.metadata["batch_only"] == "no portable form (test)"
    with pytest.raises(MlflowException, match="python_function"):
        mlflow.pyfunc.load_model(str(tmp_path / "model"))
