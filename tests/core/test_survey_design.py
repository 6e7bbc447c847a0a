"""Korn-Graubard intervals and NCHS reliability flags (core/survey_design.py): against the
standard's formula computed by hand on a small generated design, and, where R's `survey` is
installed, against `svymean` / `svyciprop(method = "beta")` on a generated design."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from health_risk.core.survey_design import (
    NO_DATA,
    RELIABLE,
    REVIEW,
    SUPPRESS,
    design_standard_errors,
    korn_graubard,
    nchs_reliability,
)


def _design(seed: int, areas=("A", "B", "C")) -> pd.DataFrame:
    """Strata nested in areas, 2-4 PSUs each (ids repeat across strata), 2-7 respondents per
    PSU, unequal weights, about 8 % without an answer; one single-PSU stratum."""
    rng = np.random.default_rng(seed)
    rows = []
    for a, area in enumerate(areas):
        for s in range(3):
            stratum = 10 * a + s
            psus = 1 if (a, s) == (0, 2) else int(rng.integers(2, 5))
            prevalence = rng.uniform(0.15, 0.5)
            for psu in range(1, psus + 1):
                for _ in range(int(rng.integers(2, 8))):
                    answered = rng.random() > 0.08
                    rows.append({"state": area, "strata": float(stratum), "psu": float(psu),
                                 "w": float(rng.uniform(50, 900)),
                                 "y": float(rng.random() < prevalence) if answered else None})
    return pd.DataFrame(rows)


def _by_hand(frame: pd.DataFrame, area: str) -> dict[str, float]:
    """The weighted share, its Taylor variance (PSUs with replacement, every PSU of the design
    in n_h, single-PSU strata contributing nothing), respondents and degrees of freedom (PSUs
    minus strata with a respondent in the area), loop by loop."""
    domain = frame[(frame["state"] == area) & frame["y"].notna()]
    total = domain["w"].sum()
    p = (domain["w"] * domain["y"]).sum() / total
    variance = 0.0
    for stratum, in_stratum in frame.groupby("strata"):
        psus = sorted(in_stratum["psu"].unique())
        if len(psus) < 2:
            continue
        z = np.array([(domain.loc[(domain["strata"] == stratum) & (domain["psu"] == psu), "w"]
                       * (domain.loc[(domain["strata"] == stratum) & (domain["psu"] == psu),
                                     "y"] - p)).sum() / total for psu in psus])
        variance += len(psus) / (len(psus) - 1) * ((z - z.mean()) ** 2).sum()
    df = (domain[["strata", "psu"]].drop_duplicates().shape[0]
          - domain["strata"].nunique())
    return {"p": p, "variance": variance, "n": len(domain), "df": df}


def _standard_formula(p: float, variance: float, n: float, df: float) -> tuple[float, float]:
    """NCHS (2017), Korn and Graubard (1998): Clopper-Pearson limits in their F-distribution
    form for x = p * n_df events in n_df trials, n_df the effective sample size
    p(1 - p) / variance adjusted by (t_{n-1} / t_df)^2 (n itself when p is 0 or 1)."""
    if p in (0.0, 1.0):
        n_df = n
    else:
        n_df = p * (1 - p) / variance * (stats.t.ppf(0.975, n - 1) / stats.t.ppf(0.975, df)) ** 2
    x = p * n_df
    if x == 0:
        low = 0.0
    else:
        v1, v2 = 2 * x, 2 * (n_df - x + 1)
        f = stats.f.ppf(0.025, v1, v2)
        low = v1 * f / (v2 + v1 * f)
    if x == n_df:
        high = 1.0
    else:
        v3, v4 = 2 * (x + 1), 2 * (n_df - x)
        f = stats.f.ppf(0.975, v3, v4)
        high = v3 * f / (v4 + v3 * f)
    return low, high


def test_korn_graubard_equals_the_standards_formula_on_a_generated_design():
    frame = _design(5)
    hand = pd.DataFrame([_by_hand(frame, area) for area in ("A", "B", "C")],
                        index=["A", "B", "C"])
    got = korn_graubard(hand["p"], hand["variance"], hand["n"], hand["df"])
    assert list(got.index) == ["A", "B", "C"]
    for area, row in hand.iterrows():
        low, high = _standard_formula(row["p"], row["variance"], row["n"], row["df"])
        assert got.loc[area, ["ci_low", "ci_high"]].tolist() == pytest.approx([low, high],
                                                                               abs=1e-10)
        assert got.loc[area, "effective_n"] == pytest.approx(
            row["p"] * (1 - row["p"]) / row["variance"])
        assert got.loc[area, "ci_low"] < row["p"] < got.loc[area, "ci_high"]
    # An estimate of 0 or 1: the exact binomial interval on the n respondents.
    edge = korn_graubard([0.0, 1.0], [0.0, 0.0], [40, 25], [30, 20])
    assert edge[["ci_low", "ci_high"]].to_numpy()[0] == pytest.approx(
        _standard_formula(0.0, 0.0, 40, 30), abs=1e-12)
    assert edge[["ci_low", "ci_high"]].to_numpy()[1] == pytest.approx(
        _standard_formula(1.0, 0.0, 25, 20), abs=1e-12)
    assert edge["effective_n"].tolist() == [40, 25]
    # No variance for 0 < p < 1, or no degrees of freedom: no interval.
    undefined = korn_graubard([0.3, 0.3, np.nan], [0.0, 0.01, 0.01], [20, 20, 0], [5, 0, 0])
    assert undefined[["ci_low", "ci_high"]].isna().all().all()


@pytest.mark.parametrize("p, low, high, n_eff, df, flag, why", [
    (0.30, 0.25, 0.35, 300, 40, RELIABLE, ""),
    (0.30, 0.25, 0.35, 25, 40, SUPPRESS, "effective n 25.0 < 30"),
    (0.50, 0.36, 0.65, 40, 40, RELIABLE, ""),  # 0.29 wide
    (0.50, 0.33, 0.66, 40, 40, SUPPRESS, "CI width 0.330 >= 0.30"),
    (0.05, 0.01, 0.12, 100, 40, SUPPRESS, "relative width 220% > 130%"),
    (0.20, 0.12, 0.30, 100, 40, RELIABLE, ""),  # relative width 90 %
    (0.01, 0.001, 0.045, 400, 40, RELIABLE, ""),  # relative 440 % but width under 0.05
    (0.30, 0.25, 0.35, 300, 6, REVIEW, "degrees of freedom 6 < 8"),
    (0.00, 0.00, 0.02, 200, 40, REVIEW, "estimate is 0"),
    (1.00, 0.97, 1.00, 200, 40, REVIEW, "estimate is 1"),
    (0.00, 0.00, 0.09, 40, 40, SUPPRESS, "relative width inf% > 130%"),
    (0.30, np.nan, np.nan, np.nan, 0, SUPPRESS, "no interval"),
    (np.nan, np.nan, np.nan, np.nan, np.nan, NO_DATA, ""),
])
def test_nchs_reliability_flags_follow_the_standard(p, low, high, n_eff, df, flag, why):
    got = nchs_reliability(pd.Series([p]), [low], [high], [n_eff], [df]).iloc[0]
    assert got["reliability"] == flag
    assert why in got["reliability_reason"]
    assert bool(got["reliability_reason"]) == (flag in (SUPPRESS, REVIEW))


# --- against R's survey package --------------------------------------------------------------
R_SCRIPT = r"""
suppressMessages(library(survey))
options(survey.lonely.psu = "certainty")
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
des <- svydesign(ids = ~psu, strata = ~strata, weights = ~w, nest = TRUE, data = d)
out <- do.call(rbind, lapply(sort(unique(d$state)), function(a) {
  s <- subset(des, state == a & !is.na(y))
  m <- svymean(~y, s)
  ci <- attr(svyciprop(~y, s, method = "beta"), "ci")
  data.frame(state = a, p = coef(m)[[1]], se = SE(m)[[1]], low = ci[[1]], high = ci[[2]],
             n = nrow(s), df = degf(s))
}))
write.csv(format(out, digits = 17), args[2], row.names = FALSE)
"""


def _r_survey_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    check = "quit(status = !requireNamespace('survey', quietly = TRUE))"
    done = subprocess.run(["Rscript", "-e", check], check=False, capture_output=True,
                          timeout=120)
    return done.returncode == 0


@pytest.mark.skipif(not _r_survey_available(), reason="Rscript with R's survey package is not "
                    "installed (Debian: apt-get install r-cran-survey; .ci/run installs it)")
def test_design_se_and_korn_graubard_equal_r_survey(spark, tmp_path):
    frame = _design(17, areas=("A", "B", "C", "D"))
    rows = spark.createDataFrame(frame.astype(object).where(frame.notna(), None),
                                 "state string, strata double, psu double, w double, y double")
    errors = design_standard_errors(rows, "state", "y", "w", "strata", "psu").set_index("state")
    answered = frame[frame["y"].notna()]
    p = answered.groupby("state").apply(lambda g: (g["w"] * g["y"]).sum() / g["w"].sum(),
                                        include_groups=False)
    n = answered.groupby("state").size()
    df = errors["psus_used"] - errors["strata_used"]
    ours = korn_graubard(p, errors["design_se"].reindex(p.index) ** 2, n, df.reindex(p.index))

    frame.to_csv(tmp_path / "design.csv", index=False, na_rep="NA")
    (tmp_path / "check.R").write_text(R_SCRIPT)
    subprocess.run(["Rscript", str(tmp_path / "check.R"), str(tmp_path / "design.csv"),
                    str(tmp_path / "r.csv")], check=True, capture_output=True, timeout=120)
    r = pd.read_csv(tmp_path / "r.csv").set_index("state")
    assert list(r.index) == list(p.index) == ["A", "B", "C", "D"]
    assert p.to_numpy() == pytest.approx(r["p"].to_numpy(), abs=1e-12)
    assert errors.loc[r.index, "design_se"].to_numpy() == pytest.approx(r["se"].to_numpy(),
                                                                        abs=1e-8)
    assert n.tolist() == r["n"].tolist() and df.loc[r.index].tolist() == r["df"].tolist()
    assert ours["ci_low"].to_numpy() == pytest.approx(r["low"].to_numpy(), abs=1e-8)
    assert ours["ci_high"].to_numpy() == pytest.approx(r["high"].to_numpy(), abs=1e-8)
