"""A yearly part of a source (one BRFSS year's file) seen through the contract: which contract
column each of its variables becomes, and whether it has every required one.

No Spark here: the same check runs on a file's header before the run starts
(``framework.validation.check_raw_sources``: seconds) and on the staged data at ingestion
(``contract.rows.normalise_columns``).
"""

from __future__ import annotations

from typing import Any

from health_risk.core.contract.config import IngestionConfig, normalise_name
from health_risk.core.errors import DataQualityError


def part_columns(part: dict[str, Any], config: IngestionConfig) -> dict[str, str]:
    """Contract (or normalised) name -> the part's own variable name, after every year's and
    the part's year's renames; fails naming the file when two variables land on one name."""
    renames = config.renames_for(part.get("year"))
    named: dict[str, list[str]] = {}
    for source in part["columns"]:
        normalised = normalise_name(source)
        named.setdefault(renames.get(normalised, normalised), []).append(source)
    clashes = sorted(name for name, sources in named.items() if len(sources) > 1)
    if clashes:
        raise DataQualityError(
            f"{part['file']} (survey year {part.get('year')}): several source columns "
            f"normalise to {clashes} (rule: unique_column_names).")
    return {name: sources[0] for name, sources in named.items()}


def absent_columns(columns: dict[str, str], config: IngestionConfig) -> list[str]:
    """The contract's columns a part does not have (``part_columns``), in contract order; the
    row-number key is never absent (the reader's row number stands in)."""
    return [c for c in config.columns if c not in columns and c != config.row_number_key]


def require_columns(part: dict[str, Any], columns: dict[str, str],
                    config: IngestionConfig) -> None:
    """Fail, naming the file, its year and the columns, when the part lacks a required one."""
    present = set(columns) | ({config.row_number_key} if config.row_number_key else set())
    missing = [c for c in config.required_columns if c not in present]
    if missing:
        year = part.get("year")
        where = (f"{config.study}.ingestion.years.{year}.rename" if year is not None
                 else f"{config.study}.ingestion.rename")
        raise DataQualityError(
            f"{part['file']} (survey year {year}): required column(s) {missing} missing "
            f"(rule: required_column, study '{config.study}'). If that year names them "
            f"differently, map its names in {where}. Found: {sorted(columns)}")


def unused_renames(part: dict[str, Any], config: IngestionConfig) -> list[str]:
    """The part's year's own renames whose source variable the file does not have (a map
    written for another release, or a typo): reported, as the map cannot be verified."""
    year = part.get("year")
    rules = config.years.get(year) if year is not None else None
    if not rules:
        return []
    names = {normalise_name(c) for c in part["columns"]}
    return sorted(source for source in rules.rename if source not in names)
