"""The row contract on a few records in memory, for the model-serving scorer (no Spark, no JVM).

Batch ingestion applies a study's ``IngestionConfig`` in Spark (``rules.decode_column``,
``rows.normalise_columns`` / ``rows.flag_invalid_rows``); a served request must meet the same
contract with the same results, but cannot start a JVM. This module reads the same
configuration objects and reproduces Spark's semantics on pandas / numpy, including the parts
that are Spark's rather than the rule's: ``trim`` strips spaces only, a double is parsed the
way ``try_cast(... AS DOUBLE)`` parses it (Java's grammar plus ``inf``/``nan``), a number is
shown as ``CAST(... AS STRING)`` shows it (``5.0``, ``1.0E7``), NaN sorts above every number.

A cell's path follows its JSON type, as a Spark column's follows its type: a JSON string takes
the text path (trimmed, blank = null, checked for encoding damage), a JSON number the number
path (``raw_is_text`` False). The parity tests (``tests/core/contract/test_records.py``) hold
both engines equal on every rule kind.

Numeric rules are decoded for all columns at once on 2-D arrays (one numpy operation per rule
step, whatever the number of columns): a request is usually one record, where a few dozen numpy
calls per column would cost more than the whole budget.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from decimal import Decimal
from functools import lru_cache

import numpy as np
import pandas as pd

from health_risk.core.contract.config import ColumnRule, IngestionConfig, normalise_name
from health_risk.core.errors import DataQualityError

UNICODE_REPLACEMENT = "\ufffd"  # what a non-UTF-8 byte becomes when read as UTF-8
# Reader columns a Spark source carries (``datasets.lineage``): never record fields. Named here
# because importing ``health_risk.datasets`` imports pyspark; a test holds them equal.
PASSED_THROUGH = ("_source_file", "_source_row", "_survey_year", "_malformed_record")
# The order Spark lists a column's reasons in (``decode_column``); "required" is this engine's.
RANK = {"required": 0, "encoding": 1, "type": 2, "type:int": 3, "range": 4,
        "allowed_values": 5, "pattern": 6, "not_null": 7}
# Up to this many records, cells are read from one object array (one pandas call) rather than
# column by column (a pandas call each): a served request is usually one record.
SMALL_REQUEST = 8  # measured: the two readers cost the same at ~10 BRFSS records
INT32 = (-(2.0 ** 31), 2.0 ** 31 - 1)  # Spark's INT (``rules.INT_RANGE``)


@dataclass(frozen=True)
class RecordViolation:
    """One broken rule of one record, named as the Spark quarantine names it."""

    record: int  # 0-based position of the record in the request
    field: str  # the column name (normalised), or "*"
    rule: str  # "type:int", "range:[18,99]", "allowed_values", ..., or "required"
    value: str | None  # the raw value as text, as the Spark quarantine shows it

    def as_dict(self) -> dict:
        return asdict(self)


# -- Spark's text and number conversions -----------------------------------------------------
def java_double_text(number: float) -> str:
    """``CAST(double AS STRING)``: Java's ``Double.toString`` layout (``5.0``, ``1.0E7``,
    ``1.0E-4``), with Python's shortest digits (JDK 19+ prints the same; JDK 17 prints a
    longer form for a few doubles, such as ``2.82879384806159008E17``)."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "-0.0" if math.copysign(1.0, number) < 0 else "0.0"
    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + exponent  # decimal point position within the digits
    lead = "-" if sign else ""
    if 1e-3 <= abs(number) < 1e7:
        if point <= 0:
            return f"{lead}0.{'0' * -point}{text}"
        if point >= len(text):
            return f"{lead}{text}{'0' * (point - len(text))}.0"
        return f"{lead}{text[:point]}.{text[point:]}"
    return f"{lead}{text[0]}.{text[1:] or '0'}E{point - 1}"


