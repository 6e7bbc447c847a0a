"""Spark column expressions that decode a raw column and name every rule a value breaks."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from health_risk.pipelines.ingestion.config import ColumnRule

REASON_FIELDS = ("rule", "column", "value")
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


def decode_column(raw: Column, raw_is_text: bool, name: str,
                  rule: ColumnRule) -> tuple[Column, list[Column]]:
    """Return (decoded typed value, list of reason expressions) for one column."""
    reasons: list[Column] = []
    missing_numbers, missing_texts = _code_lists(rule.missing_codes)
    zero_numbers, _ = _code_lists(rule.zero_codes)

    if raw_is_text:
        text = F.trim(raw)
        text = F.when(text == "", F.lit(None)).otherwise(text)
        reasons.append(reason(text.contains(UNICODE_REPLACEMENT), "encoding", name, text))
    else:
        text = raw.cast("string")
    shown = text  # what a person sees in the quarantine table

    if rule.type == "string":
        all_missing = missing_texts + [_as_text(n) for n in missing_numbers]
        is_missing = text.isin(all_missing) if all_missing else F.lit(False)
        value = F.when(is_missing, F.lit(None)).otherwise(text)
        absent = value.isNull()
    else:
        number = raw.try_cast("double") if raw_is_text else raw.cast("double")
        text_missing = text.isin(missing_texts) if missing_texts else F.lit(False)
        num_missing = number.isin(missing_numbers) if missing_numbers else F.lit(False)
        is_missing = F.coalesce(text_missing, F.lit(False)) | F.coalesce(num_missing, F.lit(False))
        # Absent = blank or a don't-know/refused code; a value that fails its cast is a type
        # error, reported once as such rather than also as a missing value.
        absent = text.isNull() | is_missing
        reasons.append(reason(text.isNotNull() & ~is_missing & number.isNull(),
                              f"type:{rule.type}", name, shown))
        value = F.when(is_missing, F.lit(None))
        if zero_numbers:
            value = value.when(number.isin(zero_numbers), F.lit(0.0))
        value = value.otherwise(number)
        if rule.type == "int":
            reasons.append(reason(value.isNotNull() & (value != F.floor(value)),
                                  "type:int", name, shown))
        if rule.implied_decimals:
            value = value / F.lit(10.0 ** rule.implied_decimals)
        if rule.range is not None:
            low, high = rule.range
            reasons.append(reason(value.isNotNull() & ((value < low) | (value > high)),
                                  f"range:[{low:g},{high:g}]", name, shown))
        if rule.type == "int":
            # Non-integral values are quarantined above; try_cast keeps huge ones from failing.
            value = F.when(value == F.floor(value), value).try_cast("int")

    if rule.allowed is not None:
        allowed = ([str(a) for a in rule.allowed] if rule.type == "string"
                   else [float(a) for a in rule.allowed])
        reasons.append(reason(value.isNotNull() & ~value.isin(allowed), "allowed_values", name,
                              shown))
    if rule.pattern is not None:
        reasons.append(reason(value.isNotNull() & ~value.rlike(rule.pattern), "pattern", name,
                              shown))
    if not rule.nullable:
        reasons.append(reason(absent, "not_null", name, shown))
    return value, reasons

