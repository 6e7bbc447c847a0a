"""Synthetic stand-ins for three small public tables, in their published raw layouts.

* :func:`generate_stroke_patients` - Kaggle "healthcare-dataset-stroke-data" CSV (every cell a
  string, ``N/A`` for missing BMI; optionally the personal columns and Title-Case headers that
  copies found "in the wild" carry).
* :func:`generate_insurance_charges` - Kaggle "insurance.csv" medical cost table (one exact
  duplicate row, like the real file).
* :func:`generate_saipe_states` - US Census SAIPE state file ``est{YY}us.xls``, returned cell
  by cell (title rows, header row 3, US row, 50 states + DC).

Nothing is copied from the public files: every value is drawn from the distributions in
``conf/base/parameters/sample_data_tables_spec.yml`` (keys ``stroke_spec``, ``insurance_spec``,
``saipe_spec``). All functions are pure (no I/O), vectorised with numpy and deterministic for
a given seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "INSURANCE_COLUMNS",
    "SAIPE_HEADER",
    "STROKE_COLUMNS",
    "STROKE_PERSONAL_COLUMNS",
    "generate_insurance_charges",
    "generate_saipe_states",
    "generate_stroke_patients",
    "saipe_state_reference",
    "title_case_header",
]

STROKE_COLUMNS: list[str] = [
    "id",
    "gender",
    "age",
    "hypertension",
    "heart_disease",
    "ever_married",
    "work_type",
    "Residence_type",
    "avg_glucose_level",
    "bmi",
    "smoking_status",
    "stroke",
]
STROKE_PERSONAL_COLUMNS: list[str] = ["Full Name", "Phone Number", "Address", "Admission Date"]

INSURANCE_COLUMNS: list[str] = ["age", "sex", "bmi", "children", "smoker", "region", "charges"]

_CI = ["90% CI Lower Bound", "90% CI Upper Bound"]
SAIPE_HEADER: list[str] = [
    "State FIPS Code",
    "Postal Code",
    "Name",
    "Poverty Estimate, All Ages",
    *_CI,
    "Poverty Percent, All Ages",
    *_CI,
    "Poverty Estimate, Age 0-17",
    *_CI,
    "Poverty Percent, Age 0-17",
    *_CI,
    "Poverty Estimate, Age 5-17 in Families",
    *_CI,
    "Poverty Percent, Age 5-17 in Families",
    *_CI,
    "Median Household Income",
    *_CI,
    "Poverty Estimate, Age 0-4",
    *_CI,
    "Poverty Percent, Age 0-4",
    *_CI,
]

_SAIPE_GROUPS = ["all_ages", "age_0_17", "age_5_17_in_families", "age_0_4"]


# ------------------------------------------------------------------------------------------
# small helpers
# ------------------------------------------------------------------------------------------
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _shares(mapping: Mapping[Any, float]) -> tuple[list[Any], np.ndarray]:
    labels = list(mapping.keys())
    p = np.asarray([float(mapping[k]) for k in labels], dtype=float)
    if (p < 0).any() or p.sum() <= 0:
        raise ValueError(f"invalid shares: {mapping!r}")
    return labels, p / p.sum()


def _categorical(rng: np.random.Generator, mapping: Mapping[Any, float], size: int) -> np.ndarray:
    labels, p = _shares(mapping)
    idx = rng.choice(len(labels), size=size, p=p)
    return np.asarray(labels, dtype=object)[idx]


def _categorical_by_band(
    rng: np.random.Generator, age: np.ndarray, bands: Sequence[Mapping[str, Any]]
) -> np.ndarray:
    """Draw a label per row from the shares of the first band with ``age < below_age``."""
    limits = np.asarray([float(b["below_age"]) for b in bands])
    labels: list[str] = []
    for band in bands:
        for key in band["shares"]:
            if key not in labels:
                labels.append(key)
    probs = np.zeros((len(bands), len(labels)))
    for i, band in enumerate(bands):
        band_labels, p = _shares(band["shares"])
        for lab, val in zip(band_labels, p):
            probs[i, labels.index(lab)] = val
    band_idx = np.minimum(np.searchsorted(limits, age, side="right"), len(bands) - 1)
    cum = np.cumsum(probs, axis=1)[band_idx]
    u = rng.random(age.shape[0])
    choice = (u[:, None] >= cum[:, :-1]).sum(axis=1)
    return np.asarray(labels, dtype=object)[choice]


def _solve_intercept(linear: np.ndarray, target: float) -> float:
    """Intercept b0 with mean(sigmoid(b0 + linear)) == target (bisection, deterministic)."""
    lo, hi = -40.0, 40.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if _sigmoid(mid + linear).mean() < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _float_strings(values: np.ndarray, decimals: int) -> np.ndarray:
    """Shortest repr of the rounded floats, the way pandas writes them to CSV ("67.0", "0.4")."""
    return pd.Series(np.round(values.astype(float), decimals)).astype(str).to_numpy(dtype=object)


def title_case_header(name: str) -> str:
    """``Residence_type`` -> ``Residence_Type``; ``avg_glucose_level`` -> ``Avg_Glucose_Level``."""
    return "_".join(part[:1].upper() + part[1:].lower() for part in name.split("_"))


# ------------------------------------------------------------------------------------------
# stroke
# ------------------------------------------------------------------------------------------
def _stroke_arrays(n_rows: int, seed: int, spec: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Numeric draws behind the stroke table (also returns the true stroke probability)."""
    if n_rows < 0:
        raise ValueError("n_rows must be >= 0")
    rng = np.random.default_rng(seed)
    n = int(n_rows)

    # id: unique random integers
    id_low, id_high = (int(v) for v in spec["id_range"])
    if id_high - id_low < n:
        id_high = id_low + 2 * n
    ids = rng.choice(np.arange(id_low, id_high), size=n, replace=False)

    # gender (Other tiny, but present in files of realistic size)
    gender = _categorical(rng, spec["gender_shares"], n)
    if n >= int(spec.get("min_rows_for_other", 2000)) and not (gender == "Other").any():
        gender[rng.integers(0, n)] = "Other"
    male = (gender == "Male").astype(float)

    # age: month-based decimals for infants, integer ages written as floats otherwise
    age_spec = spec["age"]
    bins = age_spec["bins"]
    weights = np.asarray([float(age_spec["infant_share"])] + [float(b["weight"]) for b in bins])
    weights = weights / weights.sum()
    bin_idx = rng.choice(len(weights), size=n, p=weights)
    lows = np.asarray([0] + [int(b["low"]) for b in bins])
    highs = np.asarray([0] + [int(b["high"]) for b in bins])
    u_age = rng.random(n)
    age_int = lows[bin_idx] + np.floor(u_age * (highs[bin_idx] - lows[bin_idx] + 1))
    months = 1 + np.floor(u_age * 23)  # 1 .. 23 months
    infant_age = np.floor(months / 12) + (months % 12) * float(age_spec["infant_step"])
    age = np.where(bin_idx == 0, np.round(infant_age, 2), age_int)
    age = np.minimum(age, float(age_spec["max_age"]))

    # BMI: lognormal around an age-dependent median
    b = spec["bmi"]
    adult_age = float(b["adult_age"])
    child_median = float(b["child_median_at_0"]) + float(b["child_median_slope"]) * age
    bump = float(b["peak_bonus"]) * np.exp(-(((age - float(b["peak_age"])) / 20.0) ** 2))
    adult_median = float(b["adult_median"]) + bump
    median = np.where(age < adult_age, np.minimum(child_median, adult_median), adult_median)
    sdlog = np.where(age < adult_age, float(b["sdlog_child"]), float(b["sdlog_adult"]))
    bmi = np.exp(np.log(median) + sdlog * rng.standard_normal(n))
    bmi = np.clip(bmi, *(float(v) for v in b["range"]))
    bmi = np.round(bmi, 1)

    decades = (age - 50.0) / 10.0
    h = spec["hypertension"]
    p_ht = _sigmoid(
        float(h["intercept"])
        + float(h["age_per_decade"]) * decades
        + float(h["male"]) * male
        + float(h["bmi_per_unit"]) * (bmi - 28.0)
    )
    hypertension = (rng.random(n) < p_ht).astype(int)

    hd = spec["heart_disease"]
    p_hd = _sigmoid(
        float(hd["intercept"])
        + float(hd["age_per_decade"]) * decades
        + float(hd["male"]) * male
        + float(hd["hypertension"]) * hypertension
    )
    heart_disease = (rng.random(n) < p_hd).astype(int)

    # glucose: two humps
    g = spec["glucose"]
    p_diab = _sigmoid(
        float(g["diabetic_intercept"])
        + float(g["diabetic_age_per_decade"]) * decades
        + float(g["diabetic_bmi_per_unit"]) * (bmi - 28.0)
        + float(g["diabetic_hypertension"]) * hypertension
    )
    diabetic = rng.random(n) < p_diab
    normal_glu = float(g["normal_median"]) * np.exp(
        float(g["normal_sdlog"]) * rng.standard_normal(n)
    )
    diab_glu = float(g["diabetic_mean"]) + float(g["diabetic_sd"]) * rng.standard_normal(n)
    glucose = np.clip(np.where(diabetic, diab_glu, normal_glu), *(float(v) for v in g["range"]))
    glucose = np.round(glucose, 2)

    # marriage, work, residence, smoking
    m = spec["ever_married"]
    p_married = float(m["max_share"]) * _sigmoid((age - float(m["midpoint"])) / float(m["scale"]))
    p_married = np.where(age < float(m["min_age"]), 0.0, p_married)
    ever_married = np.where(rng.random(n) < p_married, "Yes", "No").astype(object)

    is_child = age < float(spec["children_below_age"])
    adult_work = _categorical_by_band(rng, age, spec["work_type_bands"])
    work_type = np.where(is_child, "children", adult_work).astype(object)

    urban = rng.random(n) < float(spec["residence_urban_share"])
    residence = np.where(urban, "Urban", "Rural").astype(object)

    smoking = _categorical_by_band(rng, age, spec["smoking_bands"])

    # stroke: strongly age driven; intercept solved to hit the target share
    s = spec["stroke"]
    linear = (
        float(s["age_per_year"]) * age
        + float(s["hypertension"]) * hypertension
        + float(s["heart_disease"]) * heart_disease
        + float(s["glucose_per_100"]) * np.maximum(glucose - 100.0, 0.0) / 100.0
        + float(s["smokes"]) * (smoking == "smokes")
        + float(s["formerly_smoked"]) * (smoking == "formerly smoked")
        + float(s["male"]) * male
    )
    b0 = _solve_intercept(linear, float(s["target_share"])) if n else 0.0
    p_stroke = _sigmoid(b0 + linear)
    stroke = (rng.random(n) < p_stroke).astype(int)

    # missing BMI, more often among stroke cases
    miss = spec["bmi_missing_share"]
    p_miss = np.where(stroke == 1, float(miss["stroke"]), float(miss["no_stroke"]))
    bmi_missing = rng.random(n) < p_miss

    return {
        "id": ids,
        "gender": gender,
        "age": age,
        "hypertension": hypertension,
        "heart_disease": heart_disease,
        "ever_married": ever_married,
        "work_type": work_type,
        "Residence_type": residence,
        "avg_glucose_level": glucose,
        "bmi": bmi,
        "bmi_missing": bmi_missing,
        "smoking_status": smoking,
        "stroke": stroke,
        "p_stroke": p_stroke,
    }