def spark_text(value) -> str:
    """A JSON number or boolean as Spark casts it to string: an integer as a ``bigint``
    (``3``), a float as a ``double`` (``3.0``), a boolean as ``true``/``false``."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return java_double_text(float(value))
    return str(value)


def code_text(number: float) -> str:
    """A numeric code as a string column compares it (``rules._as_text``): 9 -> "9"."""
    return str(int(number)) if float(number).is_integer() else str(number)


JAVA_TRIMMED = "".join(chr(c) for c in range(33))  # String.trim(): every char <= U+0020
_JAVA_DOUBLE = re.compile(
    r"[+-]?(?:NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?"
    r"|0[xX](?:[0-9a-fA-F]+\.?|[0-9a-fA-F]*\.[0-9a-fA-F]+)[pP][+-]?[0-9]+[fFdD]?)")
_SPARK_SPECIAL = {"inf": math.inf, "+inf": math.inf, "infinity": math.inf,
                  "+infinity": math.inf, "-inf": -math.inf, "-infinity": -math.inf,
                  "nan": math.nan}


@lru_cache(maxsize=65536)
def parse_double(text: str) -> float | None:
    """``try_cast(text AS DOUBLE)``: Java's ``Double.parseDouble`` grammar after Java's trim
    (``5d``, ``0x1p3``, ``+.5e-3`` are numbers; ``1_000`` and ``٥`` are not), then Spark's
    special literals (``inf``, ``-Infinity``, ``nan`` in any case); None when neither."""
    trimmed = text.strip(JAVA_TRIMMED)
    if _JAVA_DOUBLE.fullmatch(trimmed):
        if "x" in trimmed or "X" in trimmed:
            return float.fromhex(trimmed.rstrip("fFdD"))
        return float(trimmed.rstrip("fFdD"))
    return _SPARK_SPECIAL.get(trimmed.lower())


@lru_cache(maxsize=4096)
def _normalised(name: str) -> str:
    return normalise_name(name)


def java_regex(pattern: str) -> re.Pattern:
    """``RLIKE``'s pattern: Java regex classes and case folding are ASCII unless asked."""
    try:
        return re.compile(pattern, re.ASCII)
    except re.error:  # a pattern with an inline (?u): Unicode, as it asks
        return re.compile(pattern)


# -- reading the request's cells --------------------------------------------------------------
@dataclass
class _Request:
    """The declared columns of a request as Spark would see them, cell by cell: arrays of
    records x declared columns (in ``config.columns`` order)."""

    raw: list[np.ndarray]  # per column, the cells as received (what a violation shows)
    void: np.ndarray  # bool: the Spark text is null (null, NaN, or blank text)
    number: np.ndarray  # float64: the double the cell casts to (NaN where none)
    parsed: np.ndarray  # bool: the cell casts to a double (try_cast is not null)
    texts: list[list | None]  # per column, each text cell's trimmed text; None: no text cell

    def shown(self, i: int, j: int) -> str | None:
        """Cell (i, j) as the quarantine shows it: the trimmed text, or the number's text."""
        texts = self.texts[j]
        if texts is not None and texts[i] is not None:
            return texts[i]
        return None if self.void[i, j] else spark_text(self.raw[j][i])

    def spark_texts(self, j: int) -> list[str | None]:
        """Column j as Spark strings (``CAST(raw AS STRING)``, trimmed on the text path)."""
        return [self.shown(i, j) for i in range(len(self.raw[j]))]


def _as_float(cell) -> float:
    try:
        return float(cell)
    except OverflowError:  # an integer beyond a double: Spark's bigint cannot hold it either
        return math.inf if cell > 0 else -math.inf


_NUMBER_TYPES = (bool, np.bool_, int, np.integer, float, np.floating)


def _is_null(cell) -> bool:
    """None, pandas' NA / NaT; not a nested JSON value (a list, a dict)."""
    try:
        return cell is None or bool(pd.isna(cell))
    except (TypeError, ValueError):
        return False


