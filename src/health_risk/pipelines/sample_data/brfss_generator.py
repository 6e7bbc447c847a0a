"""Synthetic CDC BRFSS 2023-style annual survey table (the ``LLCP{YYYY}.XPT`` layout).

``generate_brfss_survey(n_rows, seed, year, spec)`` returns a pandas DataFrame with the 2023
variable names, codes and skip patterns of the real file, ready for ``pyreadstat.write_xport``:
numeric columns are float64 with NaN for BLANK, character columns hold Python ``str``.

How a record is made (all vectorised, one ``numpy.random.default_rng(seed)``):

1. A latent person is drawn first, in causal order: state, sex, age, race, education, an
   unobserved ``frailty`` score, employment, marital status, income, household, insurance, body
   size, smoking, exercise, chronic conditions, access to care, alcohol, and finally
   ``P(fair/poor health) = sigmoid(intercept + effects)`` whose intercept is solved on the drawn
   sample to hit the codebook's 19 % (self-rated health is what the project models, so it has to
   carry believable signal).
2. Every substantive answer is drawn so that its marginal share equals the codebook's
   ``percentage``: yes/no items use a logistic model with a solved intercept, categorical items
   rake per-category multipliers of a log-linear model, ordinal items cut a latent score at
   quantiles.
3. Don't know / refused codes (7/9, 77/99, ...) then overwrite answers at their codebook shares,
   partial completes lose the items after their break-off point (BLANK), and the calculated
   ``_`` variables are derived from the *observed* answers with the codebook's rules, so they stay
   consistent with their sources (e.g. ``_RFHLTH`` 9 where ``GENHLTH`` is 7/9).
4. ``_LLCPWT`` starts lognormal and is raked to the codebook's weighted shares of age, sex, race,
   education and state, summing to the adult population (``design.weights.total``).

Everything numeric (shares, missing codes, effect sizes) lives in the YAML spec
(``conf/base/parameters/sample_data_brfss_spec.yml``, key ``brfss_survey_spec``); the code only
knows the questionnaire's structure. Effects refer to these latent features:

``state_oversampling`` (log of the state's unweighted / weighted share); ``age10``
(age - 50) / 10; ``young`` 18-24; ``age25_44``; ``age45_64``; ``senior`` 65+; ``age75p``;
``male``; ``female``; ``white``, ``black``, ``aian``, ``asian``, ``nhpi``, ``hispanic`` (from
``_RACE``); ``edu_z`` standardised education level; ``no_hs``; ``college``;
``frailty``; ``employed`` (for wages), ``self_employed``, ``out_of_work``, ``student``,
``retired``, ``unable`` (to work); ``partnered`` (married or unmarried couple); ``income_z``;
``low_income`` (< $25k); ``high_income`` (>= $100k); ``veteran``; ``no_coverage``; ``obese``;
``underweight``; ``cur_smoker``; ``former_smoker``; ``no_exercise``; each chronic condition by
its variable name (``CVDINFR4`` ...); ``n_chronic``; ``medcost``; ``drinker``; ``fair_poor``.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

BRFSS_COLUMNS: tuple[str, ...] = (
    "_STATE", "FMONTH", "IDATE", "IMONTH", "IDAY", "IYEAR", "DISPCODE", "SEQNO", "_PSU",
    "SEXVAR", "GENHLTH", "PHYSHLTH", "MENTHLTH", "POORHLTH", "PRIMINS1", "PERSDOC3", "MEDCOST1",
    "CHECKUP1", "EXERANY2", "BPHIGH6", "TOLDHI3", "CVDINFR4", "CVDCRHD4", "CVDSTRK3", "ASTHMA3",
    "CHCSCNC1", "CHCOCNC1", "CHCCOPD3", "ADDEPEV3", "CHCKDNY2", "HAVARTH4", "DIABETE4", "MARITAL",
    "EDUCA", "RENTHOM1", "VETERAN3", "EMPLOY1", "CHILDREN", "INCOME3", "WEIGHT2", "HEIGHT3",
    "DIFFWALK", "SMOKE100", "ALCDAY4", "HHADULT", "_STSTR", "_LLCPWT", "_RFHLTH", "_PHYS14D",
    "_MENT14D", "_HLTHPL1", "_TOTINDA", "_RACE", "_SEX", "_AGEG5YR", "_AGE80", "_AGE_G", "HTM4",
    "WTKG3", "_BMI5", "_BMI5CAT", "_RFBMI5", "_EDUCAG", "_INCOMG1", "_SMOKER3", "DRNKANY6",
    "_RFBING6", "_URBSTAT",
)
CHAR_COLUMNS: frozenset[str] = frozenset({"IDATE", "IMONTH", "IDAY", "IYEAR", "SEQNO"})

# Lower edges of the 5-year age groups of _AGEG5YR 1..13 (group 13 is 80+).
_AGE_GROUP_LOW = np.array([18, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80])
# Age bands of the spec's `age_band_weights` tables: 18-24, 25-34, ..., 65-74, 75+.
_AGE_BAND_EDGES = np.array([25, 35, 45, 55, 65, 75])
# Raking multipliers are fitted on at most this many rows (rows are i.i.d., so the first rows
# are a random sample); sampling error of the resulting shares stays below ~0.2 points.
_FIT_ROWS = 100_000


@dataclass
class _Survey:
    """Mutable state of one generation run."""

    n: int
    rng: np.random.Generator
    year: int
    feat: dict[str, np.ndarray] = field(default_factory=dict)  # latent features (float 0/1, z)
    out: dict[str, np.ndarray] = field(default_factory=dict)  # observed columns
    hidden: dict[str, np.ndarray] = field(default_factory=dict)  # latent values for derivations


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def generate_brfss_survey(n_rows: int, seed: int, year: int, spec: dict) -> pd.DataFrame:
    """Generate ``n_rows`` BRFSS-style interviews for survey ``year``.

    Args:
        n_rows: number of records (interviews).
        seed: seed of ``numpy.random.default_rng``; the same seed gives the same frame.
        year: survey year (IYEAR is ``year`` or, for late interviews, ``year + 1``).
        spec: the ``brfss_survey_spec`` mapping of ``sample_data_brfss_spec.yml``.

    Returns:
        DataFrame with ``BRFSS_COLUMNS``, then the spec's ``other_questions`` (unmodelled,
        drawn independently; none when the spec lists none); numeric columns float64 (NaN = BLANK),
        ``CHAR_COLUMNS`` as ``str`` objects. ``_PSU`` = ``year * 1e6 + row number`` and SEQNO is
        the same number as 10 characters (unique; beyond 999,999 rows it runs past the year
        prefix).
    """
    frame, _truth = _simulate(n_rows, seed, year, spec)
    return frame


def in_year_layout(frame: pd.DataFrame, year: int, spec: Mapping) -> pd.DataFrame:
    """``frame`` (the generator's 2023 layout) with ``year``'s variable names and codes: the
    spec's ``file_layouts.<year>`` recodes (2023 code -> that year's), renames, and the
    variables that year did not have removed. A year without a layout keeps the 2023 one."""
    layout = (spec.get("file_layouts") or {}).get(int(year))
    if not layout:
        return frame
    out = frame.drop(columns=[c for c in layout.get("absent") or [] if c in frame.columns])
    for column, codes in (layout.get("recode") or {}).items():
        out[column] = out[column].replace({float(k): float(v) for k, v in codes.items()})
    return out.rename(columns=dict(layout.get("rename") or {}))


def _simulate(n_rows: int, seed: int, year: int, spec: Mapping) -> tuple[pd.DataFrame, dict]:
    """Run the generator; also return the latent truth (``p_fair_poor``, ``fair_poor``)."""
    if int(n_rows) < 1:
        raise ValueError(f"n_rows must be positive, got {n_rows!r}")
    s = _Survey(n=int(n_rows), rng=np.random.default_rng(seed), year=int(year))
    design, demo = spec["design"], spec["demographics"]

    _draw_design_ids(s, design)
    _draw_interview_dates(s, spec["interview"])
    _draw_sex_age(s, demo["sex"], demo["age"])
    _draw_frame_and_strata(s, design)
    _draw_breakoff(s, design)
    _draw_race(s, demo["race"])
    _draw_education(s, demo["education"])
    # Unobserved health reserve: correlates conditions, disability and fair/poor health the way
    # real comorbidity does, and keeps the observable signal below the true-probability signal.
    s.feat["frailty"] = s.rng.standard_normal(s.n)
    _draw_employment(s, demo["employment"])
    _draw_marital(s, demo["marital"])
    _draw_income(s, demo["income"])
    _draw_household(s, demo)
    _draw_insurance(s, spec["health_care"]["PRIMINS1"])
    _draw_body(s, spec["body"])
    _draw_smoking(s, spec["behaviours"]["smoking"])
    _draw_exercise(s, spec["behaviours"]["exercise"])
    _draw_conditions(s, spec["conditions"])
    _draw_care_access(s, spec["health_care"])
    _draw_alcohol(s, spec["behaviours"]["alcohol"])
    truth = _draw_health_status(s, spec["health_status"])
    _draw_urban(s, design["urban"])

    _apply_breakoff(s, design["breakoff_blank_share"])
    _derive_calculated(s)
    _draw_weights(s, design, demo)
    frame = _assemble(s)
    return _with_other_questions(frame, s, spec.get("other_questions") or {}), truth


# --------------------------------------------------------------------------------------------
# Generic drawing helpers
# --------------------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -500.0, 500.0)))


def _codes_and_shares(mapping: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """Codes (float) and shares normalised to 1 from a ``{code: share}`` mapping."""
    codes = np.array([float(c) for c in mapping], dtype=float)
    shares = np.array([float(v) for v in mapping.values()], dtype=float)
    if (shares < 0).any() or shares.sum() <= 0:
        raise ValueError(f"invalid shares {dict(mapping)!r}")
    return codes, shares / shares.sum()


def _linear(s: _Survey, effects: Mapping | None) -> np.ndarray:
    """Sum of ``coef * feature`` over the spec's effects."""
    lin = np.zeros(s.n)
    for name, coef in (effects or {}).items():
        if name not in s.feat:
            raise KeyError(
                f"effect on unknown or not yet drawn feature {name!r}; known: {sorted(s.feat)}"
            )
        lin += float(coef) * s.feat[name]
    return lin


