"""The row contract shared by ingestion and batch inference: normalise a table's columns,
decode and type every value, attach each broken rule to its row, and split off the quarantine.

A shared module (not ingestion's node module) because two pipelines apply the same contract:
ingestion to raw tables, inference to new batches of the same study.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from health_risk.core.contract.config import IngestionConfig, normalise_name
from health_risk.core.contract.rules import decode_column, reason, reason_sql
from health_risk.core.contract.years import (
    absent_columns,
    part_columns,
    require_columns,
    unused_renames,
)
from health_risk.core.errors import DataQualityError
from health_risk.datasets.lineage import (
    LINEAGE_COLUMNS,
    MALFORMED_RECORD,
    SOURCE_FILE,
    SOURCE_ROW,
    SURVEY_YEAR,
    parts_of,
    source_label,
    without_parts,
)
from health_risk.spark.sql import sql_double, sql_name, sql_text

logger = logging.getLogger(__name__)

REASONS = "_quarantine_reasons"
RAW_RECORD = "_raw_record"
# A typed null reason, for a table without any rule (the array must still hold reasons).
NO_REASON = "CAST(NULL AS STRUCT<rule: STRING, column: STRING, value: STRING>)"


# Reader columns that pass through the contract untouched (lineage, malformed CSV records).
PASSED_THROUGH = (*LINEAGE_COLUMNS, MALFORMED_RECORD)


def _source_of(df: DataFrame) -> str:
    return source_label(df)


def normalise_columns(raw: DataFrame, params: dict[str, Any]) -> tuple[DataFrame, dict]:
    """Normalise headers, apply per-release renames, drop personal identifiers and
    undeclared columns, and fail naming file and column when a required column is missing.

    A source of yearly parts (``datasets.lineage.parts_of``: a folder of BRFSS years) is
    normalised part by part: each year's names and codes (``years.<year>``) onto the contract,
    and a column a year's file lacks is null in that year's rows and listed under the year.
    """
    config = IngestionConfig.model_validate(params)
    parts = parts_of(raw)
    if parts and SURVEY_YEAR in raw.columns:
        return _normalise_parts(raw, parts, config)
    renamed = {c: config.rename.get(normalise_name(c), normalise_name(c))
               for c in raw.columns if c not in PASSED_THROUGH}
    clashes = sorted({n for n in renamed.values() if list(renamed.values()).count(n) > 1})
    if clashes:
        raise DataQualityError(
            f"{_source_of(raw)}: several source columns normalise to {clashes} "
            "(rule: unique_column_names)."
        )
    df = raw.select(*[F.col(f"`{src}`").alias(dst) for src, dst in renamed.items()],
                    *[c for c in PASSED_THROUGH if c in raw.columns])
    present = set(renamed.values())
    keyed_by_row = config.row_number_key and config.row_number_key not in present
    if keyed_by_row:
        # No id in this copy of the source: the reader's row number is its stable key.
        df = df.withColumn(config.row_number_key, F.col(SOURCE_ROW).cast("string"))
        present.add(config.row_number_key)
    missing_required = [c for c in config.required_columns if c not in present]
    if missing_required:
        raise DataQualityError(
            f"{_source_of(raw)}: required column(s) {missing_required} missing "
            f"(rule: required_column, study '{config.study}'). Found: {sorted(present)}"
        )
    personal = sorted(present & set(config.personal_columns))
    undeclared = sorted(present - set(config.columns) - set(config.personal_columns))
    absent_optional = [c for c in config.columns if c not in present]
    # Optional columns a release lacks become typed nulls so every release has one schema.
    for name in absent_optional:
        df = df.withColumn(name, F.lit(None).cast("string"))
    df = df.select(*config.columns, *[c for c in PASSED_THROUGH if c in df.columns])
    audit = {
        "key_from_row_number": config.row_number_key if keyed_by_row else None,
        "dropped_personal_columns": personal,
        "dropped_undeclared_columns": undeclared,
        "absent_optional_columns": absent_optional,
    }
    if personal:
        logger.info("%s: dropped personal identifier columns %s", config.study, personal)
    return df, audit


def _recoded(value: str, recode: dict) -> str:
    """SQL: ``value`` with a year's codes replaced by the contract's (compared as numbers when
    both are numbers, as text otherwise: XPT numerics are doubles, character values text)."""
    def literal(code):
        return "NULL" if code is None else (sql_text(code) if isinstance(code, str)
                                            else sql_double(code))
    whens = []
    for code, target in recode.items():
        if isinstance(code, str):
            test = f"CAST({value} AS STRING) = {sql_text(code)}"
        else:
            test = f"try_cast({value} AS DOUBLE) = {sql_double(code)}"
        new = literal(target)
        whens.append(f"WHEN {test} THEN CAST({new} AS STRING)")
    return f"(CASE {' '.join(whens)} ELSE CAST({value} AS STRING) END)"


def _normalise_parts(raw: DataFrame, parts: list[dict], config: IngestionConfig
                     ) -> tuple[DataFrame, dict]:
    """``normalise_columns`` for a source of yearly parts: one projection over the union,
    each contract column taken, per year, from that year's variable (renamed, recoded)."""
    by_part = [(part, part_columns(part, config)) for part in parts]
    for part, columns in by_part:
        require_columns(part, columns, config)
    dtypes = dict(raw.dtypes)
    projection, years = [], {}
    for name in config.columns:
        branches, kinds = [], set()
        for part, columns in by_part:
            source = columns.get(name)
            if source is None and name == config.row_number_key:
                source = SOURCE_ROW  # no id in this copy: the reader's row number is its key
            if source is not None:
                branches.append((part["year"], source,
                                 config.recodes_for(part["year"]).get(name)))
                kinds.add("string" if dtypes[source] == "string" or branches[-1][2]
                          else dtypes[source])
        projection.append(f"{_part_expression(branches, kinds, len(by_part))} AS "
                          f"{sql_name(name)}")
    for part, columns in by_part:
        renamed = {s: n for n, s in columns.items() if normalise_name(s) != n}
        years[str(part["year"])] = {
            "file": part["file"],
            "rows": part["rows"],
            "renamed": renamed,
            "recoded": sorted(c for c in config.recodes_for(part["year"]) if c in columns),
            "renames_not_in_file": unused_renames(part, config),
            "absent_optional_columns": absent_columns(columns, config),
        }
    present_anywhere = {n for _, columns in by_part for n in columns}
    personal = sorted(present_anywhere & set(config.personal_columns))
    undeclared = sorted(present_anywhere - set(config.columns) - set(config.personal_columns))
    if personal:
        logger.info("%s: dropped personal identifier columns %s", config.study, personal)
    df = without_parts(raw.selectExpr(*projection,
                                      *[sql_name(c) for c in PASSED_THROUGH if c in raw.columns]))
    keyed_by_row = bool(config.row_number_key) and any(
        config.row_number_key not in columns for _, columns in by_part)
    audit = {
        "key_from_row_number": config.row_number_key if keyed_by_row else None,
        "dropped_personal_columns": personal,
        "dropped_undeclared_columns": undeclared,
        # Absent from every year's file; per year: `years.<year>.absent_optional_columns`.
        "absent_optional_columns": [c for c in config.columns if c not in present_anywhere],
        "years": years,
    }
    return df, audit


