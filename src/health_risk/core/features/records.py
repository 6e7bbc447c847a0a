"""The derivation steps and the feature table on a few records in memory, for the
model-serving scorer (no Spark, no JVM).

Batch feature engineering runs a study's ``FeatureEngineeringConfig`` in Spark
(``derivations.apply_steps``, ``table.feature_columns``); a served request must get the same
features from the same configuration objects. Each step here reproduces its Spark expression,
including Spark's own behaviour: codes compared as ``literal_for`` types them, NaN is no value
for numeric steps, a number becomes text the way ``CAST(... AS STRING)`` writes it (``3``,
``3.0``). The parity tests (``tests/core/features/test_records.py``) hold both engines equal on
every step type.

Columns are held as numpy arrays with a null mask while the steps run, and become a pandas
frame once at the end: a pandas operation costs tens of microseconds, a one-record request has
about a millisecond for all of BRFSS's steps.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from health_risk.core.columns import ID, LABEL, WEIGHT
from health_risk.core.contract.records import (
    JAVA_TRIMMED,
    column_array,
    frame_of,
    java_double_text,
    parse_double,
)
from health_risk.core.features.config import (
    BinStep,
    Code,
    CountEqualStep,
    DerivationError,
    FeatureEngineeringConfig,
    IndicatorStep,
    JoinStep,
    LeakageError,
    LogStep,
    ProductStep,
    RecodeStep,
    ScaleStep,
    SeasonStep,
    output_columns,
)

# Spark's name of each kind of column, for messages (``DataType.simpleString``).
SPARK_TYPES = {"int": "int", "double": "double", "string": "string", "bool": "boolean"}
NUMERIC = ("int", "double", "bool")
INT32 = (-(2 ** 31), 2 ** 31 - 1)


# -- columns ---------------------------------------------------------------------------------
@dataclass
class _Column:
    """One column while the steps run: ``values`` (int64 0, float64 NaN, object None or bool
    False where null) and the null mask."""

    kind: str  # "int", "double", "string" or "bool"
    values: np.ndarray
    null: np.ndarray

    @classmethod
    def of(cls, array) -> _Column:
        """A pandas column's array (numpy, or a masked / other extension array)."""
        if not isinstance(array, np.ndarray):
            return cls._of_extension(array)
        kind = array.dtype.kind
        if kind == "f":
            values = array.astype(np.float64, copy=False)
            return cls("double", values, np.isnan(values))
        if kind in "iub":
            return cls("int" if kind != "b" else "bool",
                       array.astype(np.int64 if kind != "b" else bool, copy=False),
                       np.zeros(len(array), dtype=bool))
        values = array.astype(object, copy=False)
        try:
            null = np.equal(values, None) | np.not_equal(values, values)  # None, or NaN
        except TypeError:  # pandas' NA, which has no truth value
            null = pd.isna(values)
        if null.any():
            values = values.copy()
            values[null] = None
        return cls("string", values, null)

    @classmethod
    def _of_extension(cls, array) -> _Column:
        kind = array.dtype.kind
        null = np.asarray(array.isna(), dtype=bool)
        if kind in "iu":  # Int64: values under the mask (pandas' own parts when present)
            data = getattr(array, "_data", None)
            values = (data.astype(np.int64, copy=False) if isinstance(data, np.ndarray)
                      else array.to_numpy(dtype=np.int64, na_value=0))
            return cls("int", values, null)
        if kind == "f":
            return cls.doubles(array.to_numpy(dtype=np.float64, na_value=np.nan))
        if kind == "b":
            return cls("bool", array.to_numpy(dtype=bool, na_value=False), null)
        values = array.to_numpy(dtype=object)
        values[null] = None
        return cls("string", values, null)

    @classmethod
    def doubles(cls, values: np.ndarray) -> _Column:
        """A double column; NaN is null."""
        values = np.asarray(values, dtype=np.float64)
        return cls("double", values, np.isnan(values))

    @classmethod
    def strings(cls, values: list) -> _Column:
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return cls("string", out, np.array([v is None for v in values], dtype=bool))

    def numbers(self) -> np.ndarray:
        """The values as doubles, NaN where null: ``numeric_value`` (NaN counts as no value)."""
        if self.kind == "double":
            return self.values
        return np.where(self.null, np.nan, self.values.astype(np.float64))

    def texts(self) -> list[str | None]:
        """``CAST(column AS STRING)``: 3, 3.0, true; None where null."""
        values = self.values.tolist()
        if self.kind == "string":
            return values
        null = self.null.tolist()
        if self.kind == "int":
            return [None if n else str(v) for v, n in zip(values, null, strict=True)]
        if self.kind == "bool":
            return [None if n else ("true" if v else "false")
                    for v, n in zip(values, null, strict=True)]
        return [None if n else java_double_text(v) for v, n in zip(values, null, strict=True)]

    def to_pandas(self):
        """The pandas array of this column: Int64, float64, object, bool (or boolean)."""
        if self.kind == "int":
            return pd.arrays.IntegerArray(self.values, self.null)
        if self.kind == "bool":
            return pd.arrays.BooleanArray(self.values, self.null) if self.null.any() \
                else self.values
        return self.values