def _solve_intercept(lin: np.ndarray, target: float) -> float:
    """Intercept b with mean(sigmoid(lin + b)) == target (safeguarded Newton on a bracket)."""
    if not 0.0 < target < 1.0:
        raise ValueError(f"target share must be in (0, 1), got {target}")
    if lin.size == 0:  # nobody eligible (tiny samples): any intercept will do
        return 0.0
    lo, hi = -60.0, 60.0
    b = float(np.log(target / (1.0 - target)) - np.median(lin))
    for _ in range(100):
        p = _sigmoid(lin + b)
        gap = p.mean() - target
        if abs(gap) < 1e-10:
            break
        if gap > 0:
            hi = b
        else:
            lo = b
        slope = float((p * (1.0 - p)).mean())
        step = b - gap / slope if slope > 1e-12 else 0.5 * (lo + hi)
        b = step if lo < step < hi else 0.5 * (lo + hi)
    return b


def _draw_binary(
    s: _Survey, effects: Mapping | None, target: float, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Logistic yes/no draw whose yes share (within ``mask``) is ``target``."""
    lin = _linear(s, effects)
    fit = lin if mask is None else lin[mask]
    prob = _sigmoid(lin + _solve_intercept(fit, target))
    if mask is not None:
        prob = np.where(mask, prob, 0.0)
    return s.rng.random(s.n) < prob, prob


def _rake_multipliers(weights: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per-column multipliers so that mean row-normalised probabilities equal ``targets``."""
    fit = weights[:_FIT_ROWS]
    mult = np.ones(weights.shape[1])
    if fit.shape[0] == 0:
        return mult
    for _ in range(200):
        prob = fit * mult
        prob /= prob.sum(axis=1, keepdims=True)
        got = prob.mean(axis=0)
        if np.abs(got - targets).max() < 1e-6:
            break
        mult *= np.where(got > 0, targets / np.maximum(got, 1e-300), 1.0)
    return mult


def _draw_categorical(
    s: _Survey,
    shares: Mapping,
    effects: Mapping | None = None,
    base: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Draw one code per row from a log-linear model raked to the codebook shares.

    Row weights are ``base[row, code] * exp(sum of the code's effects)``; a multiplier per code is
    then fitted so that the expected share of each code equals ``shares``. Rows outside ``mask``
    get NaN.
    """
    codes, targets = _codes_and_shares(shares)
    unknown = set(effects or {}) - set(shares)
    if unknown:
        raise KeyError(f"effects for codes {sorted(unknown)} that have no share")
    rows = np.arange(s.n) if mask is None else np.flatnonzero(mask)
    logw = np.zeros((rows.size, codes.size))
    for j, code in enumerate(shares):
        eff = (effects or {}).get(code)
        if eff:
            logw[:, j] = _linear(s, eff)[rows]
    weights = np.exp(logw - logw.max(axis=1, keepdims=True))
    if base is not None:
        weights *= base[rows]
    weights *= _rake_multipliers(weights, targets)
    cum = np.cumsum(weights, axis=1)
    u = s.rng.random(s.n)[rows] * cum[:, -1]
    idx = np.minimum((u[:, None] > cum).sum(axis=1), codes.size - 1)
    result = np.full(s.n, np.nan)
    result[rows] = codes[idx]
    return result


def _ordinal_cut(score: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Category index 0..k-1 from cutting ``score`` at the quantiles of the cumulative shares."""
    cum = np.cumsum(shares)[:-1] / shares.sum()
    return np.searchsorted(np.quantile(score, cum), score, side="right")


def _sample_codes(s: _Survey, shares: Mapping) -> np.ndarray:
    codes, probs = _codes_and_shares(shares)
    return s.rng.choice(codes, size=s.n, p=probs)


def _overwrite_missing(s: _Survey, values: np.ndarray, missing: Mapping | None) -> np.ndarray:
    """Replace answers by don't know / refused codes at their shares (non-BLANK rows only).

    Applied after the latent draws, independently of the answer, as the codebook shares are
    shares of all non-blank records.
    """
    u = s.rng.random(s.n)
    answered = ~np.isnan(values)
    edge = 0.0
    for code, share in (missing or {}).items():
        hit = answered & (u >= edge) & (u < edge + float(share))
        values[hit] = float(code)
        edge += float(share)
    return values


def _substantive_share(share: float, missing: Mapping | None) -> float:
    """Latent prevalence among people who answer, from a codebook share of all answers."""
    return float(share) / (1.0 - sum(float(v) for v in (missing or {}).values()))


def _yes_no(flag: np.ndarray) -> np.ndarray:
    return np.where(flag, 1.0, 2.0)


# --------------------------------------------------------------------------------------------
# Sample design, identifiers and interview dates
# --------------------------------------------------------------------------------------------


def _draw_design_ids(s: _Survey, design: Mapping) -> None:
    """State at the unweighted shares and running identifiers."""
    fips = np.array([float(k) for k in design["states"]])
    shares = np.array([[float(x) for x in v] for v in design["states"].values()])
    pick = s.rng.choice(fips.size, size=s.n, p=shares[:, 0] / shares[:, 0].sum())
    s.out["_STATE"] = fips[pick]
    # Small states are over-sampled (unweighted share >> weighted share); rural counties are
    # concentrated there, which is why rural records get small weights.
    s.feat["state_oversampling"] = np.log(shares[:, 0] / shares[:, 1])[pick]
    serial = np.arange(1, s.n + 1, dtype=np.int64) + s.year * 1_000_000
    s.out["_PSU"] = serial.astype(float)
    s.out["SEQNO"] = np.array([f"{v:010d}" for v in serial.tolist()], dtype=object)


def _draw_breakoff(s: _Survey, design: Mapping) -> None:
    """Break-off point per record (uniform overall) and DISPCODE.

    Partial completes are the lowest values, and an item is BLANK when the record broke off
    before it (see _apply_breakoff). Ranking a noisy score keeps the point exactly uniform while
    letting younger (cell-phone) respondents break off more often.
    """
    # Positive effects = more prone to break off = lower point.
    score = -_linear(s, design.get("breakoff_effects")) + s.rng.logistic(size=s.n)
    point = np.empty(s.n)
    point[np.argsort(score, kind="stable")] = (np.arange(s.n) + 0.5) / s.n
    s.hidden["breakoff"] = point
    partial = point < float(design["partial_complete_share"])
    s.out["DISPCODE"] = np.where(partial, 1200.0, 1100.0)


def _interview_month_joint(spec: Mapping) -> np.ndarray:
    """Joint shares of (file month 1..12) x (interview month 1..12 of year, Jan/Feb of year+1).

    Starts from a prior on the lag between file and interview month and is fitted by iterative
    proportional fitting to both codebook margins (FMONTH and IMONTH with IYEAR).
    """
    fmonth = np.asarray(spec["fmonth_shares"], dtype=float)
    imonth = np.asarray(spec["imonth_shares"], dtype=float)
    late_months = np.asarray(spec["late_month_shares"], dtype=float)
    late = float(spec["late_share"])
    cols = np.concatenate([imonth / imonth.sum(), np.zeros(late_months.size)])
    cols[12:] = late * late_months / late_months.sum()
    cols[: late_months.size] -= cols[12:]
    if (cols < 0).any():
        raise ValueError("late interviews exceed the IMONTH share of their month")
    prior = np.asarray(spec["lag_prior"], dtype=float)
    lag = np.arange(1, cols.size + 1)[None, :] - np.arange(1, 13)[:, None]
    joint = np.where((lag >= 0) & (lag < prior.size), prior[np.clip(lag, 0, prior.size - 1)], 0.0)
    rows = fmonth / fmonth.sum()
    for _ in range(500):
        joint *= (rows / joint.sum(axis=1))[:, None]
        joint *= (cols / np.maximum(joint.sum(axis=0), 1e-300))[None, :]
    return joint / joint.sum()


def _draw_interview_dates(s: _Survey, spec: Mapping) -> None:
    """FMONTH, IMONTH, IDAY, IYEAR and IDATE (MMDDYYYY), mutually consistent."""
    joint = _interview_month_joint(spec)
    cell = s.rng.choice(joint.size, size=s.n, p=joint.ravel())
    fmonth = cell // joint.shape[1] + 1
    col = cell % joint.shape[1]
    late = (col >= 12).astype(np.int64)  # interviewed in January/February of year + 1
    imonth = np.where(late == 1, col - 11, col + 1)

    day = s.rng.choice(np.arange(1, 32), size=s.n, p=_normalised(spec["iday_shares"]))
    days_in = np.array(
        [[0] + [calendar.monthrange(s.year + k, m)[1] for m in range(1, 13)] for k in (0, 1)]
    )
    dim = days_in[late, imonth]
    redraw = np.floor(s.rng.random(s.n) * dim).astype(np.int64) + 1
    day = np.where(day > dim, redraw, day)  # e.g. no 30 February: pick a valid day instead

    two_digits = np.array([f"{i:02d}" for i in range(32)], dtype=object)
    years = (s.year, s.year + 1)
    idate = np.array(
        [[[f"{m:02d}{d:02d}{y:04d}" for d in range(32)] for m in range(13)] for y in years],
        dtype=object,
    )
    s.out["FMONTH"] = fmonth.astype(float)
    s.out["IMONTH"] = two_digits[imonth]
    s.out["IDAY"] = two_digits[day]
    s.out["IYEAR"] = np.array([str(y) for y in years], dtype=object)[late]
    s.out["IDATE"] = idate[late, imonth, day]


def _normalised(values) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    return arr / arr.sum()


def _draw_frame_and_strata(s: _Survey, design: Mapping) -> None:
    """Landline vs cell-phone frame (older people on landlines) and _STSTR."""
    landline, _ = _draw_binary(s, design.get("landline_effects"), float(design["landline_share"]))
    s.hidden["landline"] = landline
    strata = design["strata"]
    lo, hi = int(strata["min_per_state"]), int(strata["max_per_state"])
    fips = s.out["_STATE"].astype(np.int64)
    n_sub = lo + fips % (hi - lo + 1)
    sub = np.floor(s.rng.random(s.n) * n_sub).astype(np.int64) + 1
    frame = np.where(landline, 1, 2)
    s.out["_STSTR"] = (fips * 1000 + frame * 10 + sub).astype(float)


# --------------------------------------------------------------------------------------------
# Demographics
# --------------------------------------------------------------------------------------------


def _draw_sex_age(s: _Survey, sex_spec: Mapping, age_spec: Mapping) -> None:
    """SEXVAR and one drawn age behind _AGEG5YR, _AGE80 and _AGE_G."""
    sex = _sample_codes(s, sex_spec["shares"])
    s.out["SEXVAR"] = sex
    s.feat["male"] = (sex == 1).astype(float)
    s.feat["female"] = (sex == 2).astype(float)

    group = s.rng.choice(13, size=s.n, p=_normalised(age_spec["group_shares"]))
    width = np.diff(np.append(_AGE_GROUP_LOW, 85))
    within = np.floor(s.rng.random(s.n) * width[group])
    over_80 = np.minimum(np.floor(s.rng.exponential(float(age_spec["oldest_mean_years_over_80"]),
                                                    s.n)), 19)
    age = np.where(group == 12, 80 + over_80, _AGE_GROUP_LOW[group] + within)
    s.hidden["age"] = age
    s.out["_AGE80"] = np.minimum(age, 80.0)
    s.out["_AGE_G"] = np.searchsorted([25, 35, 45, 55, 65], age, side="right") + 1.0
    # Reported age missing for some (more often in middle age, as in the codebook): _AGEG5YR 14,
    # while _AGE80/_AGE_G keep the imputed age as CDC does.
    refused = s.rng.random(s.n) < np.asarray(age_spec["refused_share"], dtype=float)[group]
    s.out["_AGEG5YR"] = np.where(refused, 14.0, group + 1.0)

    s.hidden["band"] = np.searchsorted(_AGE_BAND_EDGES, age, side="right")
    s.feat["age10"] = (age - 50.0) / 10.0
    s.feat["young"] = (age < 25).astype(float)
    s.feat["age25_44"] = ((age >= 25) & (age < 45)).astype(float)
    s.feat["age45_64"] = ((age >= 45) & (age < 65)).astype(float)
    s.feat["senior"] = (age >= 65).astype(float)
    s.feat["age75p"] = (age >= 75).astype(float)


def _draw_race(s: _Survey, spec: Mapping) -> None:
    """_RACE from the national mix, younger cohorts more diverse, territories their own mix."""
    codes, national = _codes_and_shares(spec["shares"])
    base = np.tile(national, (s.n, 1))
    for fips, mix in (spec.get("state_shares") or {}).items():
        row = np.array([float(mix.get(int(c), 0.0)) for c in codes])
        base[s.out["_STATE"] == float(fips)] = row / row.sum()
    race = _draw_categorical(s, spec["shares"], spec.get("effects"), base=base)
    for name, code in (("white", 1), ("black", 2), ("aian", 3), ("asian", 4), ("nhpi", 5),
                       ("hispanic", 8)):
        s.feat[name] = (race == code).astype(float)
    s.out["_RACE"] = _overwrite_missing(s, race, spec.get("missing"))


def _draw_education(s: _Survey, spec: Mapping) -> None:
    """EDUCA from a latent attainment score cut at the codebook shares."""
    codes, shares = _codes_and_shares(spec["shares"])
    score = _linear(s, spec.get("effects")) + float(spec["noise_sd"]) * s.rng.standard_normal(s.n)
    educa = codes[_ordinal_cut(score, shares)]
    s.feat["edu_z"] = (educa - educa.mean()) / max(educa.std(), 1e-9)
    s.feat["no_hs"] = (educa <= 3).astype(float)
    s.feat["college"] = (educa == 6).astype(float)
    s.out["EDUCA"] = _overwrite_missing(s, educa.copy(), spec.get("missing"))


def _band_base(s: _Survey, table) -> np.ndarray:
    return np.asarray(table, dtype=float)[s.hidden["band"]]


def _draw_employment(s: _Survey, spec: Mapping) -> None:
    """EMPLOY1: students young, retirees old, frailty pushes towards unable to work."""
    employ = _draw_categorical(s, spec["shares"], spec.get("effects"),
                               base=_band_base(s, spec["age_band_weights"]))
    for name, codes in (("employed", (1,)), ("self_employed", (2,)), ("out_of_work", (3, 4)),
                        ("student", (6,)), ("retired", (7,)), ("unable", (8,))):
        s.feat[name] = np.isin(employ, codes).astype(float)
    s.out["EMPLOY1"] = _overwrite_missing(s, employ, spec.get("missing"))


def _draw_marital(s: _Survey, spec: Mapping) -> None:
    marital = _draw_categorical(s, spec["shares"], spec.get("effects"),
                                base=_band_base(s, spec["age_band_weights"]))
    s.feat["partnered"] = np.isin(marital, (1, 6)).astype(float)
    s.out["MARITAL"] = _overwrite_missing(s, marital, spec.get("missing"))


def _draw_income(s: _Survey, spec: Mapping) -> None:
    """INCOME3 from a latent household-income score (education, age, work, partner, race)."""
    codes, shares = _codes_and_shares(spec["shares"])
    score = _linear(s, spec.get("effects")) + float(spec["noise_sd"]) * s.rng.standard_normal(s.n)
    income = codes[_ordinal_cut(score, shares)]
    s.feat["income_z"] = (income - income.mean()) / max(income.std(), 1e-9)
    s.feat["low_income"] = (income <= 4).astype(float)
    s.feat["high_income"] = (income >= 9).astype(float)
    # Nearly one answer in five is don't know / refused: applied independently of the true value.
    s.out["INCOME3"] = _overwrite_missing(s, income.copy(), spec.get("missing"))


def _draw_household(s: _Survey, demo: Mapping) -> None:
    """CHILDREN, HHADULT (cell-phone interviews only), RENTHOM1 and VETERAN3."""
    kids = demo["children"]
    has_kids, _ = _draw_binary(s, kids.get("effects"),
                               _substantive_share(kids["any_share"], kids.get("missing")))
    count = _sample_codes(s, kids["count_shares"])
    children = np.where(has_kids, count, float(kids["none_code"]))
    s.out["CHILDREN"] = _overwrite_missing(s, children, kids.get("missing"))

    adults_spec = demo["household_adults"]
    extra = s.rng.poisson(float(adults_spec["extra_adults_mean"])
                          + float(adults_spec["young_extra_mean"]) * s.feat["young"])
    adults = np.minimum(1.0 + s.feat["partnered"] + extra, float(adults_spec["max_adults"]))
    adults = np.where(s.hidden["landline"], np.nan, adults)  # not asked on landline
    s.out["HHADULT"] = _overwrite_missing(s, adults, adults_spec.get("missing"))

    home = demo["home"]
    s.out["RENTHOM1"] = _overwrite_missing(
        s, _draw_categorical(s, home["shares"], home.get("effects")), home.get("missing"))

    vet = demo["veteran"]
    veteran, _ = _draw_binary(s, vet.get("effects"),
                              _substantive_share(vet["share"], vet.get("missing")))
    s.feat["veteran"] = veteran.astype(float)
    s.out["VETERAN3"] = _overwrite_missing(s, _yes_no(veteran), vet.get("missing"))


def _draw_insurance(s: _Survey, spec: Mapping) -> None:
    """PRIMINS1: Medicare at 65+, Medicaid for low income, uninsured mostly young, low income."""
    primins = _draw_categorical(s, spec["shares"], spec.get("effects"))
    s.feat["no_coverage"] = (primins == 88).astype(float)
    s.out["PRIMINS1"] = _overwrite_missing(s, primins, spec.get("missing"))


# --------------------------------------------------------------------------------------------
# Body size, behaviours, conditions, access to care
# --------------------------------------------------------------------------------------------


def _draw_body(s: _Survey, spec: Mapping) -> None:
    """Height by sex and BMI by age/SES, turned into WEIGHT2 (lb) and HEIGHT3 (ft/in)."""
    hspec = spec["height_inches"]
    mean = np.where(s.feat["male"] == 1, hspec["male"][0], hspec["female"][0])
    sd = np.where(s.feat["male"] == 1, hspec["male"][1], hspec["female"][1])
    inches = np.clip(np.round(mean + sd * s.rng.standard_normal(s.n)), hspec["min"], hspec["max"])

    bmi_spec = spec["bmi"]
    score = _linear(s, bmi_spec.get("effects")) + float(bmi_spec["noise_sd"]) * \
        s.rng.standard_normal(s.n)
    # Rank-map the score onto the BMI distribution whose category shares are the codebook's.
    ranks = np.empty(s.n)
    ranks[np.argsort(score, kind="stable")] = (np.arange(s.n) + 0.5) / s.n
    bmi = np.interp(ranks, bmi_spec["cdf"], bmi_spec["knots"])
    pounds = np.clip(np.floor(bmi * inches**2 / 703.0704 + 0.5), 60, 650)
    s.feat["obese"] = (bmi >= 30).astype(float)
    s.feat["underweight"] = (bmi < 18.5).astype(float)

    # Don't know / refused, clustered: withholding height makes withholding weight likely.
    h_miss = spec["HEIGHT3"]["missing"]
    w_miss = spec["WEIGHT2"]["missing"]
    p_h = sum(float(v) for v in h_miss.values())
    p_w = sum(float(v) for v in w_miss.values())
    q = float(spec["weight_missing_if_height_missing"])
    height_gap = s.rng.random(s.n) < p_h
    p_w_rest = max(p_w - p_h * q, 0.0) / (1.0 - p_h)
    weight_gap = s.rng.random(s.n) < np.where(height_gap, q, p_w_rest)

    s.out["HEIGHT3"] = np.where(height_gap, _sample_codes(s, h_miss),
                                (inches // 12) * 100 + inches % 12)
    s.out["WEIGHT2"] = np.where(weight_gap, _sample_codes(s, w_miss), pounds)


def _draw_smoking(s: _Survey, spec: Mapping) -> None:
    """Latent smoking status (every day / some days / former / never) -> SMOKE100."""
    status = _draw_categorical(s, spec["shares"], spec.get("effects"))
    s.hidden["smoker_status"] = status
    s.hidden["smokeday_gap"] = s.rng.random(s.n) < float(spec["smokeday_missing_share"])
    s.feat["cur_smoker"] = np.isin(status, (1, 2)).astype(float)
    s.feat["former_smoker"] = (status == 3).astype(float)
    s.out["SMOKE100"] = _overwrite_missing(s, np.where(status <= 3, 1.0, 2.0),
                                           spec.get("SMOKE100_missing"))


def _draw_exercise(s: _Survey, spec: Mapping) -> None:
    active, _ = _draw_binary(s, spec.get("effects"),
                             _substantive_share(spec["share"], spec.get("missing")))
    s.feat["no_exercise"] = (~active).astype(float)
    s.out["EXERANY2"] = _overwrite_missing(s, _yes_no(active), spec.get("missing"))


def _draw_conditions(s: _Survey, spec: Mapping) -> None:
    """Chronic conditions in spec order; each may depend on earlier ones (e.g. CHD on MI)."""
    for var, item in spec["items"].items():
        missing = item.get("missing")
        others = item.get("other_shares")
        asked = None
        if "blank_share" in item:  # skip pattern: not asked (e.g. cholesterol never checked)
            skipped, _ = _draw_binary(s, item.get("blank_effects"), float(item["blank_share"]))
            asked = ~skipped
        if others:
            target = float(item["share"]) / (float(item["share"]) + sum(others.values()))
        else:
            target = _substantive_share(item["share"], missing)
        has, _ = _draw_binary(s, item.get("effects"), target, mask=asked)
        s.feat[var] = has.astype(float)
        answer = _yes_no(has)
        if others:  # split the "no" answers (pregnancy only, borderline, plain no)
            split = _draw_categorical(s, others, item.get("other_effects"), mask=~has)
            answer = np.where(has, 1.0, split)
        if asked is not None:
            answer = np.where(asked, answer, np.nan)
        s.out[var] = _overwrite_missing(s, answer, missing)
    s.feat["n_chronic"] = sum(s.feat[v] for v in spec["chronic_count"])


def _draw_care_access(s: _Survey, spec: Mapping) -> None:
    """MEDCOST1, PERSDOC3 and CHECKUP1 (coverage, income, age, need for care)."""
    med = spec["MEDCOST1"]
    cost, _ = _draw_binary(s, med.get("effects"),
                           _substantive_share(med["share"], med.get("missing")))
    s.feat["medcost"] = cost.astype(float)
    s.out["MEDCOST1"] = _overwrite_missing(s, _yes_no(cost), med.get("missing"))
    for var in ("PERSDOC3", "CHECKUP1"):
        item = spec[var]
        s.out[var] = _overwrite_missing(
            s, _draw_categorical(s, item["shares"], item.get("effects")), item.get("missing"))


def _draw_alcohol(s: _Survey, spec: Mapping) -> None:
    """ALCDAY4 (1xx days/week, 2xx days/30, 888 none) and the latent binge flag."""
    drinker, _ = _draw_binary(s, spec.get("effects"), float(spec["drinker_share"]))
    s.feat["drinker"] = drinker.astype(float)
    weekly = s.rng.random(s.n) < float(spec["weekly_format_share"])
    per_week = 100.0 + _sample_codes(s, spec["days_per_week_shares"])
    per_month = 200.0 + _sample_codes(s, spec["days_per_month_shares"])
    alcday = np.where(drinker, np.where(weekly, per_week, per_month), float(spec["none_code"]))
    s.out["ALCDAY4"] = _overwrite_missing(s, alcday, spec.get("missing"))

    binge_spec = spec["binge"]
    binge, _ = _draw_binary(s, binge_spec.get("effects"), float(binge_spec["share_of_drinkers"]),
                            mask=drinker)
    s.hidden["binge"] = binge
    s.hidden["binge_gap"] = s.rng.random(s.n) < float(binge_spec["unanswered_share"])


# --------------------------------------------------------------------------------------------
# Self-rated health and the items that restate it
# --------------------------------------------------------------------------------------------


def _draw_health_status(s: _Survey, spec: Mapping) -> dict:
    """Fair/poor health from the latent person, then GENHLTH, healthy days and DIFFWALK."""
    fp = spec["fair_poor"]
    lin = _linear(s, fp["effects"])
    prob = _sigmoid(lin + _solve_intercept(lin, float(fp["share"])))
    fair_poor = s.rng.random(s.n) < prob
    s.feat["fair_poor"] = fair_poor.astype(float)

    # GENHLTH: within each side of the fair/poor line, higher risk -> worse category.
    gen = spec["GENHLTH"]
    score = lin + float(gen["noise_sd"]) * s.rng.standard_normal(s.n)
    genhlth = np.empty(s.n)
    for flag, key in ((False, "good_shares"), (True, "fair_poor_shares")):
        rows = fair_poor == flag
        codes, shares = _codes_and_shares(gen[key])
        if rows.any():
            genhlth[rows] = codes[_ordinal_cut(score[rows], shares)]
    s.out["GENHLTH"] = _overwrite_missing(s, genhlth, gen.get("missing"))

    # Physically / mentally unhealthy days share a person-level component, so that "no bad days"
    # on both (POORHLTH skipped) is as common as in the real file.
    shared = float(spec["days_shared_noise_sd"]) * s.rng.standard_normal(s.n)
    days = {}
    for var in ("PHYSHLTH", "MENTHLTH"):
        item = spec[var]
        score = _linear(s, item.get("effects")) + shared + s.rng.standard_normal(s.n)
        shares = np.array([float(item["shares"][k]) for k in ("none", "low", "high")])
        level = _ordinal_cut(score, shares)
        low = _sample_codes(s, spec["days_1_13_shares"])
        high = _sample_codes(s, spec["days_14_30_shares"])
        days[var] = np.select([level == 1, level == 2], [low, high], 0.0)
        s.out[var] = _overwrite_missing(s, np.where(level == 0, 88.0, days[var]),
                                        item.get("missing"))

    poor = spec["POORHLTH"]
    asked = ~((s.out["PHYSHLTH"] == 88) & (s.out["MENTHLTH"] == 88))
    none, _ = _draw_binary(s, poor.get("effects"), float(poor["none_share"]), mask=asked)
    known = np.maximum(np.where(s.out["PHYSHLTH"] <= 30, s.out["PHYSHLTH"], 0),
                       np.where(s.out["MENTHLTH"] <= 30, s.out["MENTHLTH"], 0))
    # Days of limited activity rarely exceed the worse of the two bad-day counts.
    scaled = np.clip(np.floor(known * s.rng.uniform(0.3, 1.0, s.n) + 0.5), 1, 30)
    fallback = _sample_codes(s, spec["days_1_13_shares"])
    poorhlth = np.where(none, 88.0, np.where(known > 0, scaled, fallback))
    poorhlth = np.where(asked, poorhlth, np.nan)
    s.out["POORHLTH"] = _overwrite_missing(s, poorhlth, poor.get("missing"))

    walk = spec["DIFFWALK"]
    diff, _ = _draw_binary(s, walk.get("effects"),
                           _substantive_share(walk["share"], walk.get("missing")))
    s.out["DIFFWALK"] = _overwrite_missing(s, _yes_no(diff), walk.get("missing"))
    return {"p_fair_poor": prob, "fair_poor": fair_poor}


def _draw_urban(s: _Survey, spec: Mapping) -> None:
    rural, _ = _draw_binary(s, spec.get("effects"), float(spec["rural_share"]))
    blank = s.rng.random(s.n) < float(spec["blank_share"])
    s.out["_URBSTAT"] = np.where(blank, np.nan, np.where(rural, 2.0, 1.0))


# --------------------------------------------------------------------------------------------
# Break-offs, calculated variables, weights
# --------------------------------------------------------------------------------------------


def _apply_breakoff(s: _Survey, blank_shares: Mapping) -> None:
    """Partial completes lose the items asked after their break-off point."""
    for var, share in blank_shares.items():
        s.out[var] = np.where(s.hidden["breakoff"] < float(share), np.nan, s.out[var])


def _recode(values: np.ndarray, mapping: Mapping[float, float], default: float) -> np.ndarray:
    """Map codes (others, including NaN, to ``default``)."""
    result = np.full(values.shape, default)
    for src, dst in mapping.items():
        result[values == src] = dst
    return result


def _days_14d(days: np.ndarray) -> np.ndarray:
    """_PHYS14D / _MENT14D: 1 none (88), 2 1-13 days, 3 14-30 days, 9 77/99/BLANK."""
    return np.select([days == 88, (days >= 1) & (days <= 13), (days >= 14) & (days <= 30)],
                     [1.0, 2.0, 3.0], 9.0)


def _derive_calculated(s: _Survey) -> None:
    """Calculated variables from the observed answers, with the codebook's rules."""
    o = s.out
    o["_RFHLTH"] = _recode(o["GENHLTH"], {1: 1.0, 2: 1.0, 3: 1.0, 4: 2.0, 5: 2.0}, 9.0)
    o["_PHYS14D"] = _days_14d(o["PHYSHLTH"])
    o["_MENT14D"] = _days_14d(o["MENTHLTH"])
    o["_HLTHPL1"] = np.select([(o["PRIMINS1"] >= 1) & (o["PRIMINS1"] <= 10), o["PRIMINS1"] == 88],
                              [1.0, 2.0], 9.0)
    o["_TOTINDA"] = _recode(o["EXERANY2"], {1: 1.0, 2: 2.0}, 9.0)
    o["_SEX"] = o["SEXVAR"].copy()
    o["_EDUCAG"] = _recode(o["EDUCA"], {1: 1.0, 2: 1.0, 3: 1.0, 4: 2.0, 5: 3.0, 6: 4.0}, 9.0)
    o["_INCOMG1"] = _recode(o["INCOME3"], {1: 1.0, 2: 1.0, 3: 2.0, 4: 2.0, 5: 3.0, 6: 4.0,
                                           7: 5.0, 8: 5.0, 9: 6.0, 10: 6.0, 11: 7.0}, 9.0)

    # _SMOKER3: SMOKE100 = 2 -> never; SMOKE100 = 1 -> SMOKEDAY status; else 9.
    status = s.hidden["smoker_status"]
    ever = np.where(s.hidden["smokeday_gap"], 9.0, status)
    o["_SMOKER3"] = np.select([o["SMOKE100"] == 1, o["SMOKE100"] == 2], [ever, 4.0], 9.0)

    alc = o["ALCDAY4"]
    drank = ((alc >= 101) & (alc <= 107)) | ((alc >= 201) & (alc <= 230))
    o["DRNKANY6"] = np.select([drank, alc == 888, alc == 777], [1.0, 2.0, 7.0], 9.0)
    binge = np.where(s.hidden["binge_gap"], 9.0, np.where(s.hidden["binge"], 2.0, 1.0))
    o["_RFBING6"] = np.select([alc == 888, drank], [1.0, binge], 9.0)

    # Height/weight -> HTM4 (cm), WTKG3 (kg, 2 implied decimals), _BMI5 (2 implied decimals).
    h = o["HEIGHT3"]
    valid_h = (h >= 300) & (h <= 711)
    inches = np.floor(h / 100) * 12 + h % 100
    o["HTM4"] = np.where(valid_h, np.floor(inches * 2.54 + 0.5), np.nan)
    w = o["WEIGHT2"]
    valid_w = (w >= 50) & (w <= 650)
    o["WTKG3"] = np.where(valid_w, np.floor(w / 2.2046 * 100 + 0.5), np.nan)
    o["_BMI5"] = np.floor(o["WTKG3"] * 10000 / o["HTM4"] ** 2 + 0.5)  # NaN propagates
    bmi = o["_BMI5"]
    o["_BMI5CAT"] = np.select([bmi < 1850, bmi < 2500, bmi < 3000, bmi >= 3000],
                              [1.0, 2.0, 3.0, 4.0], np.nan)
    o["_RFBMI5"] = np.select([bmi < 2500, bmi >= 2500], [1.0, 2.0], 9.0)


def _draw_weights(s: _Survey, design: Mapping, demo: Mapping) -> None:
    """_LLCPWT: lognormal design weights raked to the codebook's weighted shares.

    Raking (iterative proportional fitting) on age group, sex, race, education and, last, state,
    as BRFSS does: the unweighted sample over-represents older, white, college-educated people and
    small states, and the weights undo it. The total is the adult population.
    """
    wspec = design["weights"]
    total = float(wspec["total"])
    weights = np.exp(float(wspec["log_sigma"]) * s.rng.standard_normal(s.n))
    weights *= total / weights.sum()
    age_targets = dict(enumerate(demo["age"]["weighted_shares"], start=1))
    state_targets = {k: v[1] for k, v in design["states"].items()}
    margins = [
        ("_AGEG5YR", age_targets),
        ("SEXVAR", demo["sex"]["weighted_shares"]),
        ("_RACE", demo["race"]["weighted_shares"]),
        ("EDUCA", demo["education"]["weighted_shares"]),
        ("_STATE", state_targets),
    ]
    prepared = []
    for var, targets in margins:
        codes, shares = _codes_and_shares(targets)
        order = np.argsort(codes)
        pos = np.clip(np.searchsorted(codes[order], s.out[var]), 0, codes.size - 1)
        idx = order[pos]
        idx = np.where(codes[idx] == s.out[var], idx, -1)  # codes outside the margin: untouched
        prepared.append((idx, shares))
    for _ in range(int(wspec["raking_iterations"])):
        for idx, shares in prepared:
            inside = idx >= 0
            sums = np.bincount(idx[inside], weights=weights[inside], minlength=shares.size)
            factor = np.where(sums > 0, shares * weights[inside].sum() / np.maximum(sums, 1e-300),
                              1.0)
            weights[inside] *= factor[idx[inside]]
    s.out["_LLCPWT"] = weights * (total / weights.sum())


def _with_other_questions(frame: pd.DataFrame, s: _Survey, questions: Mapping) -> pd.DataFrame:
    """``frame`` with one column per unmodelled question, answers drawn at their shares
    (``blank``: not asked, NaN). Drawn after every modelled variable, so listing more questions
    never changes the modelled ones of a seed."""
    clash = sorted(set(questions) & set(frame.columns))
    if clash:
        raise ValueError(f"other_questions {clash} are modelled variables already")
    extra = {}
    for name, shares in questions.items():
        codes = {("nan" if str(code).lower() == "blank" else code): n
                 for code, n in shares.items()}
        extra[name] = _sample_codes(s, codes)
    return pd.concat([frame, pd.DataFrame(extra, index=frame.index)], axis=1) if extra else frame


def _assemble(s: _Survey) -> pd.DataFrame:
    columns = {}
    for name in BRFSS_COLUMNS:
        values = s.out[name]
        columns[name] = values if name in CHAR_COLUMNS else np.asarray(values, dtype=np.float64)
    return pd.DataFrame(columns, columns=list(BRFSS_COLUMNS))