def _part_expression(branches: list[tuple[int, str, dict | None]], kinds: set[str],
                     n_parts: int) -> str:
    """SQL of one contract column over the union: the same variable in every part is read as
    it is; otherwise a CASE on the survey year picks each year's (recoded) variable, as text
    when the years' types differ (the contract decodes text)."""
    if not branches:
        return "CAST(NULL AS STRING)"
    as_text = len(kinds) > 1

    def value(source: str, recode: dict | None) -> str:
        column = sql_name(source)
        if recode:
            return _recoded(column, recode)
        return f"CAST({column} AS STRING)" if as_text else column
    sources = {source for _, source, _ in branches}
    if len(branches) == n_parts and len(sources) == 1 and not any(r for *_, r in branches):
        return sql_name(branches[0][1])
    whens = " ".join(f"WHEN {sql_name(SURVEY_YEAR)} = {int(year)} THEN {value(source, recode)}"
                     for year, source, recode in branches)
    return f"(CASE {whens} END)"


def flag_invalid_rows(normalised: DataFrame, params: dict[str, Any]) -> DataFrame:
    """Decode survey codes, cast types and attach the list of broken rules to each row."""
    config = IngestionConfig.model_validate(params)
    dtypes = dict(normalised.dtypes)
    decoded, reasons = [], []
    for name, rule in config.columns.items():  # SQL text: one JVM call for the whole table
        value, column_reasons = decode_column(name, dtypes[name] == "string", rule)
        decoded.append(f"{value} AS {sql_name(name)}")
        reasons.extend(column_reasons)
    raw_values = ", ".join(f"{sql_text(c)}, CAST({sql_name(c)} AS STRING)"
                           for c in config.columns)
    malformed = MALFORMED_RECORD in normalised.columns
    reason_array = f"array({', '.join(reasons) or NO_REASON})"
    if malformed:
        # The reader kept the raw line of a record whose fields differ from the header. Its
        # values are not the columns' (an unquoted comma in an address shifts every later
        # field), so the field count is its only reason: no value rule runs on it, and no
        # value of it (an address fragment) reaches the quarantine outside the raw line.
        field_count = reason_sql("TRUE", "field_count", "*",
                                 sql_text("number of fields differs from the header"))
        reason_array = (f"CASE WHEN {sql_name(MALFORMED_RECORD)} IS NOT NULL "
                        f"THEN array({field_count}) ELSE {reason_array} END")
    flagged = normalised.selectExpr(
        *decoded,
        *[sql_name(c) for c in LINEAGE_COLUMNS if c in normalised.columns],
        f"{reason_array} AS {sql_name(REASONS)}",
        f"named_struct({raw_values}) AS {sql_name(RAW_RECORD)}",
        *([sql_name(MALFORMED_RECORD)] if malformed else []),
    )
    order = F.col(SOURCE_ROW) if SOURCE_ROW in flagged.columns else F.monotonically_increasing_id()
    extra = []
    row_id = [c for c in (SOURCE_FILE, SOURCE_ROW) if c in flagged.columns]
    # A malformed record's values are not the columns': no key rule is reported on it (its
    # field count is). It is still ranked: filtering on the corrupt-record column alone is a
    # query Spark refuses on a raw CSV scan when the key is the reader's row number.
    well_formed = F.col(MALFORMED_RECORD).isNull() if malformed else F.lit(True)
    for number, key in enumerate(config.unique):
        value = F.concat_ws("|", *[F.col(c).cast("string") for c in key])
        if SOURCE_ROW in row_id:
            flagged, repeated = _flag_repeated_keys(flagged, key, row_id, f"_repeat_{number}")
        else:  # no reader row number to join back on: rank the whole rows (a full shuffle)
            seen = F.row_number().over(Window.partitionBy(*key).orderBy(order))
            repeated = _complete(key) & (seen > 1)
        extra.append(reason(repeated & well_formed, "unique", "+".join(key), value))
    if config.duplicate_rows == "quarantine":
        seen = F.row_number().over(Window.partitionBy(*config.columns).orderBy(order))
        extra.append(reason((seen > 1) & well_formed, "duplicate_row", "*",
                            F.lit("earlier identical row")))
    if extra:
        flagged = flagged.withColumn(REASONS, F.concat(F.col(REASONS), F.array(*extra)))
        flagged = flagged.drop(*[c for c in flagged.columns if c.startswith("_repeat_")])
    flagged = flagged.withColumn(REASONS, F.filter(F.col(REASONS), lambda r: r.isNotNull()))
    # The raw values are serialised only for rows that go to quarantine (JSON for every row
    # was a measurable share of the ingestion time on a full BRFSS year, see bench/).
    raw_record = F.when(F.size(REASONS) > 0, F.to_json(F.col(RAW_RECORD)))
    if malformed:  # the line exactly as read: its extra (or missing) fields stay visible
        raw_record = F.coalesce(F.col(MALFORMED_RECORD), raw_record)
        flagged = flagged.withColumn(RAW_RECORD, raw_record).drop(MALFORMED_RECORD)
    else:
        flagged = flagged.withColumn(RAW_RECORD, raw_record)
    return flagged.persist(StorageLevel.MEMORY_AND_DISK)


