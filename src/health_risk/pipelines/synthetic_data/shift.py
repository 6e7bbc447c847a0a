"""A controlled population shift on a sampled batch (for demonstrating and testing drift
monitoring): numeric columns are moved, category shares are raised."""

from __future__ import annotations

import numpy as np
import pandas as pd

from health_risk.core.contract.config import ColumnRule
from health_risk.pipelines.synthetic_data.config import ShiftConfig


def _snap(values: pd.Series, rule: ColumnRule) -> pd.Series:
    """Keep shifted values valid: inside the rule's range, on an allowed code if it has any."""
    if rule.range is not None:
        values = values.clip(rule.range[0], rule.range[1])
    if rule.allowed is not None:
        codes = np.array(sorted(float(a) for a in rule.allowed))
        present = values.notna()
        raw = values[present].to_numpy(dtype=float)
        nearest = codes[np.abs(raw[:, None] - codes[None, :]).argmin(axis=1)]
        values = values.astype("float64").copy()
        values[present] = nearest
    if rule.type == "int":
        values = values.round()
    return values


def apply_shift(frame: pd.DataFrame, shift: ShiftConfig, rules: dict[str, ColumnRule],
                rng: np.random.Generator) -> pd.DataFrame:
    """The batch with every configured shift applied (a copy; nulls stay null)."""
    if not shift.enabled:
        return frame
    out = frame.copy()
    for column, move in shift.numeric.items():
        values = pd.to_numeric(out[column], errors="raise").astype("float64")
        out[column] = _snap(values * move.multiply + move.add, rules[column])
    for column, raise_to in shift.categorical.items():
        values = out[column].astype(object)
        target = raise_to.value
        if rules[column].type != "string":
            values = pd.to_numeric(values, errors="raise").astype("float64")
            target = float(target)
        is_value = (values == target).fillna(False).to_numpy(dtype=bool)
        wanted = round(raise_to.share * len(values)) - int(is_value.sum())
        if wanted > 0:
            others = np.flatnonzero(~is_value)
            chosen = rng.choice(others, size=min(wanted, len(others)), replace=False)
            values = values.copy()
            values.iloc[chosen] = target
        out[column] = values
    return out
