"""Spark column expressions that decode a raw column and name every rule a value breaks."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from health_risk.core.contract.config import ColumnRule
from health_risk.spark.sql import sql_double, sql_name, sql_text

UNICODE_REPLACEMENT = "\ufffd"  # what a non-UTF-8 byte becomes when read as UTF-8


def reason(condition: Column, rule: str, column: str, value: Column) -> Column:
    """A ``struct(rule, column, value)`` when ``condition`` holds, else null."""
    return F.when(
        condition,
        F.struct(F.lit(rule).alias("rule"), F.lit(column).alias("column"),
                 value.cast("string").alias("value")),
    )


def _code_lists(codes) -> tuple[list[float], list[str]]:
    numbers = [float(c) for c in codes if not isinstance(c, str)]
    texts = [c for c in codes if isinstance(c, str)]
    return numbers, texts


def _as_text(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


INT_RANGE = (-2147483648.0, 2147483647.0)  # Spark's INT


def int_check(value: str) -> str:
    """SQL: the double ``value`` is a valid INT: within INT's range (NaN is not, Spark sorts it
    above every number; nor is an infinity) and whole. Nothing in it can fail a job: no
    ``floor()``, whose BIGINT result overflows under ANSI for a value beyond a long (``1e20``),
    and ``try_cast``, not ``CAST``, to INT (the range is tested first, but Spark does not
    promise to evaluate ``AND`` left to right). Null when ``value`` is null."""
    low, high = (sql_double(b) for b in INT_RANGE)
    return (f"({value} >= {low} AND {value} <= {high} AND "
            f"CAST(try_cast({value} AS INT) AS DOUBLE) = {value})")


# The decoding is written as Spark SQL text, not built from Column objects: each
# ``F.when``/``isin``/``&`` is a Py4J round trip, and a BRFSS year (300 columns, several rules
# each) took ~37k of them before a single row was read. As text, the whole table is one
# ``selectExpr`` call, parsed once in the JVM.
def _in(expression: str, items: list[str]) -> str:
    return f"({expression} IN ({', '.join(items)}))" if items else "false"


def reason_sql(condition: str, rule: str, column: str, shown: str) -> str:
    """SQL of ``reason``: a ``struct(rule, column, value)`` when ``condition`` holds."""
    return (f"CASE WHEN {condition} THEN named_struct('rule', {sql_text(rule)}, 'column', "
            f"{sql_text(column)}, 'value', CAST({shown} AS STRING)) END")


def decode_column(name: str, raw_is_text: bool, rule: ColumnRule) -> tuple[str, list[str]]:
    """(SQL of the decoded typed value, SQL of each reason) for the raw column ``name``."""
    raw = sql_name(name)
    reasons: list[str] = []
    missing_numbers, missing_texts = _code_lists(rule.missing_codes)
    zero_numbers, _ = _code_lists(rule.zero_codes)

    if raw_is_text:
        text = f"(CASE WHEN trim({raw}) = '' THEN NULL ELSE trim({raw}) END)"
        reasons.append(reason_sql(f"contains({text}, {sql_text(UNICODE_REPLACEMENT)})",
                                  "encoding", name, text))
    else:
        text = f"CAST({raw} AS STRING)"
    shown = text  # what a person sees in the quarantine table

    if rule.type == "string":
        all_missing = [sql_text(m) for m in missing_texts + [_as_text(n)
                                                             for n in missing_numbers]]
        value = f"(CASE WHEN {_in(text, all_missing)} THEN NULL ELSE {text} END)"
        absent = f"({value} IS NULL)"
    else:
        number = f"try_cast({raw} AS DOUBLE)" if raw_is_text else f"CAST({raw} AS DOUBLE)"
        text_missing = _in(text, [sql_text(m) for m in missing_texts])
        num_missing = _in(number, [sql_double(m) for m in missing_numbers])
        is_missing = f"(coalesce({text_missing}, false) OR coalesce({num_missing}, false))"
        # Absent = blank or a don't-know/refused code; a value that fails its cast is a type
        # error, reported once as such rather than also as a missing value.
        absent = f"({text} IS NULL OR {is_missing})"
        reasons.append(reason_sql(f"({text} IS NOT NULL AND NOT {is_missing} AND "
                                  f"{number} IS NULL)", f"type:{rule.type}", name, shown))
        zeros = (f" WHEN {_in(number, [sql_double(z) for z in zero_numbers])} THEN 0.0D"
                 if zero_numbers else "")
        value = f"(CASE WHEN {is_missing} THEN NULL{zeros} ELSE {number} END)"
        if rule.implied_decimals:  # a double's: ColumnRule refuses it on an int
            value = f"({value} / {sql_double(10.0 ** rule.implied_decimals)})"
        if rule.type == "int":
            # A present value that is not a valid INT (not whole, beyond INT, NaN, infinite)
            # is a type error: reported, never lost to a silent null nor failing the job.
            valid_int = int_check(value)
            reasons.append(reason_sql(f"({value} IS NOT NULL AND NOT {valid_int})",
                                      "type:int", name, shown))
        if rule.range is not None:
            low, high = rule.range
            reasons.append(reason_sql(
                f"({value} IS NOT NULL AND ({value} < {sql_double(low)} OR "
                f"{value} > {sql_double(high)}))", f"range:[{low:g},{high:g}]", name, shown))
        if rule.type == "int":
            # The range is checked on the double above; a value that is not a valid INT is
            # quarantined (type:int) and null here.
            value = f"(CASE WHEN {valid_int} THEN try_cast({value} AS INT) END)"

    if rule.allowed is not None:
        allowed = ([sql_text(str(a)) for a in rule.allowed] if rule.type == "string"
                   else [sql_double(a) for a in rule.allowed])
        reasons.append(reason_sql(f"({value} IS NOT NULL AND NOT {_in(value, allowed)})",
                                  "allowed_values", name, shown))
    if rule.pattern is not None:
        reasons.append(reason_sql(f"({value} IS NOT NULL AND NOT ({value} RLIKE "
                                  f"{sql_text(rule.pattern)}))", "pattern", name, shown))
    if not rule.nullable:
        reasons.append(reason_sql(absent, "not_null", name, shown))
    return value, reasons
