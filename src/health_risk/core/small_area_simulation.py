"""Evidence that the Fay-Herriot estimates help, on a generated population whose area
prevalences are known.

Each area has a covariate ``x`` (a poverty share) and a true prevalence
``theta = intercept + slope * x + v`` with ``v ~ N(0, model_sd^2)``: the covariate explains part
of the differences between areas, not all of them. Each area's population has two strata (70 %
and 30 % of it, prevalences ``theta -/+`` a gap that averages to ``theta``); every replicate
draws a stratified sample of the area's respondents (half from the smaller stratum, so the
weights differ) and computes what the reporting pipeline computes: the survey-weighted direct
estimate, its design-based (Taylor) variance with each respondent a PSU, its Korn-Graubard
interval and NCHS flag, and the Fay-Herriot EBLUP with its MSE
(``core.small_area.fit_fay_herriot``). Within a stratum every weight is equal, so a stratum's
number of cases, drawn binomially, gives the same direct estimate and Taylor variance as the
respondents one by one::

    p_i = sum_h w_h k_h / sum_h w_h n_h
    V_i = sum_h n_h / (n_h - 1) * (w_h / sum w)^2 * n_h * q_h (1 - q_h),    q_h = k_h / n_h

``simulate`` returns one row per area (its size, truth, the mean squared error of the direct
estimate and of the model-based one over the replicates, and how often each interval covered
the truth); ``summarise`` groups them by area size. tests/core/test_small_area_simulation.py
asserts the inequalities, bench/bench_small_area.py records the figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from health_risk.core.small_area import ESTIMATE, MSE, SmallAreaError, fit_fay_herriot
from health_risk.core.survey_design import SUPPRESS, Z_95, korn_graubard, nchs_reliability


@dataclass(frozen=True)
class SimulationDesign:
    sizes: tuple[int, ...] = (20, 30, 50, 75, 100, 200, 400, 800)  # respondents per area
    areas_per_size: int = 5
    intercept: float = 0.05
    slope: float = 0.01  # prevalence per point of the covariate
    model_sd: float = 0.03  # sd of what the covariate does not explain
    covariate_range: tuple[float, float] = (5.0, 25.0)
    stratum_shares: tuple[float, float] = (0.7, 0.3)
    stratum_gap: float = 0.06  # prevalence of stratum 2 minus stratum 1
    oversampled_share: float = 0.5  # of the respondents, from stratum 2
    min_respondents: int = 20  # areas with fewer are left out of the fit (as the pipeline)


def generate_population(design: SimulationDesign, seed: int) -> pd.DataFrame:
    """One row per area: respondents per stratum, weights, covariate, true prevalences."""
    rng = np.random.default_rng(seed)
    sizes = np.repeat(np.asarray(design.sizes), design.areas_per_size)
    m = len(sizes)
    x = rng.uniform(*design.covariate_range, m)
    truth = np.clip(design.intercept + design.slope * x + rng.normal(0, design.model_sd, m),
                    0.02, 0.98)
    share_1, share_2 = design.stratum_shares
    theta_1 = np.clip(truth - design.stratum_gap * share_2, 0.0, 1.0)
    theta_2 = np.clip(truth + design.stratum_gap * share_1, 0.0, 1.0)
    n_2 = np.maximum(2, np.round(design.oversampled_share * sizes)).astype(int)
    n_1 = sizes - n_2
    return pd.DataFrame({
        "area": [f"a{i:02d}" for i in range(m)], "respondents": sizes, "covariate": x,
        # The truth is the population prevalence (stratum prevalences by population share).
        "truth": share_1 * theta_1 + share_2 * theta_2,
        "theta_1": theta_1, "theta_2": theta_2, "n_1": n_1, "n_2": n_2,
        # Weights: population share over respondents (a constant total cancels in a mean).
        "w_1": share_1 / n_1, "w_2": share_2 / n_2,
    }).set_index("area")


def draw_direct(population: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One stratified sample: direct estimate, Taylor variance, respondents and degrees of
    freedom (PSUs minus strata) per area."""
    k_1 = rng.binomial(population["n_1"], population["theta_1"])
    k_2 = rng.binomial(population["n_2"], population["theta_2"])
    n_1, n_2 = population["n_1"].to_numpy(), population["n_2"].to_numpy()
    w_1, w_2 = population["w_1"].to_numpy(), population["w_2"].to_numpy()
    total = w_1 * n_1 + w_2 * n_2
    direct = (w_1 * k_1 + w_2 * k_2) / total
    variance = sum(n / (n - 1) * (w / total) ** 2 * k * (1 - k / n)
                   for n, w, k in ((n_1, w_1, k_1), (n_2, w_2, k_2)))
    return pd.DataFrame({"direct": direct, "variance": variance,
                         "respondents": n_1 + n_2, "df": n_1 + n_2 - 2},
                        index=population.index)