class _Table:
    """The frame being derived: columns read from pandas on first use, new ones appended or
    replaced in place (``withColumns``), pandas arrays of untouched columns passed through."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.positions = {str(c): i for i, c in enumerate(frame.columns)}  # untouched columns
        self.order: list[str] = list(self.positions)
        self.columns: dict[str, _Column] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.positions or name in self.columns

    def get(self, name: str, where: str) -> _Column:
        column = self.columns.get(name)
        if column is None:
            if name not in self.positions:
                raise DerivationError(f"{where}: column '{name}' is not in the table. "
                                      f"Available: {sorted(self.order)}")
            array = column_array(self.frame, self.positions[name])
            column = self.columns[name] = _Column.of(array)
        return column

    def set(self, name: str, column: _Column) -> None:
        if name not in self:
            self.order.append(name)
        self.columns[name] = column
        self.positions.pop(name, None)

    def drop(self, names) -> None:
        for name in names:
            if name in self:
                self.order.remove(name)
                self.columns.pop(name, None)
                self.positions.pop(name, None)

    def to_pandas(self) -> pd.DataFrame:
        """Derived columns as new arrays; untouched ones copied from the input (the frames
        share no memory, as two pandas frames from separate calls do not)."""
        return frame_of({name: column_array(self.frame, self.positions[name]).copy()
                         if name in self.positions else self.columns[name].to_pandas()
                         for name in self.order}, self.frame.index)


# -- typing rules (derivations.numeric_value / literal_for) ------------------------------------
def _numeric(table: _Table, name: str, where: str) -> np.ndarray:
    """``numeric_value``: the column as doubles, NaN for null and NaN; a text column is an
    error."""
    column = table.get(name, where)
    if column.kind not in NUMERIC:
        raise DerivationError(f"{where}: column '{name}' is {SPARK_TYPES[column.kind]}, "
                              "a numeric column is needed (recode it first)")
    return column.numbers()


def _literal(column: _Column, name: str, code: Code, where: str):
    """``literal_for``: the code as text for a text column, as a number otherwise (a text
    code that is no number is an error)."""
    if column.kind == "string":
        return str(code)
    if isinstance(code, str):
        try:
            return float(code)
        except ValueError:
            raise DerivationError(f"{where}: code {code!r} is text but column '{name}' "
                                  "is numeric") from None
    return code


def _lookup_keys(column: _Column) -> list:
    """Values to look codes up with (None where null): numbers compare by value across int
    and double (``1 == 1.0`` in Python's dicts as in Spark's comparison)."""
    values = column.values.tolist()
    if not column.null.any():
        return values
    return [None if n else v for v, n in zip(values, column.null.tolist(), strict=True)]


def _hits(column: _Column, literals: list) -> np.ndarray:
    """``column.isin(literals)``, False where null."""
    if column.kind == "string":
        wanted = set(literals)
        return np.array([v in wanted for v in column.values.tolist()], dtype=bool)
    codes = np.array([float(c) for c in literals])
    return ~column.null & (column.numbers()[:, None] == codes[None, :]).any(axis=1)


# -- the steps -------------------------------------------------------------------------------
Columns = dict[str, _Column]


def _bin(table: _Table, step: BinStep, where: str) -> Columns:
    """``value < edges[0]`` -> labels[0], ..., ``value >= edges[-1]`` -> labels[-1]."""
    out = {}
    labels = np.array([*step.labels, None], dtype=object)
    for src, name in step.pairs:
        value = _numeric(table, src, where)
        index = np.searchsorted(np.asarray(step.edges, dtype=np.float64), value, side="right")
        index[np.isnan(value)] = len(step.labels)  # the None after the labels
        out[name] = _Column("string", labels[index], np.isnan(value))
    return out


def _recode(table: _Table, step: RecodeStep, where: str) -> Columns:
    """The first mapped code equal to the value wins (CASE WHEN order); an unmapped value
    gets its own text (``keep_unmapped``) or ``default``."""
    out = {}
    for src, name in step.pairs:
        column = table.get(src, where)
        lookup = {}
        for code, text in step.mapping.items():
            lookup.setdefault(_literal(column, src, code, where), text)
        keys = _lookup_keys(column)
        if step.keep_unmapped:
            texts = column.texts()
            labels = [None if k is None else lookup.get(k, t)
                      for k, t in zip(keys, texts, strict=True)]
        else:
            labels = [None if k is None else lookup.get(k, step.default) for k in keys]
        out[name] = _Column.strings(labels)
    return out


def _indicator(table: _Table, step: IndicatorStep, where: str) -> Columns:
    """1.0 when the value is one of ``values``, 0.0 for another value, null when null."""
    out = {}
    for src, name in step.pairs:
        column = table.get(src, where)
        hit = _hits(column, [_literal(column, src, v, where) for v in step.values])
        out[name] = _Column.doubles(np.where(column.null, np.nan, hit.astype(np.float64)))
    return out


def _log(table: _Table, step: LogStep, where: str) -> Columns:
    out = {}
    for src, name in step.pairs:
        shifted = _numeric(table, src, where) + step.offset
        out[name] = _Column.doubles(strict_log(np.where(shifted > 0, shifted, np.nan)))
    return out


# fdlibm's e_log.c, which Spark's log() runs (java.lang.StrictMath.log): numpy's log (the C
# library's) differs from it in the last bit for ~3% of inputs, and a feature must be the same
# number in serving as in training.
LN2_HI, LN2_LO, TWO54 = 6.93147180369123816490e-01, 1.90821492927058770002e-10, 2.0 ** 54
LG = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
      2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
      1.479819860511658591e-01)


def strict_log(values: np.ndarray) -> np.ndarray:
    """Natural log, bit for bit as ``StrictMath.log`` (NaN for NaN and negatives)."""
    x = np.array(values, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    out[x == 0] = -np.inf
    out[x == np.inf] = np.inf
    ok = (x > 0) & np.isfinite(x)
    v, k = x[ok], np.zeros(int(ok.sum()), dtype=np.int64)
    subnormal = v < 2.2250738585072014e-308
    v[subnormal] *= TWO54
    k[subnormal] -= 54
    bits = v.view(np.int64)
    hx = bits >> 32
    k += (hx >> 20) - 1023
    hx &= 0x000FFFFF
    i = (hx + 0x95F64) & 0x100000
    v = (((hx | (i ^ 0x3FF00000)) << 32) | (bits & 0xFFFFFFFF)).view(np.float64)  # x or x/2
    k += i >> 20
    out[ok] = _log_of_reduced(v - 1.0, k, hx)
    return out


def _log_of_reduced(f: np.ndarray, k: np.ndarray, hx: np.ndarray) -> np.ndarray:
    """log(2**k * (1 + f)), fdlibm's two branches (|f| < 2**-20, else its polynomial)."""
    dk = k.astype(np.float64)
    lg1, lg2, lg3, lg4, lg5, lg6, lg7 = LG
    r = f * f * (0.5 - 0.33333333333333333 * f)
    small = np.where(f == 0.0, np.where(k == 0, 0.0, dk * LN2_HI + dk * LN2_LO),
                     np.where(k == 0, f - r, dk * LN2_HI - ((r - dk * LN2_LO) - f)))
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    r = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7))) + w * (lg2 + w * (lg4 + w * lg6))
    hfsq = 0.5 * f * f
    polynomial = np.where(
        ((hx - 0x6147A) | (0x6B851 - hx)) > 0,
        np.where(k == 0, f - (hfsq - s * (hfsq + r)),
                 dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f)),
        np.where(k == 0, f - s * (f - r), dk * LN2_HI - ((s * (f - r) - dk * LN2_LO) - f)))
    return np.where((0x000FFFFF & (2 + hx)) < 3, small, polynomial)


