"""pandera (``pandera.pyspark``) schemas built from the same column rules as the quarantine.

The row-level rules already routed bad rows to quarantine; this is the contract check on the
table about to be published (column set, Spark types, nullability, ranges and allowed values).
It catches a decoding bug or a config/contract mismatch instead of writing a wrong table.
"""

from __future__ import annotations

import json

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from health_risk.core.contract.config import ColumnRule, IngestionConfig
from health_risk.core.errors import HealthRiskError
from health_risk.core.lazy_import import LAZY_IMPORT_LOCK

SPARK_TYPES = {"int": T.IntegerType(), "double": T.DoubleType(), "string": T.StringType()}


class SchemaValidationError(HealthRiskError):
    """The validated table does not satisfy its pandera schema."""


def _checks(rule: ColumnRule):
    with LAZY_IMPORT_LOCK:
        from pandera.pyspark import Check

    checks = []
    if rule.range is not None:
        checks.append(Check.in_range(*rule.range))
    if rule.allowed is not None:
        cast = str if rule.type == "string" else (int if rule.type == "int" else float)
        checks.append(Check.isin([cast(a) for a in rule.allowed]))
    if rule.pattern is not None:
        checks.append(Check.str_matches(rule.pattern))
    return checks


def build_schema(config: IngestionConfig):
    """The table's pandera schema. Under ``SCHEMA_ONLY`` it holds the columns and their types
    only: pandera counts the nulls of every non-nullable column even then (its ``nullable``
    check has the schema's scope, one Spark job a column: 17 s of a decade of BRFSS), and the
    row contract has already quarantined every such null (``not_null``)."""
    with LAZY_IMPORT_LOCK:
        from pandera.pyspark import Column, DataFrameSchema

    data_checks = config.pandera_depth != "SCHEMA_ONLY"
    return DataFrameSchema(
        {name: Column(SPARK_TYPES[rule.type], checks=_checks(rule),
                      nullable=rule.nullable or not data_checks)
         for name, rule in config.columns.items()},
        name=f"{config.study}_validated",
    )


def validate_with_pandera(df: DataFrame, config: IngestionConfig, label: str) -> None:
    """Raise ``SchemaValidationError`` listing every schema/data error pandera found."""
    with LAZY_IMPORT_LOCK:
        from pandera.config import config_context

    with config_context(validation_depth=config.pandera_depth):
        validated = build_schema(config).validate(df)
    errors = dict(validated.pandera.errors)
    if errors:
        raise SchemaValidationError(
            f"{label}: validated table breaks its pandera schema:\n"
            + json.dumps(errors, indent=2, default=str)
        )
