"""Direct survey estimates vs Fay-Herriot EBLUPs on a generated population with known truth.

Usage::

    python bench/bench_small_area.py [--replicates 1000] [--seed 20240] [--areas-per-size 5]

The claim under test (issue 24, docs/reporting.md): for areas with few respondents the
model-based (Fay-Herriot) estimate is closer to the true prevalence than the direct
survey-weighted one, and its interval ``estimate +/- 1.96 root-MSE`` covers the truth about 95 %
of the time. ``health_risk.core.small_area_simulation`` builds the population (areas of 20 to
800 respondents, a covariate that explains part of the differences between areas, two strata
per area with unequal weights) and, for every replicate, draws a stratified sample and computes
what the reporting pipeline computes: the direct estimate with its Taylor variance,
Korn-Graubard interval and NCHS flag, and the Fay-Herriot fit (``core.small_area``, samplics
REML) with its EBLUPs and MSEs.

How to read it: the baseline is the direct estimate, run alongside on the same samples.
``MSE model / direct`` is the mean squared error (against the known truth, over the replicates,
averaged over the areas of that size) of the model-based estimate divided by that of the direct
one: 0.25 means the EBLUP's squared error is a quarter of the direct estimate's. The
coverages are the share of replicates whose interval contained the truth (nominal 95 %);
"suppressed" is the share of replicates in which NCHS's standard suppresses the direct estimate.
The figures depend on the simulation's settings (printed), not on the machine; the run time is
reported for information. ``tests/core/test_small_area_simulation.py`` asserts the inequalities
on 200 replicates; this script records the figures (``bench/results/small_area.json``,
git-ignored).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from health_risk.core.small_area_simulation import SimulationDesign, simulate, summarise

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20240)
    parser.add_argument("--areas-per-size", type=int, default=5)
    args = parser.parse_args()
    design = SimulationDesign(areas_per_size=args.areas_per_size)
    started = time.perf_counter()
    per_area = simulate(seed=args.seed, replicates=args.replicates, design=design)
    seconds = time.perf_counter() - started
    summary = summarise(per_area)
    table = pd.DataFrame({
        "respondents": summary["respondents"], "areas": summary["areas"],
        "RMSE direct": summary["rmse_direct"].round(4),
        "RMSE model": summary["rmse_model"].round(4),
        "MSE model / direct": summary["mse_ratio_model_to_direct"].round(3),
        "coverage KG (direct)": summary["coverage_direct_kg"].round(3),
        "coverage model": summary["coverage_model"].round(3),
        "suppressed (direct)": summary["suppressed_share"].round(3)})
    print(f"{args.replicates} replicates (fitted: {int(per_area['replicates'].iloc[0])}), "
          f"seed {args.seed}, {len(per_area)} areas, {seconds:.1f} s "
          f"({1000 * seconds / args.replicates:.1f} ms per replicate)")
    print(f"settings: {asdict(design)}")
    print(table.to_markdown(index=False) if _has_tabulate() else table.to_string(index=False))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "small_area.json"
    out.write_text(json.dumps({
        "replicates": args.replicates, "seed": args.seed, "seconds": round(seconds, 2),
        "design": asdict(design), "by_size": summary.to_dict(orient="records"),
        "per_area": per_area.reset_index().to_dict(orient="records")}, indent=2, default=str))
    print(f"wrote {out}")


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
