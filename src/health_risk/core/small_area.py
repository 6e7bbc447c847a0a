"""Fay-Herriot area-level small-area estimates: EBLUP, MSE, shrinkage and synthetic estimates.

The model (Fay and Herriot 1979; Rao and Molina 2015, ch. 6) for area ``i``::

    direct_i = theta_i + e_i,   e_i ~ N(0, psi_i)        psi_i: the known sampling variance
    theta_i  = x_i' beta + v_i, v_i ~ N(0, sigma2_v)     sigma2_v: the model variance

The direct estimates and their design-based variances come from the survey; ``x_i`` are area
covariates (SAIPE poverty share, median income). ``sigma2_v`` is fitted by REML and ``beta`` by
weighted least squares given it. Per area::

    gamma_i     = sigma2_v / (sigma2_v + psi_i)                      shrinkage factor
    synthetic_i = x_i' beta
    EBLUP_i     = gamma_i direct_i + (1 - gamma_i) synthetic_i
    MSE_i       = g1 + g2 + 2 g3      (Prasad-Rao, as Datta-Lahiri for REML)

with ``g1 = gamma_i psi_i``, ``g2 = (1 - gamma_i)^2 x_i' (X' V^-1 X)^-1 x_i`` and
``g3 = (1 - gamma_i)^2 / (sigma2_v + psi_i) * 2 / sum_j (sigma2_v + psi_j)^-2``. An area without
a usable direct estimate (no respondents, fewer than the configured minimum, or a zero
variance) gets the synthetic estimate with ``MSE = sigma2_v + x_i' (X' V^-1 X)^-1 x_i``.

The fit and the in-model EBLUPs and MSEs are samplics' (``EblupAreaModel`` with
``FitMethod.reml``; they match R's ``sae::eblupFH`` / ``mseFH``: tests/core/test_small_area.py
checks R's values on samplics' milk data to 1e-6). samplics 0.6.1 is pinned; it is imported
when a model is fitted, not when pipelines are registered (it brings polars and statsmodels).
Its ``ML`` fit stops after its first iteration and the string ``"REML"`` is refused (the enum
is needed), so only REML is offered. Covariates are centred and scaled for the fit (REML and
the EBLUPs do not change under a linear reparametrisation of ``X``); ``beta`` and its standard
errors are reported in the covariates' own units.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from health_risk.core.errors import HealthRiskError
from health_risk.core.lazy_import import LAZY_IMPORT_LOCK
from health_risk.core.survey_design import Z_95

Method = Literal["REML"]
INTERCEPT = "intercept"
# Per-area columns of ``FayHerriotFit.areas``.
IN_MODEL, DIRECT, VARIANCE = "in_model", "direct", "direct_variance"
SYNTHETIC, ESTIMATE, MSE, GAMMA, KIND = "synthetic", "model_based", "model_based_mse", "gamma", \
    "model_based_kind"
EBLUP, SYNTHETIC_ONLY = "EBLUP", "synthetic"


@dataclass(frozen=True)
class FayHerriotFit:
    """A fitted model. ``areas``: one row per area of ``covariates`` (index = area) with the
    direct estimate and variance used, ``in_model``, the synthetic estimate, the model-based
    estimate (EBLUP in the model, synthetic outside it), its MSE, ``gamma`` (NaN outside the
    model) and which kind the estimate is. ``coefficients``: estimate and standard error of
    ``beta`` by name, in the covariates' units."""

    method: str
    model_variance: float
    coefficients: pd.DataFrame
    areas: pd.DataFrame
    converged: bool
    iterations: int
    log: dict[str, Any] = field(default_factory=dict)

    @property
    def fitted_areas(self) -> int:
        return int(self.areas[IN_MODEL].sum())


class SmallAreaError(HealthRiskError):
    """The area model cannot be fitted (too few areas, a constant covariate, ...)."""


def _samplics():
    # samplics warns on import that it is archived; the pinned 0.6.1 is what is checked.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with LAZY_IMPORT_LOCK:
            from samplics.sae import EblupAreaModel
            from samplics.utils.types import FitMethod
    return EblupAreaModel, FitMethod