def _scale(table: _Table, step: ScaleStep, where: str) -> Columns:
    return {name: _Column.doubles(_numeric(table, src, where) * step.factor + step.offset)
            for src, name in step.pairs}


def _count_equal(table: _Table, step: CountEqualStep, where: str) -> Columns:
    """Answers equal to ``values`` (null counts 0) and null answers; a null count when every
    answer is null (``null_when_all_missing``)."""
    count = missing = None
    for src in step.inputs:
        column = table.get(src, where)
        hit = _hits(column, [_literal(column, src, v, where) for v in step.values])
        hit, null = hit.astype(np.float64), column.null.astype(np.float64)
        count = hit if count is None else count + hit
        missing = null if missing is None else missing + null
    if step.null_when_all_missing:
        count = np.where(missing < float(len(step.inputs)), count, np.nan)
    out = {step.output: _Column.doubles(count)}
    if step.missing_output:
        out[step.missing_output] = _Column.doubles(missing)
    return out


def _product(table: _Table, step: ProductStep, where: str) -> Columns:
    values = [_numeric(table, c, where) for c in step.inputs]
    product = values[0]
    for value in values[1:]:
        product = product * value  # NaN (null) if any factor is
    return {step.output: _Column.doubles(product)}


def _season(table: _Table, step: SeasonStep, where: str) -> Columns:
    """Month 1-12 -> sin/cos of ``2*pi*month/12`` and the season's name; else nulls."""
    month = _numeric(table, step.input, where)
    valid = (month >= 1.0) & (month <= 12.0) & (month == np.floor(month))  # isin(1..12)
    angle = np.where(valid, month, np.nan) * (2.0 * math.pi / 12.0)
    out = {step.sin_output: _Column.doubles(np.sin(angle)),
           step.cos_output: _Column.doubles(np.cos(angle))}
    if step.season_output:
        names = {}
        for name, months in step.seasons.items():  # Spark: the last season listed wins
            names.update({float(m): name for m in months})
        out[step.season_output] = _Column.strings([names.get(m) for m in month.tolist()])
    return out


