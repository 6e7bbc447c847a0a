"""Quality and privacy of a synthetic batch: SDV's quality report and diagnostic, and
distance to closest record (DCR) against the synthesizer's training rows and a real holdout.

All comparisons run on bounded, seeded samples (the report's cost grows with rows x rows x
columns); the exact-copy check, which must see every real row, runs in Spark (see nodes).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from health_risk.core.lazy_import import LAZY_IMPORT_LOCK


def table_metadata(synthesizer, table: str, columns: list[str]) -> dict[str, Any]:
    """The synthesizer's metadata for ``columns`` only, as a single-table dict."""
    full = synthesizer.get_metadata().to_dict()["tables"][table]
    return {"columns": {c: full["columns"][c] for c in columns}}


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """A seeded sample with nullable integers as floats (sdmetrics' distance code compares
    values with ==, which a pandas NA cannot answer)."""
    sample = frame.sample(n=min(rows, len(frame)), random_state=seed).reset_index(drop=True)
    nullable = [c for c in sample.columns if str(sample[c].dtype) == "Int64"]
    return sample.astype(dict.fromkeys(nullable, "float64"))


def _score(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) else round(value, 6)


def quality(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict[str, Any], table: str,
            rows: int, seed: int) -> dict[str, Any]:
    """SDV quality (column shapes, column pair trends) and diagnostic (validity, structure)."""
    # Imported here: sdv brings torch (~300 MiB, seconds of import), which every run would
    # otherwise pay when the pipelines are registered, synthetic data or not.
    with LAZY_IMPORT_LOCK:
        from sdv.evaluation import evaluate_quality, run_diagnostic
        from sdv.metadata import Metadata

    columns = list(metadata["columns"])
    meta = Metadata.load_from_dict({"tables": {table: metadata}})
    real_part = {table: _sample(real[columns], rows, seed)}
    synthetic_part = {table: _sample(synthetic[columns], rows, seed)}
    report = evaluate_quality(real_part, synthetic_part, meta, verbose=False)
    diagnostic = run_diagnostic(real_part, synthetic_part, meta, verbose=False)
    properties = {r["Property"]: _score(r["Score"])
                  for r in report.get_properties().to_dict("records")}
    checks = {r["Property"]: _score(r["Score"])
              for r in diagnostic.get_properties().to_dict("records")}
    shapes = report.get_details("Column Shapes")
    worst = shapes.sort_values("Score").head(5)
    return {
        "columns": columns, "rows_compared": len(real_part[table]),
        "score": _score(report.get_score()), "properties": properties,
        "worst_column_shapes": {r["Column"]: _score(r["Score"])
                                for r in worst.to_dict("records")},
        "diagnostic_score": _score(diagnostic.get_score()), "diagnostic": checks,
    }


# sdmetrics' per-column distances (dcr_utils._process_dcr_chunk): numbers (and datetimes) by
# |a - b| / the reference column's range, capped at 1 (any difference is 1 when the range is
# 0); categories and booleans 0 when equal, else 1; a value against a missing one 1, two
# missing 0. A row's distance is the mean over the columns.
DISTANCE_SDTYPES = {"numerical": "number", "datetime": "number",
                    "categorical": "category", "boolean": "category"}
# Pairs of rows held at once (8 bytes each, twice): 4M pairs ~ 64 MB.
PAIRS_PER_BLOCK = 4_000_000


def _as_numbers(column: pd.Series) -> np.ndarray:
    """Numbers as floats, datetimes (or text that only parses as dates) as seconds."""
    if pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column):
        try:
            column = pd.to_numeric(column, errors="raise")
        except (TypeError, ValueError):
            column = pd.to_datetime(column, errors="coerce")
    if pd.api.types.is_datetime64_any_dtype(column):
        if column.dt.tz is not None:
            column = column.dt.tz_convert(None)
        return (column - pd.Timestamp(0)).dt.total_seconds().to_numpy(dtype="float64",
                                                                      na_value=np.nan)
    return column.to_numpy(dtype="float64", na_value=np.nan)