def _scan(values: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, list | None]:
    """(number, parsed, void, texts) of cells of mixed JSON types, one by one: a text takes
    the text path, a number or boolean the number path, None / NaN is null."""
    n = len(values)
    number, parsed, void = [math.nan] * n, [False] * n, [False] * n
    texts: list | None = None
    for i, cell in enumerate(values):
        kind = type(cell)
        if kind is float or kind is int or (kind is not str and isinstance(cell, _NUMBER_TYPES)):
            read = _as_float(cell)
            if math.isnan(read):  # NaN: a JSON key absent from this record
                void[i] = True
            else:
                number[i], parsed[i] = read, True
        elif kind is str:
            texts = texts or [None] * n
            trimmed = cell.strip(" ")  # Spark's trim() strips spaces only
            if not trimmed:
                void[i] = True
                continue
            texts[i] = trimmed
            read = parse_double(trimmed)
            if read is not None:
                number[i], parsed[i] = read, True
        elif _is_null(cell):
            void[i] = True
        else:  # a nested JSON value: its text, which no number is read from
            texts = texts or [None] * n
            texts[i] = str(cell)
    return np.array(number), np.array(parsed, dtype=bool), np.array(void, dtype=bool), texts


def _scan_column(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list | None]:
    """``_scan`` of one column; a numpy numeric column (JSON numbers only) at once."""
    if values.dtype.kind in "iufb":
        number = values.astype(np.float64)
        void = np.isnan(number)
        return number, ~void, void, None
    return _scan(values.tolist())


def _small_request(records: pd.DataFrame, sources: list[int | None], key: int | None
                   ) -> _Request:
    """All cells in one pass over one object array (one pandas call for the request)."""
    n, width = len(records), len(sources)
    block = np.full((n, width), None, dtype=object)
    present = [j for j, s in enumerate(sources) if s is not None]
    if present:
        block[:, present] = records.to_numpy(dtype=object)[:, [sources[j] for j in present]]
    if key is not None:
        block[:, key] = [str(i) for i in range(n)]
    number, parsed, void, texts = _scan(block.T.ravel().tolist())
    per_column = [None] * width if texts is None else [texts[j * n:(j + 1) * n]
                                                        for j in range(width)]
    return _Request([block[:, j] for j in range(width)], void.reshape(width, n).T,
                    number.reshape(width, n).T, parsed.reshape(width, n).T, per_column)


def _large_request(records: pd.DataFrame, sources: list[int | None], key: int | None
                   ) -> _Request:
    """Cells column by column: numpy numeric columns need no per-cell work."""
    n, width = len(records), len(sources)
    request = _Request([np.full(n, None, dtype=object)] * width, np.ones((n, width), bool),
                       np.full((n, width), np.nan), np.zeros((n, width), bool), [None] * width)
    for j, source in enumerate(sources):
        if source is None and j != key:
            continue
        column = (column_array(records, source) if j != key
                  else np.array([str(i) for i in range(n)], dtype=object))
        if not isinstance(column, np.ndarray):  # a pandas extension array: cells as objects
            column = column.to_numpy(dtype=object)
        number, parsed, void, texts = _scan_column(column)
        request.raw[j] = column
        request.number[:, j], request.parsed[:, j], request.void[:, j] = number, parsed, void
        request.texts[j] = texts
    return request


def _read_request(records: pd.DataFrame, config: IngestionConfig) -> tuple[_Request, list[str]]:
    """(The request's declared columns, the declared columns absent from it), as
    ``normalise_columns`` selects them: normalised and renamed names, personal and undeclared
    columns dropped, a clash refused, the row-number key filled when absent."""
    renamed = [(i, config.rename.get(_normalised(str(c)), _normalised(str(c))))
               for i, c in enumerate(records.columns) if c not in PASSED_THROUGH]
    names = [name for _, name in renamed]
    if len(set(names)) < len(names):
        clashes = sorted({n for n in names if names.count(n) > 1})
        raise DataQualityError(f"request records: several fields normalise to {clashes} "
                               "(rule: unique_column_names).")
    found = {name: i for i, name in renamed}
    sources = [found.get(name) for name in config.columns]
    key = config.row_number_key
    # No id in the request: the record's position is its key, as the reader's row number is.
    fill_key = bool(key) and key not in found
    key_at = list(config.columns).index(key) if fill_key else None
    absent = [name for name, s in zip(config.columns, sources, strict=True)
              if s is None and not (fill_key and name == key)]
    read = _small_request if len(records) <= SMALL_REQUEST else _large_request
    return read(records, sources, key_at), absent