def simulate(seed: int = 20240, replicates: int = 300,
             design: SimulationDesign = SimulationDesign()) -> pd.DataFrame:
    """Per area over ``replicates`` stratified samples: the mean squared error of the direct
    and of the model-based estimate against the truth, the coverage of the direct
    Korn-Graubard interval and of the model-based ``estimate +/- 1.96 sqrt(MSE)``, and the share
    of replicates whose direct estimate NCHS would suppress."""
    population = generate_population(design, seed)
    rng = np.random.default_rng(seed + 1)
    truth = population["truth"].to_numpy()
    covariates = population[["covariate"]]
    sums = {name: np.zeros(len(population)) for name in
            ("direct_se", "model_se", "direct_covered", "model_covered", "suppressed")}
    fitted = 0
    for _ in range(replicates):
        sample = draw_direct(population, rng)
        usable = sample["respondents"] >= design.min_respondents
        try:
            fit = fit_fay_herriot(sample["direct"].where(usable), sample["variance"],
                                  covariates)
        except SmallAreaError:
            continue
        fitted += 1
        estimate, mse = fit.areas[ESTIMATE].to_numpy(), fit.areas[MSE].to_numpy()
        kg = korn_graubard(sample["direct"], sample["variance"], sample["respondents"],
                           sample["df"])
        flags = nchs_reliability(sample["direct"], kg["ci_low"], kg["ci_high"],
                                 kg["effective_n"], sample["df"])
        direct = sample["direct"].to_numpy()
        sums["direct_se"] += (direct - truth) ** 2
        sums["model_se"] += (estimate - truth) ** 2
        sums["direct_covered"] += ((kg["ci_low"].to_numpy() <= truth)
                                   & (truth <= kg["ci_high"].to_numpy()))
        sums["model_covered"] += np.abs(estimate - truth) <= Z_95 * np.sqrt(mse)
        sums["suppressed"] += (flags["reliability"] == SUPPRESS).to_numpy()
    if not fitted:
        raise SmallAreaError("no replicate could be fitted")
    return population[["respondents", "covariate", "truth"]].assign(
        mse_direct=sums["direct_se"] / fitted, mse_model=sums["model_se"] / fitted,
        coverage_direct_kg=sums["direct_covered"] / fitted,
        coverage_model=sums["model_covered"] / fitted,
        suppressed_share=sums["suppressed"] / fitted, replicates=fitted)


def summarise(per_area: pd.DataFrame) -> pd.DataFrame:
    """By area size: mean MSE of each estimate over the areas (and their root), the ratio
    model / direct, the coverages and the suppressed share; a last row over every area."""
    columns = ["mse_direct", "mse_model", "coverage_direct_kg", "coverage_model",
               "suppressed_share"]
    groups = per_area.groupby("respondents")[columns].mean()
    groups.loc["all"] = per_area[columns].mean()
    groups.insert(0, "areas", [*per_area.groupby("respondents").size(), len(per_area)])
    groups["rmse_direct"] = np.sqrt(groups["mse_direct"])
    groups["rmse_model"] = np.sqrt(groups["mse_model"])
    groups["mse_ratio_model_to_direct"] = groups["mse_model"] / groups["mse_direct"]
    return groups.rename_axis("respondents").reset_index()