def closest_record_distances(dataset: pd.DataFrame, reference: pd.DataFrame,
                             metadata: dict[str, Any]) -> np.ndarray:
    """For each row of ``dataset``, its distance to the closest row of ``reference``: the
    distance sdmetrics' ``calculate_dcr`` defines (tests compare the two), computed on whole
    columns at once instead of on a cross-joined frame (4 s -> milliseconds for 300 x 500 rows
    of 66 columns; a BRFSS batch's report measured it four times)."""
    columns = [(name, DISTANCE_SDTYPES[spec["sdtype"]])
               for name, spec in metadata["columns"].items()
               if spec["sdtype"] in DISTANCE_SDTYPES and name in dataset and name in reference]
    if not columns:
        raise ValueError("There are no overlapping statistical columns to measure.")
    prepared = []
    for name, kind in columns:
        if kind == "number":
            data, ref = _as_numbers(dataset[name]), _as_numbers(reference[name])
            span = float(np.nanmax(ref) - np.nanmin(ref)) if np.isfinite(ref).any() else np.nan
            prepared.append((kind, data, ref, span))
        else:
            # Missing values as None: pandas' NA cannot answer != (nor be one of two equal).
            data = dataset[name].astype(object).where(dataset[name].notna(), None).to_numpy()
            ref = reference[name].astype(object).where(reference[name].notna(), None).to_numpy()
            prepared.append((kind, data, ref, None))
    block = max(1, PAIRS_PER_BLOCK // max(len(reference), 1))
    closest = np.empty(len(dataset), dtype="float64")
    for start in range(0, len(dataset), block):
        rows = slice(start, start + block)
        total = np.zeros((len(closest[rows]), len(reference)), dtype="float64")
        for kind, data, ref, span in prepared:
            total += _column_distances(kind, data[rows], ref, span)
        closest[rows] = total.min(axis=1) / len(columns) if len(reference) else np.nan
    return closest


def _column_distances(kind: str, data: np.ndarray, ref: np.ndarray, span) -> np.ndarray:
    """The (data rows x reference rows) distances of one column."""
    data_missing = pd.isna(data)[:, None]
    ref_missing = pd.isna(ref)[None, :]
    if kind == "number":
        with np.errstate(invalid="ignore"):
            difference = np.abs(ref[None, :] - data[:, None])
            distance = ((difference > 0).astype("float64") if span == 0
                        else np.minimum(difference / span, 1.0))
    else:
        distance = (data[:, None] != ref[None, :]).astype("float64")
    # One side missing: 1; both: 0 (after the values' own distance, as sdmetrics does).
    return np.where(data_missing & ref_missing, 0.0,
                    np.where(data_missing | ref_missing, 1.0, distance))


def distance_to_closest_record(training: pd.DataFrame, holdout: pd.DataFrame,
                               synthetic: pd.DataFrame, metadata: dict[str, Any], rows: int,
                               seed: int) -> dict[str, Any]:
    """DCR of synthetic rows to the training rows, compared with a real holdout.

    ``closer_to_training_share`` near 0.5 means synthetic rows are no closer to the rows the
    synthesizer saw than to unseen real rows (no memorisation); near 1.0 means they copy the
    training data. The holdout's own DCR to the training rows is the baseline a real new
    person would have. The overfitting-protection score is sdmetrics'
    ``DCROverfittingProtection``: min(1, 2 x the share of synthetic rows not closer to the
    training rows than to the holdout).
    """
    columns = list(metadata["columns"])
    train = _sample(training[columns], rows, seed)
    hold = _sample(holdout[columns], rows, seed + 1)
    synth = _sample(synthetic[columns], rows, seed + 2)
    if len(hold) < 2:
        return {"computed": False, "reason": f"holdout has {len(hold)} rows"}
    dcr_synthetic = closest_record_distances(synth, train, metadata)
    closer_to_training = float(np.mean(dcr_synthetic < closest_record_distances(
        synth, hold, metadata)))
    dcr_holdout = closest_record_distances(hold, train, metadata)
    return {
        "computed": True, "rows_compared": {"training": len(train), "holdout": len(hold),
                                            "synthetic": len(synth)},
        "overfitting_protection_score": _score(min((1.0 - closer_to_training) * 2, 1.0)),
        "closer_to_training_share": _score(closer_to_training),
        "median_dcr_synthetic_to_training": _score(np.median(dcr_synthetic)),
        "median_dcr_holdout_to_training": _score(np.median(dcr_holdout)),
        "zero_distance_share": _score(np.mean(dcr_synthetic == 0.0)),
    }