COLUMN_STEPS: dict[str, Callable[[_Table, object, str], Columns]] = {
    "bin": _bin, "recode": _recode, "indicator": _indicator, "log": _log, "scale": _scale,
    "count_equal": _count_equal, "product": _product, "season": _season,
}


# -- the join ----------------------------------------------------------------------------------
_INTEGER = re.compile(r"[+-]?[0-9]+")


def _cast_key(value, kind: str, where: str):
    """``CAST(lookup key AS <left column's type>)`` under ANSI: a number to int truncates, a
    text to int must be an integer literal, to double a number; what cannot be cast fails."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if kind == "string":
        return value if isinstance(value, str) else _as_text(value)
    if isinstance(value, str):
        text = value.strip(JAVA_TRIMMED)
        number = (int(text) if _INTEGER.fullmatch(text) else None) if kind == "int" \
            else parse_double(value)
    else:
        number = float(value)
    if kind == "int" and number is not None:
        number = math.trunc(number) if math.isfinite(number) else None
        number = number if number is not None and INT32[0] <= number <= INT32[1] else None
    if number is None:
        raise DerivationError(f"{where}: lookup key {value!r} cannot be cast to "
                              f"{SPARK_TYPES[kind]}, the type of the left column")
    return number


def _as_text(value) -> str:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    return java_double_text(float(value))


def _check_lookup(step: JoinStep, where: str, lookups: Mapping[str, pd.DataFrame]
                  ) -> pd.DataFrame:
    """The step's reference table, with the columns it names and no repeated key."""
    if step.table not in lookups:
        raise step.missing_table(where, lookups)
    lookup = lookups[step.table]
    for column in [step.right_on, *step.columns]:
        if column not in lookup.columns:
            raise DerivationError(f"{where} (table '{step.table}'): column '{column}' is not in "
                                  f"the table. Available: {sorted(map(str, lookup.columns))}")
    keys = lookup[step.right_on].tolist()
    if len(set(keys)) < len(keys):
        seen, repeated = set(), []
        for key in keys:
            if key in seen and key not in repeated:
                repeated.append(key)
            seen.add(key)
        raise DerivationError(f"{where}: table '{step.table}' repeats key '{step.right_on}' "
                              f"{[None if pd.isna(k) else k for k in repeated[:5]]}; a join "
                              "would duplicate rows")
    return lookup


