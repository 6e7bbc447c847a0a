"""Spark SQL text for expressions built in bulk.

Building a large projection or aggregation one ``Column`` call at a time costs a Py4J round trip
per call: thousands for a BRFSS table's rules or a profile's CDF points. The same expressions as
SQL text go to the JVM in one ``selectExpr`` call. These helpers quote names and literals.
"""

from __future__ import annotations


def sql_name(name: str) -> str:
    """A column name quoted for Spark SQL."""
    return "`" + name.replace("`", "``") + "`"


def sql_text(value: str) -> str:
    """A string literal (Spark SQL processes backslash escapes in literals)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sql_double(value: float) -> str:
    """A double literal (``D``: not a decimal, so comparisons stay in double)."""
    return f"{float(value)!r}D"
