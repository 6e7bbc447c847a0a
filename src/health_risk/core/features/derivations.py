"""The derivation vocabulary: each configured step becomes Spark column expressions.

Steps are row-wise (no global statistic is computed here): imputation, encoding and scaling are
fitted on the training split inside modeling, so nothing learned from test rows leaks into the
features. Nulls stay null.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from health_risk.core.features.config import (
    BinStep,
    Code,
    CountEqualStep,
    DerivationError,
    IndicatorStep,
    JoinStep,
    LogStep,
    ProductStep,
    RecodeStep,
    ScaleStep,
    SeasonStep,
)

Columns = dict[str, Column]
Types = Mapping[str, T.DataType]


def column_types(df: DataFrame) -> Types:
    """Column name -> Spark type, read once: each ``df.schema`` is a round trip to the JVM."""
    return {field.name: field.dataType for field in df.schema.fields}


def _dtype(types: Types, column: str, where: str) -> T.DataType:
    if column not in types:
        raise DerivationError(f"{where}: column '{column}' is not in the table. "
                              f"Available: {sorted(types)}")
    return types[column]


def numeric_value(types: Types, column: str, where: str) -> Column:
    dtype = _dtype(types, column, where)
    if not isinstance(dtype, (T.NumericType, T.BooleanType)):
        raise DerivationError(f"{where}: column '{column}' is {dtype.simpleString()}, "
                              "a numeric column is needed (recode it first)")
    value = F.col(column).cast("double")
    # NaN is "no value" for every step, as null is.
    return F.when(~F.isnan(value), value)


def literal_for(types: Types, column: str, code: Code, where: str) -> Column:
    """``code`` as a literal of the column's kind, so comparisons never rely on implicit casts
    (which fail under ANSI mode, Spark 4's default)."""
    if isinstance(_dtype(types, column, where), T.StringType):
        return F.lit(str(code))
    if isinstance(code, str):
        try:
            code = float(code)
        except ValueError:
            raise DerivationError(f"{where}: code {code!r} is text but column '{column}' "
                                  "is numeric") from None
    return F.lit(code)


def _bin(types: Types, step: BinStep, where: str) -> Columns:
    out = {}
    for src, name in step.pairs:
        value = numeric_value(types, src, where)
        label = F.lit(step.labels[-1])
        for edge, text in reversed(list(zip(step.edges, step.labels))):
            label = F.when(value < F.lit(edge), F.lit(text)).otherwise(label)
        out[name] = F.when(value.isNotNull(), label).cast("string")
    return out


def _recode(types: Types, step: RecodeStep, where: str) -> Columns:
    out = {}
    for src, name in step.pairs:
        column = F.col(src)
        fallback = (column.cast("string") if step.keep_unmapped
                    else F.lit(step.default).cast("string"))
        label = F.when(column.isNull(), F.lit(None).cast("string"))
        for code, text in step.mapping.items():
            label = label.when(column == literal_for(types, src, code, where), F.lit(text))
        out[name] = label.otherwise(fallback)
    return out


def _indicator(types: Types, step: IndicatorStep, where: str) -> Columns:
    out = {}
    for src, name in step.pairs:
        column = F.col(src)
        hit = column.isin(*[literal_for(types, src, v, where) for v in step.values])
        out[name] = F.when(column.isNotNull(), F.when(hit, 1.0).otherwise(0.0)).cast("double")
    return out


def _log(types: Types, step: LogStep, where: str) -> Columns:
    out = {}
    for src, name in step.pairs:
        shifted = numeric_value(types, src, where) + F.lit(step.offset)
        out[name] = F.when(shifted > 0, F.log(shifted)).cast("double")
    return out


def _scale(types: Types, step: ScaleStep, where: str) -> Columns:
    return {name: (numeric_value(types, src, where) * F.lit(step.factor)
                   + F.lit(step.offset)).cast("double")
            for src, name in step.pairs}


def _count_equal(types: Types, step: CountEqualStep, where: str) -> Columns:
    hits, missing = [], []
    for src in step.inputs:
        column = F.col(src)
        hit = column.isin(*[literal_for(types, src, v, where) for v in step.values])
        hits.append(F.when(hit, 1.0).otherwise(0.0))  # isin on null is null -> 0
        missing.append(F.when(column.isNull(), 1.0).otherwise(0.0))
    count, n_missing = sum(hits[1:], hits[0]), sum(missing[1:], missing[0])
    if step.null_when_all_missing:
        count = F.when(n_missing < F.lit(float(len(step.inputs))), count)
    out = {step.output: count.cast("double")}
    if step.missing_output:
        out[step.missing_output] = n_missing.cast("double")
    return out


def _product(types: Types, step: ProductStep, where: str) -> Columns:
    values = [numeric_value(types, c, where) for c in step.inputs]
    product = values[0]
    for value in values[1:]:
        product = product * value  # null if any factor is null
    return {step.output: product.cast("double")}


def _season(types: Types, step: SeasonStep, where: str) -> Columns:
    month = numeric_value(types, step.input, where)
    valid = month.isin(*range(1, 13))
    angle = month * F.lit(2.0 * math.pi / 12.0)
    out = {step.sin_output: F.when(valid, F.sin(angle)).cast("double"),
           step.cos_output: F.when(valid, F.cos(angle)).cast("double")}
    if step.season_output:
        label = F.lit(None).cast("string")
        for name, months in step.seasons.items():
            label = F.when(month.isin(*months), F.lit(name)).otherwise(label)
        out[step.season_output] = label
    return out


def _join(df: DataFrame, step: JoinStep, where: str, lookups: Mapping[str, DataFrame]
          ) -> DataFrame:
    if step.table not in lookups:
        raise step.missing_table(where, lookups)
    lookup = lookups[step.table]
    left_type = _dtype(column_types(df), step.left_on, where)
    lookup_types = column_types(lookup)
    for column in [step.right_on, *step.columns]:
        _dtype(lookup_types, column, f"{where} (table '{step.table}')")
    # A repeated key would multiply respondents; the lookup is small, so checking is cheap.
    repeated = (lookup.groupBy(step.right_on).count().filter("count > 1")
                .limit(5).collect())
    if repeated:
        raise DerivationError(f"{where}: table '{step.table}' repeats key '{step.right_on}' "
                              f"{[r[0] for r in repeated]}; a join would duplicate rows")
    key = "__join_key"
    right = lookup.select(
        F.col(step.right_on).cast(left_type).alias(key),
        *[F.col(src).alias(out) for src, out in step.columns.items()],
        F.lit(True).alias(step.flag),
    )
    joined = df.drop(*[c for c in right.columns if c != key and c in df.columns]).join(
        F.broadcast(right), F.col(step.left_on) == F.col(key), "left").drop(key)
    return joined.withColumn(step.flag, F.coalesce(F.col(step.flag), F.lit(False)))


# Row-wise steps return their new columns rather than a DataFrame, so that independent steps
# are added in one projection: every withColumn(s) re-analyses the whole plan, which costs
# seconds on a wide survey table.
COLUMN_STEPS: dict[str, Callable[[Types, object, str], Columns]] = {
    "bin": _bin, "recode": _recode, "indicator": _indicator, "log": _log, "scale": _scale,
    "count_equal": _count_equal, "product": _product, "season": _season,
}


def apply_steps(df: DataFrame, steps: list, where: str,
                lookups: Mapping[str, DataFrame] | None = None) -> DataFrame:
    """Apply the configured steps in order; ``where`` prefixes every error message.

    Consecutive steps that do not read each other's outputs share one projection (same result
    as one by one: each expression reads the columns as they were before the batch).
    """
    pending: Columns = {}
    types = column_types(df)
    for i, step in enumerate(steps):
        label = f"{where}[{i}] ({step.step})"
        reads = {c for inputs in step.lineage().values() for c in inputs}
        if pending and (isinstance(step, JoinStep) or reads & pending.keys()):
            df, pending = df.withColumns(pending), {}
            types = column_types(df)
        if isinstance(step, JoinStep):
            df = _join(df, step, label, lookups or {})
            types = column_types(df)
        else:
            pending.update(COLUMN_STEPS[step.step](types, step, label))
    return df.withColumns(pending) if pending else df
