"""Design-based standard errors against a small design computed by hand (Taylor
linearisation of the weighted mean, PSUs with replacement, domain estimation by area)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from health_risk.core.survey_design import design_standard_errors
from health_risk.pipelines.reporting.aggregates import aggregate_table
from health_risk.pipelines.reporting.config import AggregateSpec


def _design(seed=11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    # Two areas; strata nested in areas; PSU ids repeat across strata (nest=TRUE); stratum 9 of
    # area B has a single PSU.
    layout = {("A", 1): 3, ("A", 2): 2, ("B", 3): 4, ("B", 9): 1}
    for (area, stratum), n_psu in layout.items():
        for psu in range(1, n_psu + 1):
            for _ in range(rng.integers(2, 6)):
                rows.append({"state": area, "strata": float(stratum), "psu": float(psu),
                             "w": float(rng.uniform(50, 900)),
                             "y": float(rng.random() < 0.3) if rng.random() > 0.1 else None})
    return pd.DataFrame(rows)


def _by_hand(frame: pd.DataFrame, area: str | None) -> float:
    """The textbook formula, written out loop by loop (independent of the Spark version)."""
    answered = frame[frame["y"].notna()]
    domain = answered if area is None else answered[answered["state"] == area]
    total_w = domain["w"].sum()
    ybar = (domain["w"] * domain["y"]).sum() / total_w
    variance = 0.0
    for stratum, in_stratum in frame.groupby("strata"):
        psus = sorted(in_stratum["psu"].unique())  # every PSU of the design
        n_h = len(psus)
        if n_h < 2:
            continue  # single-PSU stratum: no variance contribution ("certainty")
        z = []
        for psu in psus:
            rows = domain[(domain["strata"] == stratum) & (domain["psu"] == psu)]
            z.append(float((rows["w"] * (rows["y"] - ybar)).sum() / total_w))
        z = np.array(z)
        variance += n_h / (n_h - 1) * ((z - z.mean()) ** 2).sum()
    return float(np.sqrt(variance))


def test_area_and_overall_standard_errors_match_the_hand_computation(spark):
    frame = _design()
    rows = spark.createDataFrame(frame.astype(object).where(frame.notna(), None),
                                 "state string, strata double, psu double, w double, y double")
    by_area = design_standard_errors(rows, "state", "y", "w", "strata", "psu")
    got = dict(zip(by_area["state"], by_area["design_se"]))
    assert got == pytest.approx({a: _by_hand(frame, a) for a in ("A", "B")}, abs=1e-12)
    assert dict(zip(by_area["state"], by_area["singleton_strata"])) == {"A": 0, "B": 1}
    # PSUs and strata with an answer in the area: the design's degrees of freedom there.
    answered = frame[frame["y"].notna()]
    for area, row in by_area.set_index("state").iterrows():
        domain = answered[answered["state"] == area]
        assert row["psus_used"] == len(domain[["strata", "psu"]].drop_duplicates())
        assert row["strata_used"] == domain["strata"].nunique()
    overall = design_standard_errors(rows, None, "y", "w", "strata", "psu")
    assert overall["design_se"].iloc[0] == pytest.approx(_by_hand(frame, None), abs=1e-12)
    # Clustering makes the design-based error larger than a simple-random-sample one here.
    assert overall["design_se"].iloc[0] > 0


def test_weighted_aggregates_carry_the_same_design_based_interval(spark):
    """A subgroup table (aggregate with `design`) gives each group the domain standard error
    of the hand computation, and a 95 % interval around the weighted mean."""
    frame = _design()
    rows = spark.createDataFrame(frame.astype(object).where(frame.notna(), None),
                                 "state string, strata double, psu double, w double, y double")
    spec = AggregateSpec(group_by=["state"], measures={"y": ["mean", "weighted_mean"]},
                         weight="w", design={"strata": "strata", "psu": "psu"})
    table = aggregate_table(rows, "by_state", spec, "toy")
    assert list(table.columns) == spec.columns() == [
        "state", "rows", "mean_y", "weighted_mean_y", "weighted_mean_y_se",
        "weighted_mean_y_ci_low", "weighted_mean_y_ci_high"]
    got = dict(zip(table["state"], table["weighted_mean_y_se"]))
    assert got == pytest.approx({a: _by_hand(frame, a) for a in ("A", "B")}, abs=1e-12)
    half = table["weighted_mean_y_ci_high"] - table["weighted_mean_y"]
    assert half.to_numpy() == pytest.approx(1.959964 * table["weighted_mean_y_se"].to_numpy())
    with pytest.raises(ValueError, match="weighted_mean"):
        AggregateSpec(group_by=["state"], measures={"y": ["mean"]},
                      design={"strata": "strata", "psu": "psu"})