# -- the decoding plan of a configuration ----------------------------------------------------
def _code_lists(codes) -> tuple[list[float], list[str]]:
    """(numeric codes as doubles, text codes): ``rules._code_lists``."""
    return [float(c) for c in codes if not isinstance(c, str)], [c for c in codes
                                                                 if isinstance(c, str)]


def _padded(lists: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """(Code lists as one columns x longest matrix, NaN-padded since NaN never equals a value
    in numpy; whether each list holds NaN itself, which Spark's ``IN`` matches)."""
    width = max([len(codes) for codes in lists] + [1])
    out = np.full((len(lists), width), np.nan)
    for j, codes in enumerate(lists):
        out[j, :len(codes)] = codes
    return out, np.array([any(math.isnan(c) for c in codes) for codes in lists], dtype=bool)


def _isin(values: np.ndarray, codes: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``values IN (codes)`` per column (values: records x columns), NaN = NaN as in Spark."""
    matrix, has_nan = codes
    hit = (values[:, :, None] == matrix[None, :, :]).any(axis=2)
    if has_nan.any():
        hit |= np.isnan(values) & has_nan[None, :]
    return hit


@dataclass
class _NumericPlan:
    """The int/double rules of a configuration as per-column vectors and code matrices, so
    each rule step is one numpy operation over every numeric column."""

    names: list[str]
    indices: list[int]  # of each numeric column in ``config.columns``
    missing: tuple[np.ndarray, np.ndarray]
    missing_texts: list[frozenset]
    zeros: tuple[np.ndarray, np.ndarray]
    divisor: np.ndarray
    low: np.ndarray
    high: np.ndarray
    has_range: np.ndarray
    allowed: tuple[np.ndarray, np.ndarray]
    has_allowed: np.ndarray
    is_int: np.ndarray
    not_null: np.ndarray
    rule_names: list[dict[str, str]]
    patterns: dict[int, re.Pattern]

    @classmethod
    def of(cls, columns: dict[str, ColumnRule]) -> _NumericPlan:
        names = [n for n, r in columns.items() if r.type != "string"]
        rules = [columns[n] for n in names]
        order = list(columns)
        codes = [_code_lists(r.missing_codes) for r in rules]
        ranges = [r.range or (-math.inf, math.inf) for r in rules]
        return cls(
            names=names, indices=[order.index(n) for n in names],
            missing=_padded([numbers for numbers, _ in codes]),
            missing_texts=[frozenset(texts) for _, texts in codes],
            zeros=_padded([_code_lists(r.zero_codes)[0] for r in rules]),
            divisor=np.array([10.0 ** r.implied_decimals if r.implied_decimals else 1.0
                              for r in rules]),
            low=np.array([float(low) for low, _ in ranges]),
            high=np.array([float(high) for _, high in ranges]),
            has_range=np.array([r.range is not None for r in rules], dtype=bool),
            allowed=_padded([[float(a) for a in r.allowed or []] for r in rules]),
            has_allowed=np.array([r.allowed is not None for r in rules], dtype=bool),
            is_int=np.array([r.type == "int" for r in rules], dtype=bool),
            not_null=np.array([not r.nullable for r in rules], dtype=bool),
            rule_names=[_rule_names(r) for r in rules],
            patterns={j: java_regex(r.pattern) for j, r in enumerate(rules) if r.pattern},
        )


def _rule_names(rule: ColumnRule) -> dict[str, str]:
    """The rule names Spark writes for this column, by kind."""
    names = {"type": f"type:{rule.type}", "type:int": "type:int"}
    if rule.range is not None:
        low, high = rule.range
        names["range"] = f"range:[{low:g},{high:g}]"
    return names


_PLANS: dict[int, tuple[IngestionConfig, _NumericPlan]] = {}


def _plan_of(config: IngestionConfig) -> _NumericPlan:
    """The plan of one configuration object, built once (configs are not mutated after
    validation; the entry holds the object, so its id is not reused while cached)."""
    cached = _PLANS.get(id(config))
    if cached is None or cached[0] is not config:
        if len(_PLANS) >= 64:
            _PLANS.clear()
        cached = _PLANS[id(config)] = (config, _NumericPlan.of(config.columns))
    return cached[1]




# -- decoding -------------------------------------------------------------------------------
Found = tuple[int, int, int, str, str, "str | None"]  # record, position, rank, rule, field, shown


@dataclass
class _NumericResult:
    value: np.ndarray  # records x numeric columns, float64: the value before the int cast
    valid: np.ndarray  # records x numeric columns, bool: the decoded value is not null
    masks: dict[str, np.ndarray]  # rule kind -> records x numeric columns: the rule is broken


def _text_missing(plan: _NumericPlan, request: _Request) -> np.ndarray:
    """``text IN (missing text codes)`` (e.g. stroke bmi "N/A"), for the few columns with
    text codes; a number cell compares its Spark text."""
    hit = np.zeros((request.number.shape[0], len(plan.indices)), dtype=bool)
    for j, texts in enumerate(plan.missing_texts):
        if texts:
            hit[:, j] = [t in texts for t in request.spark_texts(plan.indices[j])]
    return hit


def _decode_numbers(plan: _NumericPlan, request: _Request) -> _NumericResult:
    """``decode_column`` for every int/double column at once (same steps, same order)."""
    number = request.number[:, plan.indices]
    parsed = request.parsed[:, plan.indices]
    void = request.void[:, plan.indices]
    missing = _text_missing(plan, request) | (parsed & _isin(number, plan.missing))
    valid = parsed & ~missing
    value = np.where(valid & _isin(number, plan.zeros), 0.0, number) / plan.divisor
    # ``rules.int_check``: within INT's range (NaN and infinities are not) and whole.
    fits_int = (value >= INT32[0]) & (value <= INT32[1]) & (value == np.trunc(value))
    masks = {"type": ~void & ~missing & ~parsed, "type:int": plan.is_int & valid & ~fits_int}
    # NaN sorts above every number in Spark, so it is out of any range.
    masks["range"] = plan.has_range & valid & ((value < plan.low) | (value > plan.high)
                                               | np.isnan(value))
    valid = np.where(plan.is_int, valid & fits_int, valid)  # not a valid int: null
    masks["allowed_values"] = plan.has_allowed & valid & ~_isin(value, plan.allowed)
    masks["not_null"] = plan.not_null & (void | missing)
    return _NumericResult(value, valid, masks)


def _numeric_found(plan: _NumericPlan, result: _NumericResult, request: _Request
                   ) -> list[Found]:
    """The broken rules of the numeric columns, with the values Spark shows."""
    found = []
    for kind, mask in result.masks.items():
        for i, j in zip(*np.nonzero(mask), strict=True):
            column = plan.indices[j]
            found.append((int(i), column, RANK[kind], plan.rule_names[j].get(kind, kind),
                          plan.names[j], request.shown(int(i), column)))
    for j, pattern in plan.patterns.items():
        for i in np.nonzero(result.valid[:, j])[0]:
            number = result.value[i, j]
            text = str(int(number)) if plan.is_int[j] else java_double_text(float(number))
            if not pattern.search(text):  # RLIKE on a number: on its string cast
                found.append((int(i), plan.indices[j], RANK["pattern"], "pattern",
                              plan.names[j], request.shown(int(i), plan.indices[j])))
    return found


def _decode_strings(name: str, rule: ColumnRule, request: _Request, column: int
                    ) -> tuple[np.ndarray, list[Found]]:
    """``decode_column`` for a string column: missing codes (text, or a number's code text)
    to null, then allowed values, pattern and not-null on the decoded text."""
    numbers, texts = _code_lists(rule.missing_codes)
    missing = {*texts, *(code_text(n) for n in numbers)}
    allowed = None if rule.allowed is None else {str(a) for a in rule.allowed}
    pattern = java_regex(rule.pattern) if rule.pattern is not None else None
    shown = request.spark_texts(column)
    values = np.array([None if t is None or t in missing else t for t in shown], dtype=object)
    found = []
    for i, value in enumerate(values):
        if value is None:
            if not rule.nullable:
                found.append((i, column, RANK["not_null"], "not_null", name, shown[i]))
            continue
        if allowed is not None and value not in allowed:
            found.append((i, column, RANK["allowed_values"], "allowed_values", name, value))
        if pattern is not None and not pattern.search(value):
            found.append((i, column, RANK["pattern"], "pattern", name, value))
    return values, found


def _encoding_found(names: list[str], request: _Request) -> list[Found]:
    """Text cells holding U+FFFD: bytes that were not UTF-8 (any column type)."""
    return [(i, j, RANK["encoding"], "encoding", names[j], text)
            for j, texts in enumerate(request.texts) if texts is not None
            for i, text in enumerate(texts) if text and UNICODE_REPLACEMENT in text]


def _numeric_columns(plan: _NumericPlan, result: _NumericResult) -> dict:
    """The decoded int (pandas ``Int64``) and double (``float64``, NaN = null) columns."""
    valid = result.valid.T.copy()
    ints = np.where(result.valid & plan.is_int, result.value, 0.0).T.astype(np.int64, order="C")
    doubles = np.where(result.valid, result.value, np.nan).T.copy()
    return {name: pd.arrays.IntegerArray(ints[j], ~valid[j]) if plan.is_int[j] else doubles[j]
            for j, name in enumerate(plan.names)}


# pandas checks and wraps each array it hands out or takes in (~7-10 us a column): on a
# one-record request, for a BRFSS table of ~100 columns, that alone is over the time budget.
# Its own unchecked accessors (pandas is pinned in pyproject) are used when present; the public
# calls are the fallback, with the same result.
def frame_of(columns: dict[str, np.ndarray | pd.api.extensions.ExtensionArray],
             index: pd.Index) -> pd.DataFrame:
    """A DataFrame of ready 1-D arrays of one length (``pd.DataFrame(columns)``)."""
    build = getattr(pd.DataFrame, "_from_arrays", None)
    if build is None:
        return pd.DataFrame(columns, index=index)
    return build(list(columns.values()), columns=list(columns), index=index,
                 verify_integrity=False)


def column_array(frame: pd.DataFrame, position: int):
    """The array of the column at ``position`` (``frame.iloc[:, i].array``; numpy when the
    column is numpy)."""
    get = getattr(frame, "_get_column_array", None)
    if get is not None:
        return get(position)
    column = frame.iloc[:, position]
    return column.to_numpy() if isinstance(column.dtype, np.dtype) else column.array


def decode_records(records: pd.DataFrame, config: IngestionConfig
                   ) -> tuple[pd.DataFrame, list[RecordViolation]]:
    """Decode and check raw records against the study's ingestion contract, as
    ``normalise_columns`` + ``flag_invalid_rows`` do in Spark.

    Returns the decoded frame (exactly ``config.columns``, in order: int as ``Int64``, double
    as ``float64`` with NaN for null, string as object with None for null; the index of
    ``records``) and every broken rule of every record, in Spark's order (by record, then
    column, then rule). A declared column absent from every record is null, and a ``required``
    one is a "required" violation of each record. Key-level rules (``unique``,
    ``duplicate_rows``) compare a table's rows with each other and are not applied here.
    """
    request, absent = _read_request(records, config)
    names = list(config.columns)
    found = [(i, names.index(name), RANK["required"], "required", name, None)
             for name in absent if config.columns[name].required for i in range(len(records))]
    found.extend(_encoding_found(names, request))
    plan = _plan_of(config)
    result = _decode_numbers(plan, request)
    found.extend(_numeric_found(plan, result, request))
    decoded = _numeric_columns(plan, result)
    for j, (name, rule) in enumerate(config.columns.items()):
        if rule.type == "string":
            decoded[name], string_found = _decode_strings(name, rule, request, j)
            found.extend(string_found)
    frame = frame_of({name: decoded[name] for name in names}, records.index)
    found.sort(key=lambda f: (f[0], f[1], f[2]))
    return frame, [RecordViolation(i, field, rule, shown)
                   for i, _, _, rule, field, shown in found]