def _personal_columns(n: int, seed: int, spec: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Fictional identifiers, drawn from an independent stream so other columns are unchanged."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
    p = spec["personal"]
    first = np.asarray(p["first_names"], dtype=object)
    last = np.asarray(p["last_names"], dtype=object)
    full_name = first[rng.integers(0, len(first), n)] + " " + last[rng.integers(0, len(last), n)]

    area = np.asarray([str(a) for a in p["area_codes"]], dtype=object)
    line = rng.integers(100, 200, n)  # 555-0100 .. 555-0199 are reserved for fiction
    phone = "(" + area[rng.integers(0, len(area), n)] + ") 555-0" + line.astype(str).astype(object)

    streets = np.asarray(p["streets"], dtype=object)
    suffixes = np.asarray(p["street_suffixes"], dtype=object)
    cities = np.asarray(p["cities"], dtype=object)
    number = rng.integers(10, 9990, n).astype(str).astype(object)
    address = (
        number
        + " "
        + streets[rng.integers(0, len(streets), n)]
        + " "
        + suffixes[rng.integers(0, len(suffixes), n)]
        + ", "
        + cities[rng.integers(0, len(cities), n)]
    )

    start, end = (np.datetime64(str(d), "D") for d in p["admission_date_range"])
    span = int((end - start).astype(int)) + 1
    dates = start + rng.integers(0, span, n).astype("timedelta64[D]")
    admission = np.datetime_as_string(dates, unit="D").astype(object)
    return {
        "Full Name": full_name,
        "Phone Number": phone,
        "Address": address,
        "Admission Date": admission,
    }


def generate_stroke_patients(
    n_rows: int, seed: int, spec: dict, personal_columns: bool = False
) -> pd.DataFrame:
    """Stroke patient table as the raw CSV holds it: every column ``str`` (object dtype).

    With ``personal_columns=True`` the frame gains ``Full Name, Phone Number, Address,
    Admission Date`` (placed first, fictional values) and every header becomes Title-Case
    (``Residence_type`` -> ``Residence_Type``), like the copies found in the wild. The
    clinical columns are identical with or without the personal columns for the same seed.
    """
    a = _stroke_arrays(n_rows, seed, spec)
    bmi_text = _float_strings(a["bmi"], 1)
    bmi_text[a["bmi_missing"]] = "N/A"
    data = {
        "id": a["id"].astype(str).astype(object),
        "gender": a["gender"],
        "age": _float_strings(a["age"], 2),
        "hypertension": a["hypertension"].astype(str).astype(object),
        "heart_disease": a["heart_disease"].astype(str).astype(object),
        "ever_married": a["ever_married"],
        "work_type": a["work_type"],
        "Residence_type": a["Residence_type"],
        "avg_glucose_level": _float_strings(a["avg_glucose_level"], 2),
        "bmi": bmi_text,
        "smoking_status": a["smoking_status"],
        "stroke": a["stroke"].astype(str).astype(object),
    }
    frame = pd.DataFrame({col: pd.Series(data[col], dtype=object) for col in STROKE_COLUMNS})
    if not personal_columns:
        return frame
    personal = _personal_columns(len(frame), seed, spec)
    frame = frame.rename(columns=title_case_header)
    for i, col in enumerate(STROKE_PERSONAL_COLUMNS):
        frame.insert(i, col, pd.Series(personal[col], dtype=object))
    return frame


# ------------------------------------------------------------------------------------------
# insurance
# ------------------------------------------------------------------------------------------
def generate_insurance_charges(n_rows: int, seed: int, spec: dict) -> pd.DataFrame:
    """Medical cost table: ``age, sex, bmi, children, smoker, region, charges``.

    Numeric dtypes for age/children (int64) and bmi/charges (float64). Charges follow a
    linear baseline in age and children, a smoker premium and the smoker x BMI>=30
    interaction, plus right-skewed noise. When ``n_rows >= duplicate_min_rows`` exactly one
    row is an exact copy of an earlier row, placed later in the frame.
    """
    if n_rows < 0:
        raise ValueError("n_rows must be >= 0")
    rng = np.random.default_rng(seed)
    n_total = int(n_rows)
    with_duplicate = n_total >= int(spec.get("duplicate_min_rows", 100))
    n = n_total - 1 if with_duplicate else n_total

    # age: uniform integers plus extra mass at the youngest ages
    age_low, age_high = (int(v) for v in spec["age_range"])
    extra = {int(k): float(v) for k, v in spec.get("age_extra_shares", {}).items()}
    ages = np.arange(age_low, age_high + 1)
    rest = (1.0 - sum(extra.values())) / (len(ages) - len(extra))
    p_age = np.asarray([extra.get(int(a), rest) for a in ages])
    age = rng.choice(ages, size=n, p=p_age / p_age.sum()).astype(np.int64)

    sex = _categorical(rng, spec["sex_shares"], n)
    smoker_share = np.asarray([float(spec["smoker_share_by_sex"][s]) for s in sex], dtype=float)
    smoker_flag = rng.random(n) < smoker_share
    region = _categorical(rng, spec["region_shares"], n)

    b = spec["bmi"]
    mean_by_region = np.asarray([float(b["mean_by_region"][r]) for r in region], dtype=float)
    bmi_low, bmi_high = (float(v) for v in b["range"])
    bmi = mean_by_region + float(b["sd"]) * rng.standard_normal(n)
    # re-draw out-of-range values once, clip whatever is left
    bad = (bmi < bmi_low) | (bmi > bmi_high)
    bmi[bad] = mean_by_region[bad] + float(b["sd"]) * rng.standard_normal(int(bad.sum()))
    bmi = np.clip(bmi, bmi_low, bmi_high)
    step = float(b["step"])
    bmi = np.round(np.round(bmi / step) * step, 3)

    child_labels, p_child = _shares(dict(enumerate(spec["children_shares"])))
    children = rng.choice(np.asarray(child_labels), size=n, p=p_child).astype(np.int64)

    c = spec["charges"]
    obese = bmi >= float(c["obese_bmi"])
    smoker = smoker_flag.astype(float)
    base_noise = rng.gamma(
        float(c["base_noise_shape"]), float(c["base_noise_mean"]) / float(c["base_noise_shape"]), n
    )
    high_cost = (rng.random(n) < float(c["high_cost_share"])) & ~smoker_flag
    high_cost_amount = rng.exponential(float(c["high_cost_mean"]), n) * high_cost
    smoker_noise = float(c["smoker_noise_sd"]) * rng.standard_normal(n) * smoker
    charges = (
        float(c["intercept"])
        + float(c["age"]) * age
        + float(c["children"]) * children
        + float(c["bmi"]) * bmi
        + float(c["smoker"]) * smoker
        + float(c["smoker_obese"]) * smoker * obese
        + float(c["smoker_bmi"]) * smoker * (bmi - float(c["obese_bmi"]))
        + base_noise
        + high_cost_amount
        + smoker_noise
    )
    charges_low, charges_high = (float(v) for v in c["range"])
    # fold values outside the range back in (a continuous spread instead of a pile-up)
    below = charges < charges_low
    charges[below] = charges_low + rng.gamma(2.0, 250.0, int(below.sum()))
    above = charges > charges_high
    charges[above] = charges_high - rng.gamma(2.0, 500.0, int(above.sum()))
    charges = np.clip(charges, charges_low, charges_high)
    dec_labels, p_dec = _shares({int(k): v for k, v in c["decimal_shares"].items()})
    decimals = rng.choice(np.asarray(dec_labels), size=n, p=p_dec)
    scale = 10.0**decimals
    charges = np.round(charges * scale) / scale

    columns: dict[str, np.ndarray] = {
        "age": age,
        "sex": sex,
        "bmi": bmi,
        "children": children,
        "smoker": np.where(smoker_flag, "yes", "no").astype(object),
        "region": region,
        "charges": charges,
    }
    if with_duplicate:
        src = int(rng.integers(0, max(n // 2, 1)))
        pos = int(rng.integers(src + 1, n + 1))  # strictly after the source row
        columns = {k: np.insert(v, pos, v[src]) for k, v in columns.items()}

    frame = pd.DataFrame(
        {
            "age": pd.Series(columns["age"], dtype="int64"),
            "sex": pd.Series(columns["sex"], dtype=object),
            "bmi": pd.Series(columns["bmi"], dtype="float64"),
            "children": pd.Series(columns["children"], dtype="int64"),
            "smoker": pd.Series(columns["smoker"], dtype=object),
            "region": pd.Series(columns["region"], dtype=object),
            "charges": pd.Series(columns["charges"], dtype="float64"),
        }
    )
    return frame[INSURANCE_COLUMNS]


# ------------------------------------------------------------------------------------------
# SAIPE
# ------------------------------------------------------------------------------------------
def saipe_state_reference(spec: dict) -> pd.DataFrame:
    """The 50 states + DC from the spec: ``state_fips`` (int), ``postal_code``, ``name``."""
    states = spec["states"]
    frame = pd.DataFrame(
        {
            "state_fips": pd.Series([int(s[0]) for s in states], dtype="int64"),
            "postal_code": pd.Series([str(s[1]) for s in states], dtype=object),
            "name": pd.Series([str(s[2]) for s in states], dtype=object),
        }
    )
    return frame.sort_values("state_fips", kind="stable").reset_index(drop=True)


def _saipe_values(year: int, seed: int, spec: Mapping[str, Any]) -> dict[str, Any]:
    states = sorted(spec["states"], key=lambda s: int(s[0]))
    n = len(states)
    population = np.asarray([float(s[4]) for s in states])
    regions = [str(s[3]) for s in states]
    aff = spec["affluence"]

    # state character (stable for a seed) + a small year-specific wobble
    rng_state = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5A1E]))
    rng_year = np.random.default_rng(np.random.SeedSequence([int(seed), int(year)]))
    offsets = np.asarray([float(aff["region_offsets"].get(r, 0.0)) for r in regions])
    z = offsets + float(aff["state_sd"]) * rng_state.standard_normal(n)
    pov_noise = float(aff["poverty_noise_sd"]) * rng_state.standard_normal(n)
    inc_noise = float(aff["log_income_noise_sd"]) * rng_state.standard_normal(n)
    age_shares_jitter = rng_state.standard_normal((len(_SAIPE_GROUPS) - 1, n))
    ratio_noise = rng_state.standard_normal((len(_SAIPE_GROUPS) - 1, n))
    z = z + float(aff["year_sd"]) * rng_year.standard_normal(n)
    weights = population / population.sum()
    z = z - np.sum(weights * z)
    pov_noise = pov_noise - np.sum(weights * pov_noise)
    inc_noise = inc_noise - np.sum(weights * inc_noise)

    us_pct_target = float(spec["us_poverty_pct"])
    pct_low, pct_high = (float(v) for v in spec["poverty_pct_range"])
    pct_all = np.clip(
        us_pct_target + float(aff["poverty_pct_per_z"]) * z + pov_noise, pct_low, pct_high
    )

    growth = (1.0 + float(spec["income_growth_per_year"])) ** (int(year) - int(spec["base_year"]))
    us_income = float(spec["us_median_income"]) * growth
    inc_low, inc_high = (float(v) * growth for v in spec["median_income_range"])
    income = us_income * np.exp(float(aff["log_income_per_z"]) * z + inc_noise)
    income = np.clip(income, inc_low, inc_high)

    universe_share = float(spec["universe_share"])
    shares = spec["age_shares"]
    ratios = spec["child_poverty_ratio"]
    uni = {"all_ages": population * universe_share}
    pct = {"all_ages": pct_all}
    for i, group in enumerate(_SAIPE_GROUPS[1:]):
        share = float(shares[group]) * np.exp(float(shares["jitter_sd"]) * age_shares_jitter[i])
        uni[group] = population * share
        ratio = float(ratios[group]) * np.exp(float(ratios["noise_sd"]) * ratio_noise[i])
        pct[group] = np.clip(pct_all * ratio, 1.0, 45.0)

    ci = spec["ci_coefficients"]
    min_hw = float(ci["min_pct_halfwidth"])
    total_pop = np.append(population.sum(), population)
    out: dict[str, Any] = {"states": states, "groups": {}}
    for group in _SAIPE_GROUPS:
        count = np.round(uni[group] * pct[group] / 100.0)
        us_count = count.sum()
        us_uni = uni[group].sum()
        universe = np.append(us_uni, uni[group])
        counts = np.append(us_count, count)
        pcts = np.round(np.append(100.0 * us_count / us_uni, pct[group]), 1)
        hw = np.maximum(float(ci[f"pct_{group}"]) / np.sqrt(total_pop / 1e6), min_hw)
        pct_lo = np.maximum(np.round(pcts - hw, 1), 0.0)
        pct_hi = np.round(pcts + hw, 1)
        count_hw = np.round(universe * hw / 100.0)
        count_lo = np.maximum(counts - count_hw, 0)
        count_hi = counts + count_hw
        out["groups"][group] = (counts, count_lo, count_hi, pcts, pct_lo, pct_hi)

    incomes = np.round(np.append(us_income, income))
    inc_hw_pct = np.maximum(
        float(ci["income_pct"]) / np.sqrt(total_pop / 1e6), float(ci["min_income_halfwidth_pct"])
    )
    inc_hw = np.round(incomes * inc_hw_pct / 100.0)
    out["income"] = (incomes, incomes - inc_hw, incomes + inc_hw)
    return out


def generate_saipe_states(year: int, seed: int, spec: dict) -> pd.DataFrame:
    """SAIPE state file ``est{YY}us.xls`` as a frame of cells (columns ``0..29``).

    Rows 0-2 hold the title lines (column 0 only, other cells ``None``), row 3 the header
    (:data:`SAIPE_HEADER`), row 4 the United States (``"00"``/``"US"``), then the 50 states
    and DC in FIPS order. FIPS codes are zero-padded text, counts and incomes are ``int``,
    percents ``float`` with one decimal - the way the cells of the sheet are typed.
    """
    values = _saipe_values(year, seed, spec)
    n_cols = len(SAIPE_HEADER)
    titles = [
        spec["title_template"].format(year=int(year)),
        spec["source_line"],
        spec["release_template"].format(year=int(year), release_year=int(year) + 1),
    ]
    rows: list[list[Any]] = [[t] + [None] * (n_cols - 1) for t in titles]
    rows.append(list(SAIPE_HEADER))

    geo = [("00", "US", "United States")] + [
        (f"{int(s[0]):02d}", str(s[1]), str(s[2])) for s in values["states"]
    ]
    columns: list[list[Any]] = [[g[0] for g in geo], [g[1] for g in geo], [g[2] for g in geo]]
    block: dict[str, list[list[Any]]] = {}
    for group in _SAIPE_GROUPS:
        counts, count_lo, count_hi, pcts, pct_lo, pct_hi = values["groups"][group]
        block[group] = [
            [int(v) for v in counts],
            [int(v) for v in count_lo],
            [int(v) for v in count_hi],
            [float(v) for v in pcts],
            [float(v) for v in pct_lo],
            [float(v) for v in pct_hi],
        ]
    incomes, inc_lo, inc_hi = values["income"]
    income_block = [[int(v) for v in incomes], [int(v) for v in inc_lo], [int(v) for v in inc_hi]]
    for group in ("all_ages", "age_0_17", "age_5_17_in_families"):
        columns.extend(block[group])
    columns.extend(income_block)
    columns.extend(block["age_0_4"])
    assert len(columns) == n_cols

    for r in range(len(geo)):
        rows.append([col[r] for col in columns])
    return pd.DataFrame(rows, columns=list(range(n_cols)), dtype=object)