def fit_fay_herriot(direct: pd.Series, variance: pd.Series, covariates: pd.DataFrame,
                    method: Method = "REML", tol: float = 1e-10,
                    max_iterations: int = 200) -> FayHerriotFit:
    """Fit the Fay-Herriot model and estimate every area of ``covariates`` (index = area).

    ``direct`` and ``variance`` are indexed by area too; an area takes part in the fit when it
    has a direct estimate, a positive variance and every covariate. Areas of ``covariates``
    without a usable direct estimate get the synthetic estimate; areas without every covariate
    get nothing (NaN)."""
    if method != "REML":
        raise SmallAreaError(f"method {method!r}: only REML is offered (samplics 0.6.1's ML "
                             "fit stops after its first iteration)")
    if covariates.index.has_duplicates:
        raise SmallAreaError("covariates: one row per area expected, found duplicates "
                             f"{sorted(map(str, covariates.index[covariates.index.duplicated()]))}")
    x = covariates.astype(float)
    y = pd.to_numeric(direct, errors="coerce").reindex(x.index)
    psi = pd.to_numeric(variance, errors="coerce").reindex(x.index)
    complete = x.notna().all(axis=1)
    used = complete & y.notna() & (psi > 0)
    m, p = int(used.sum()), x.shape[1] + 1
    if m < p + 2:
        raise SmallAreaError(f"{m} area(s) with a usable direct estimate and every covariate; "
                             f"the model has {p} coefficients and needs at least {p + 2}")
    centre, scale = x[used].mean(), x[used].std(ddof=0)
    constant = scale.index[~(scale > 0)].tolist()
    if constant:
        raise SmallAreaError(f"covariate(s) {constant} take one value over the fitted areas")
    z = (x - centre) / scale
    EblupAreaModel, FitMethod = _samplics()
    model = EblupAreaModel(method=FitMethod.reml)
    labels = np.arange(m)  # samplics keys its results by area: positions are unambiguous
    with np.errstate(all="ignore"), warnings.catch_warnings():
        # Its goodness-of-fit statistics take the log-determinant of an m x m matrix that can
        # underflow; they are not used here.
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(yhat=y[used].to_numpy(), X=z[used].to_numpy(), area=labels,
                  error_std=np.sqrt(psi[used].to_numpy()), intercept=True, tol=tol,
                  maxiter=max_iterations)
        model.predict(X=z[used].to_numpy(), area=labels, intercept=True)
    sigma2 = float(model.re_std) ** 2
    beta_z = np.asarray(model.fixed_effects, dtype=float)
    design = np.column_stack([np.ones(len(z)), z.to_numpy()])
    fitted = design[used.to_numpy()]
    weights = 1.0 / (sigma2 + psi[used].to_numpy())
    cov_z = np.linalg.inv(fitted.T @ (fitted * weights[:, None]))
    # beta in the covariates' own units: intercept - sum(b_j centre_j / scale_j), b_j / scale_j.
    to_units = np.eye(p)
    to_units[0, 1:] = -(centre / scale).to_numpy()
    to_units[1:, 1:] = np.diag(1.0 / scale.to_numpy())
    beta, cov = to_units @ beta_z, to_units @ cov_z @ to_units.T
    coefficients = pd.DataFrame({"estimate": beta, "se": np.sqrt(np.diag(cov))},
                                index=pd.Index([INTERCEPT, *x.columns], name="term"))
    synthetic = pd.Series(design @ beta_z, index=x.index).where(complete)
    synthetic_var = pd.Series(np.einsum("ij,jk,ik->i", design, cov_z, design),
                              index=x.index).where(complete)
    eblup = pd.Series(np.nan, index=x.index)
    mse = (sigma2 + synthetic_var).where(complete)  # outside the model: the synthetic MSE
    eblup[used] = [model.area_est[i] for i in labels]
    mse[used] = [model.area_mse[i] for i in labels]
    gamma = (sigma2 / (sigma2 + psi)).where(used)
    areas = pd.DataFrame({
        IN_MODEL: used, DIRECT: y, VARIANCE: psi, SYNTHETIC: synthetic,
        ESTIMATE: eblup.where(used, synthetic), MSE: mse, GAMMA: gamma,
        KIND: np.where(used, EBLUP, np.where(complete, SYNTHETIC_ONLY, None)),
    }, index=x.index)
    return FayHerriotFit(method=method, model_variance=sigma2, coefficients=coefficients,
                         areas=areas, converged=bool(np.all(model.convergence["achieved"])),
                         iterations=int(np.max(model.convergence["iterations"])),
                         log={"tolerance": tol, "max_iterations": max_iterations})


def mse_interval(estimate, mse, z: float = Z_95) -> tuple[pd.Series, pd.Series]:
    """The normal interval ``estimate +/- z * sqrt(MSE)`` of model-based estimates."""
    estimate, root = pd.Series(estimate, dtype=float), np.sqrt(pd.Series(mse, dtype=float))
    return estimate - z * root, estimate + z * root