@dataclass
class _Lookup:
    """A reference table ready for one join step: cast key -> row, the brought columns."""

    table: pd.DataFrame
    step: JoinStep
    rows: dict
    columns: dict[str, _Column]


# Reference tables are fixed for a scorer's life: each is checked and indexed once per join
# step and left-column type, not on every request. An entry holds its table, so the id is not
# reused while cached; a table changed in place is not seen (pass a new frame instead).
_LOOKUPS: dict[tuple[int, int, str], _Lookup] = {}


def _lookup(step: JoinStep, where: str, lookups: Mapping[str, pd.DataFrame], kind: str
            ) -> _Lookup:
    table = lookups.get(step.table)
    cached = _LOOKUPS.get((id(table), id(step), kind))
    if cached is not None and cached.table is table and cached.step is step:
        return cached
    table = _check_lookup(step, where, lookups)
    rows = {}
    for row, key in enumerate(table[step.right_on].tolist()):
        cast = _cast_key(key, kind, where)
        if cast is not None:
            rows.setdefault(cast, row)
    position = {c: i for i, c in enumerate(table.columns)}
    columns = {out: _Column.of(column_array(table, position[src]))
               for src, out in step.columns.items()}
    if len(_LOOKUPS) >= 64:
        _LOOKUPS.clear()
    prepared = _LOOKUPS[(id(table), id(step), kind)] = _Lookup(table, step, rows, columns)
    return prepared


def _join(table: _Table, step: JoinStep, where: str, lookups: Mapping[str, pd.DataFrame]
          ) -> None:
    """Left join on ``left_on = CAST(right_on AS <left type>)``: the lookup's columns under
    their new names (null when unmatched) and the match flag (False when unmatched)."""
    left = table.get(step.left_on, where)
    lookup = _lookup(step, where, lookups, left.kind)
    matched = np.array([-1 if k is None else lookup.rows.get(k, -1)
                        for k in _lookup_keys(left)], dtype=np.int64)
    hit = matched >= 0
    brought = {out: _take(column, matched, hit) for out, column in lookup.columns.items()}
    table.drop([*brought, step.flag])
    for name, column in brought.items():
        table.set(name, column)
    table.set(step.flag, _Column("bool", hit, np.zeros(len(hit), dtype=bool)))


