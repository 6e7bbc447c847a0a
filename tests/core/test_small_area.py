"""The Fay-Herriot wrapper (core/small_area.py) against R's sae, and its own algebra."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from health_risk.core.small_area import (
    ESTIMATE,
    GAMMA,
    IN_MODEL,
    KIND,
    MSE,
    SYNTHETIC,
    SmallAreaError,
    fit_fay_herriot,
)


@pytest.fixture(scope="module")
def milk() -> pd.DataFrame:
    """samplics' bundled milk-expenditure data (R sae's `milk`): 43 small areas in 4 major
    areas, direct estimates and their standard errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from samplics.datasets import load_expenditure_milk
    return load_expenditure_milk()["data"].set_index("small_area")


def _major_areas(milk: pd.DataFrame) -> pd.DataFrame:
    # R: yi ~ as.factor(MajorArea), major area 1 the reference level.
    return pd.get_dummies(milk["major_area"], prefix="major", drop_first=True).astype(float)


def test_reml_fit_matches_r_sae_on_the_milk_data(milk):
    """R sae 1.3: eblupFH(yi ~ as.factor(MajorArea), SD^2, data = milk) and mseFH(...)."""
    fit = fit_fay_herriot(milk["direct_est"], milk["std_error"] ** 2, _major_areas(milk))
    assert fit.converged and fit.fitted_areas == 43
    assert fit.coefficients.loc["intercept", "estimate"] == pytest.approx(0.968188987, abs=1e-6)
    assert fit.model_variance == pytest.approx(0.0185503348, abs=1e-6)
    assert fit.areas.loc[1, ESTIMATE] == pytest.approx(1.02197054, abs=1e-6)
    assert fit.areas.loc[1, MSE] == pytest.approx(0.01346026, abs=1e-6)
    assert (fit.areas[KIND] == "EBLUP").all()


def test_eblup_is_the_gamma_weighted_mean_of_direct_and_synthetic(milk):
    fit = fit_fay_herriot(milk["direct_est"], milk["std_error"] ** 2, _major_areas(milk))
    areas = fit.areas
    gamma = fit.model_variance / (fit.model_variance + milk["std_error"] ** 2)
    assert areas[GAMMA].to_numpy() == pytest.approx(gamma.to_numpy(), abs=1e-12)
    mixed = areas[GAMMA] * areas["direct"] + (1 - areas[GAMMA]) * areas[SYNTHETIC]
    assert areas[ESTIMATE].to_numpy() == pytest.approx(mixed.to_numpy(), abs=1e-9)
    # The synthetic estimate of a major area is its intercept (+ its dummy's coefficient).
    beta = fit.coefficients["estimate"]
    assert areas.loc[milk["major_area"] == 3, SYNTHETIC].to_numpy() == pytest.approx(
        beta["intercept"] + beta["major_3"])
    # The MSE of the EBLUP is below the direct variance (what borrowing strength buys).
    assert (areas[MSE] < milk["std_error"] ** 2).all()


def test_an_area_without_a_usable_direct_estimate_gets_the_synthetic_one_and_its_mse(milk):
    direct = milk["direct_est"].copy()
    direct[[1, 2]] = np.nan  # no respondents (or fewer than the minimum)
    variance = (milk["std_error"] ** 2).where(milk.index != 3, 0.0)  # no variance: left out
    covariates = _major_areas(milk)
    covariates.loc[4, "major_2"] = np.nan  # no covariate: no model-based estimate
    fit = fit_fay_herriot(direct, variance, covariates)
    areas = fit.areas
    assert fit.fitted_areas == 39 and not areas.loc[[1, 2, 3, 4], IN_MODEL].any()
    assert areas.loc[[1, 2, 3], KIND].tolist() == ["synthetic"] * 3
    assert areas.loc[4, KIND] is None and np.isnan(areas.loc[4, ESTIMATE])
    assert np.isnan(areas.loc[1, GAMMA])
    # By hand: synthetic x'beta, MSE sigma2_v + x'(X'V^-1 X)^-1 x over the fitted areas.
    used = areas[IN_MODEL]
    x = np.column_stack([np.ones(len(covariates)), covariates.to_numpy()])
    weights = 1 / (fit.model_variance + variance[used].to_numpy())
    cov = np.linalg.inv(x[used.to_numpy()].T @ (x[used.to_numpy()] * weights[:, None]))
    row = x[0]  # area 1, major area 1
    assert areas.loc[1, ESTIMATE] == pytest.approx(row @ fit.coefficients["estimate"].to_numpy())
    assert areas.loc[1, MSE] == pytest.approx(fit.model_variance + row @ cov @ row, rel=1e-9)


def test_beta_is_reported_in_the_covariates_units_and_nothing_else_changes(milk):
    rng = np.random.default_rng(3)
    income = pd.DataFrame({"income": rng.uniform(30_000, 90_000, len(milk))}, index=milk.index)
    fit = fit_fay_herriot(milk["direct_est"], milk["std_error"] ** 2, income)
    thousands = fit_fay_herriot(milk["direct_est"], milk["std_error"] ** 2, income / 1000)
    assert thousands.model_variance == pytest.approx(fit.model_variance, rel=1e-9)
    assert thousands.areas[ESTIMATE].to_numpy() == pytest.approx(
        fit.areas[ESTIMATE].to_numpy(), rel=1e-9)
    assert thousands.areas[MSE].to_numpy() == pytest.approx(fit.areas[MSE].to_numpy(), rel=1e-8)
    assert thousands.coefficients.loc["income"].to_numpy() == pytest.approx(
        1000 * fit.coefficients.loc["income"].to_numpy(), rel=1e-8)
    assert thousands.coefficients.loc["intercept"].to_numpy() == pytest.approx(
        fit.coefficients.loc["intercept"].to_numpy(), rel=1e-8)


def test_a_model_that_cannot_be_fitted_says_why(milk):
    variance, covariates = milk["std_error"] ** 2, _major_areas(milk)
    with pytest.raises(SmallAreaError, match="needs at least 6"):
        fit_fay_herriot(milk["direct_est"].where(milk.index < 5), variance, covariates)
    constant = covariates.assign(major_2=1.0)
    with pytest.raises(SmallAreaError, match="major_2.*one value"):
        fit_fay_herriot(milk["direct_est"], variance, constant)
    with pytest.raises(SmallAreaError, match="only REML"):
        fit_fay_herriot(milk["direct_est"], variance, covariates, method="ML")
    with pytest.raises(SmallAreaError, match="duplicates"):
        fit_fay_herriot(milk["direct_est"], variance, pd.concat([covariates, covariates]))
