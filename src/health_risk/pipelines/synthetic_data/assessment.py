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


def distance_to_closest_record(training: pd.DataFrame, holdout: pd.DataFrame,
                               synthetic: pd.DataFrame, metadata: dict[str, Any], rows: int,
                               seed: int) -> dict[str, Any]:
    """DCR of synthetic rows to the training rows, compared with a real holdout.

    ``closer_to_training_share`` near 0.5 means synthetic rows are no closer to the rows the
    synthesizer saw than to unseen real rows (no memorisation); near 1.0 means they copy the
    training data. The holdout's own DCR to the training rows is the baseline a real new
    person would have.
    """
    from sdmetrics.single_table.privacy.dcr_overfitting_protection import (
        DCROverfittingProtection,
    )
    from sdmetrics.single_table.privacy.dcr_utils import calculate_dcr

    columns = list(metadata["columns"])
    train = _sample(training[columns], rows, seed)
    hold = _sample(holdout[columns], rows, seed + 1)
    synth = _sample(synthetic[columns], rows, seed + 2)
    if len(hold) < 2:
        return {"computed": False, "reason": f"holdout has {len(hold)} rows"}
    breakdown = DCROverfittingProtection.compute_breakdown(
        real_training_data=train, synthetic_data=synth, real_validation_data=hold,
        metadata={"tables": {"t": metadata}}, table_name="t")
    dcr_synthetic = np.asarray(calculate_dcr(dataset=synth, reference_dataset=train,
                                             metadata=metadata), dtype=float)
    dcr_holdout = np.asarray(calculate_dcr(dataset=hold, reference_dataset=train,
                                           metadata=metadata), dtype=float)
    shares = breakdown["synthetic_data_percentages"]
    return {
        "computed": True, "rows_compared": {"training": len(train), "holdout": len(hold),
                                            "synthetic": len(synth)},
        "overfitting_protection_score": _score(breakdown["score"]),
        "closer_to_training_share": _score(shares["closer_to_training"]),
        "median_dcr_synthetic_to_training": _score(np.median(dcr_synthetic)),
        "median_dcr_holdout_to_training": _score(np.median(dcr_holdout)),
        "zero_distance_share": _score(np.mean(dcr_synthetic == 0.0)),
    }