def _take(column: _Column, rows: np.ndarray, hit: np.ndarray) -> _Column:
    """The lookup column's values at ``rows``, null where unmatched."""
    null = ~hit
    if len(column.values):
        index = np.where(hit, rows, 0)
        values, null = column.values[index], column.null[index] | null
    else:  # an empty reference table: nothing matches
        values = np.zeros(len(rows), dtype=column.values.dtype)
    if column.kind == "double":
        values = np.where(null, np.nan, values)
    elif column.kind == "string":
        values = values.astype(object)
        values[null] = None
    return _Column(column.kind, values, null)


# -- public ------------------------------------------------------------------------------------
def derive_records(decoded: pd.DataFrame, config: FeatureEngineeringConfig,
                   lookups: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Apply ``config.derivations`` in order to decoded records (``decode_records``), as
    ``apply_steps`` does in Spark; ``lookups`` are the reference tables the join steps name
    (BRFSS: ``census``), as pandas frames. Returns the records with every derived column
    (int as ``Int64``, double as ``float64`` with NaN for null, text as object with None,
    match flags as bool), in Spark's column order."""
    table = _Table(decoded)
    for i, step in enumerate(config.derivations):
        where = f"{config.study}: derivations[{i}] ({step.step})"
        if isinstance(step, JoinStep):
            _join(table, step, where, lookups or {})
        else:
            for name, column in COLUMN_STEPS[step.step](table, step, where).items():
                table.set(name, column)
    return table.to_pandas()


def feature_frame(derived: pd.DataFrame, config: FeatureEngineeringConfig) -> pd.DataFrame:
    """The feature columns as ``feature_columns`` types them (subgroups and categorical
    features as text, numeric features as float64), in its order; without id, label and
    weight (a served record has no label)."""
    subgroups, numeric, categorical = output_columns(config)
    table = _Table(derived)
    missing = [c for c in [*subgroups, *numeric, *categorical] if c not in table]
    if missing:
        raise DerivationError(f"{config.study}: feature/subgroup column(s) {missing} are neither "
                              f"in the validated table nor derived. Available: "
                              f"{sorted(table.order)}")
    where = f"{config.study}: features"
    text = [c for c in numeric if table.get(c, where).kind not in NUMERIC]
    if text:
        raise DerivationError(f"{config.study}: numeric_features {text} are text columns; "
                              "list them as categorical or derive a number")
    leaks = _leaks(config)
    if leaks:
        raise LeakageError(f"leakage in study '{config.study}': {leaks} would reach the "
                           "feature table")
    columns = {c: _as_strings(table.get(c, where)) for c in subgroups}
    columns.update({c: table.get(c, where).numbers().copy() for c in numeric})
    columns.update({c: _as_strings(table.get(c, where)) for c in categorical})
    return frame_of(columns, derived.index)


_LEAKS: dict[int, tuple[FeatureEngineeringConfig, list[str]]] = {}


def _leaks(config: FeatureEngineeringConfig) -> list[str]:
    """``leakage_in`` of the feature table's columns, once per configuration object (it
    walks every derivation's lineage; the config validator has refused leaks already)."""
    cached = _LEAKS.get(id(config))
    if cached is None or cached[0] is not config:
        if len(_LEAKS) >= 64:
            _LEAKS.clear()
        subgroups, numeric, categorical = output_columns(config)
        cached = _LEAKS[id(config)] = (config, config.leakage_in(
            [ID, LABEL, WEIGHT, *subgroups, *numeric, *categorical]))
    return cached[1]


def _as_strings(column: _Column) -> np.ndarray:
    """``CAST(column AS STRING)`` as a new object array (None for null)."""
    if column.kind == "string":
        return column.values.copy()
    return _Column.strings(column.texts()).values
