"""Evidence on generated data (core/small_area_simulation.py): for areas with 20-100
respondents the Fay-Herriot estimate is closer to the known prevalence than the direct one, and
its MSE-based 95 % intervals cover it as they should. Seeded; bench/bench_small_area.py records
the same figures with more replicates."""

from __future__ import annotations

import pytest

from health_risk.core.small_area_simulation import SimulationDesign, simulate, summarise


@pytest.fixture(scope="module")
def per_area():
    return simulate(seed=20240, replicates=200)  # about 3 s


def test_the_eblup_beats_the_direct_estimate_where_areas_are_small(per_area):
    assert (per_area["replicates"] == 200).all()  # every replicate fitted
    summary = summarise(per_area).set_index("respondents")
    small = [size for size in SimulationDesign().sizes if size <= 100]
    assert small == [20, 30, 50, 75, 100]
    for size in small:
        assert summary.loc[size, "mse_model"] < summary.loc[size, "mse_direct"], size
    pooled = per_area[per_area["respondents"] <= 100]
    assert pooled["mse_model"].mean() < 0.5 * pooled["mse_direct"].mean()


def test_mse_intervals_cover_the_truth_at_about_their_level(per_area):
    coverage = summarise(per_area).set_index("respondents").loc["all", "coverage_model"]
    assert 0.90 <= coverage <= 0.98
    # The direct Korn-Graubard intervals are (conservatively) valid too.
    assert per_area["coverage_direct_kg"].mean() >= 0.93