def _complete(key: list[str]):
    """Every part of ``key`` present: a key with a null part is not a key (not_null reports
    it)."""
    condition = F.lit(True)
    for column in key:
        condition = condition & F.col(column).isNotNull()
    return condition


def _flag_repeated_keys(flagged: DataFrame, key: list[str], row_id: list[str], marker: str):
    """(``flagged`` with a ``marker`` column, the condition "a later row with this key").

    Ranking rows within a key needs a shuffle. Over whole rows (every decoded column plus the
    raw-record struct: ~300 columns for BRFSS) it dominated ingestion at BRFSS-year scale, so
    the key is ranked on a narrow projection (key and reader row id; column pruning reads only
    those), and the few later occurrences are joined back by row id. Broadcast: they are the
    duplicates only, and a shuffle join would move the whole rows again.
    """
    first = Window.partitionBy(*key).orderBy(F.col(SOURCE_ROW), *[F.col(c) for c in row_id
                                                                   if c != SOURCE_ROW])
    keys = flagged.select(*row_id, *key).where(_complete(key))
    later = (keys.withColumn("_seen", F.row_number().over(first)).where(F.col("_seen") > 1)
             .select(*row_id, F.lit(True).alias(marker)))
    joined = flagged.join(F.broadcast(later), on=row_id, how="left")
    return joined.select(*flagged.columns, marker), F.col(marker).isNotNull()


def extract_quarantine(flagged: DataFrame, params: dict[str, Any]) -> DataFrame:
    """Rows that broke at least one rule, with every reason and the raw values as read."""
    study = IngestionConfig.model_validate(params).study
    lineage = [F.col(c) for c in LINEAGE_COLUMNS if c in flagged.columns]
    return flagged.filter(F.size(REASONS) > 0).select(
        F.lit(study).alias("study"),
        *lineage,
        F.col(REASONS).getItem(0).getField("rule").alias("first_rule"),
        F.col(REASONS).getItem(0).getField("column").alias("first_column"),
        F.col(REASONS).alias("reasons"),
        F.col(RAW_RECORD).alias("raw_record"),
    )
