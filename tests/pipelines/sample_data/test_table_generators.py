"""Tests for the stroke / insurance / SAIPE table generators (layouts, shares, signal)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[3]
try:  # the package may not be installed in the running environment
    import health_risk  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    sys.path.insert(0, str(PROJECT_ROOT / "src"))

from health_risk.pipelines.sample_data.table_generators import (
    generate_insurance_charges,
    generate_saipe_states,
    generate_stroke_patients,
    saipe_state_reference,
)

SPEC_PATH = PROJECT_ROOT / "conf" / "base" / "parameters" / "sample_data_tables_spec.yml"

STROKE_COLUMNS = [
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
STROKE_TITLE_COLUMNS = [
    "Id",
    "Gender",
    "Age",
    "Hypertension",
    "Heart_Disease",
    "Ever_Married",
    "Work_Type",
    "Residence_Type",
    "Avg_Glucose_Level",
    "Bmi",
    "Smoking_Status",
    "Stroke",
]
PERSONAL_COLUMNS = ["Full Name", "Phone Number", "Address", "Admission Date"]
WORK_TYPES = {"Private", "Self-employed", "Govt_job", "children", "Never_worked"}
SMOKING = {"formerly smoked", "never smoked", "smokes", "Unknown"}

INSURANCE_COLUMNS = ["age", "sex", "bmi", "children", "smoker", "region", "charges"]
REGIONS = {"northeast", "northwest", "southeast", "southwest"}

CI_LO, CI_HI = "90% CI Lower Bound", "90% CI Upper Bound"
SAIPE_HEADER = [
    "State FIPS Code",
    "Postal Code",
    "Name",
    "Poverty Estimate, All Ages",
    CI_LO,
    CI_HI,
    "Poverty Percent, All Ages",
    CI_LO,
    CI_HI,
    "Poverty Estimate, Age 0-17",
    CI_LO,
    CI_HI,
    "Poverty Percent, Age 0-17",
    CI_LO,
    CI_HI,
    "Poverty Estimate, Age 5-17 in Families",
    CI_LO,
    CI_HI,
    "Poverty Percent, Age 5-17 in Families",
    CI_LO,
    CI_HI,
    "Median Household Income",
    CI_LO,
    CI_HI,
    "Poverty Estimate, Age 0-4",
    CI_LO,
    CI_HI,
    "Poverty Percent, Age 0-4",
    CI_LO,
    CI_HI,
]
# (estimate column, lower, upper) positions in the sheet
SAIPE_TRIPLES = [(c, c + 1, c + 2) for c in range(3, len(SAIPE_HEADER), 3)]
SAIPE_PERCENT_COLS = [6, 12, 18, 27]
SAIPE_INCOME_COL = 21


@pytest.fixture(scope="module")
def spec() -> dict:
    with SPEC_PATH.open() as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def stroke(spec) -> pd.DataFrame:
    return generate_stroke_patients(5000, 7, spec["stroke_spec"])


@pytest.fixture(scope="module")
def insurance(spec) -> pd.DataFrame:
    return generate_insurance_charges(5000, 11, spec["insurance_spec"])


@pytest.fixture(scope="module")
def saipe(spec) -> pd.DataFrame:
    return generate_saipe_states(2023, 3, spec["saipe_spec"])


def test_spec_has_the_three_top_level_keys(spec):
    assert {"stroke_spec", "insurance_spec", "saipe_spec"} <= set(spec)


# ------------------------------------------------------------------------------ stroke
def test_stroke_columns_are_raw_csv_strings(stroke):
    assert list(stroke.columns) == STROKE_COLUMNS
    assert len(stroke) == 5000
    assert all(dtype == object for dtype in stroke.dtypes)
    assert stroke.map(lambda v: isinstance(v, str)).all().all()


def test_stroke_is_deterministic_per_seed(spec):
    s = spec["stroke_spec"]
    a = generate_stroke_patients(800, 5, s)
    pd.testing.assert_frame_equal(a, generate_stroke_patients(800, 5, s))
    assert not a.equals(generate_stroke_patients(800, 6, s))


def test_stroke_value_domains(stroke):
    ids = stroke["id"].astype(int)
    assert ids.is_unique and ids.min() > 0 and ids.max() < 100_000
    assert set(stroke["gender"]) == {"Male", "Female", "Other"}
    assert 1 <= (stroke["gender"] == "Other").sum() <= 5
    for col in ("hypertension", "heart_disease", "stroke"):
        assert set(stroke[col]) == {"0", "1"}
    assert set(stroke["ever_married"]) == {"Yes", "No"}
    assert set(stroke["work_type"]) == WORK_TYPES
    assert set(stroke["Residence_type"]) == {"Urban", "Rural"}
    assert set(stroke["smoking_status"]) == SMOKING

    age = stroke["age"].astype(float)
    assert age.min() >= 0.08 and age.max() <= 82
    infants = stroke.loc[age < 2, "age"]
    assert len(infants) > 0 and infants.isin(["0.08", "1.32", "0.4", "1.0"]).any()
    assert stroke.loc[age >= 2, "age"].str.endswith(".0").all()  # "67.0"-style adults

    glucose = stroke["avg_glucose_level"].astype(float)
    assert glucose.min() >= 55 and glucose.max() <= 272
    assert 80 <= glucose.median() <= 100  # the normal hump
    assert 0.08 <= (glucose > 150).mean() <= 0.25  # the diabetic hump
    assert stroke["avg_glucose_level"].str.fullmatch(r"\d+\.\d{1,2}").all()


def test_stroke_bmi_text_and_missing_share(stroke):
    bmi = stroke["bmi"]
    missing = bmi == "N/A"
    assert 0.03 <= missing.mean() <= 0.05
    assert bmi[~missing].str.fullmatch(r"\d+\.\d").all()
    values = bmi[~missing].astype(float)
    assert 10 <= values.min() and values.max() <= 98 and 26 <= values.mean() <= 31
    # more often missing among stroke cases, as in the real file
    positive = stroke["stroke"] == "1"
    assert missing[positive].mean() > 2 * missing[~positive].mean()


def test_stroke_positives_are_rare_and_age_driven(stroke):
    positive = stroke["stroke"] == "1"
    assert 0.04 <= positive.mean() <= 0.06
    age = stroke["age"].astype(float)
    assert (age[positive] >= 40).mean() >= 0.9
    assert (
        stroke.loc[age >= 70, "stroke"].eq("1").mean()
        > 5 * stroke.loc[age < 50, "stroke"].eq("1").mean()
    )
    for col in ("hypertension", "heart_disease"):
        rate_with = positive[stroke[col] == "1"].mean()
        rate_without = positive[stroke[col] == "0"].mean()
        assert rate_with > 2 * rate_without


def test_stroke_signal_is_real_but_not_trivial(spec):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, roc_auc_score

    df = generate_stroke_patients(20000, 21, spec["stroke_spec"])
    y = df["stroke"].astype(int).to_numpy()
    X = np.column_stack(
        [
            df["age"].astype(float),
            df["hypertension"].astype(int),
            df["heart_disease"].astype(int),
            df["avg_glucose_level"].astype(float) / 100.0,
        ]
    )
    model = LogisticRegression(max_iter=1000).fit(X, y)
    p = model.predict_proba(X)[:, 1]
    assert 0.80 <= roc_auc_score(y, p) <= 0.90
    assert 0.10 <= average_precision_score(y, p) <= 0.35


def test_stroke_children_and_marriage_follow_age(stroke):
    age = stroke["age"].astype(float)
    children = stroke["work_type"] == "children"
    assert (age[children] < 16).all()
    assert children[age < 16].all()
    assert (stroke.loc[age < 16, "ever_married"] == "No").all()
    assert 0.55 <= (stroke["ever_married"] == "Yes").mean() <= 0.75
    unknown = stroke["smoking_status"] == "Unknown"
    assert 0.25 <= unknown.mean() <= 0.35
    assert unknown[children].mean() >= 0.7


def test_stroke_other_gender_kept_in_small_files_only_when_drawn(spec):
    s = spec["stroke_spec"]
    assert (generate_stroke_patients(2000, 0, s)["gender"] == "Other").sum() >= 1
    assert len(generate_stroke_patients(0, 0, s)) == 0
    small = generate_stroke_patients(10, 0, s)
    assert list(small.columns) == STROKE_COLUMNS and len(small) == 10


def test_stroke_personal_columns_only_when_asked(spec, stroke):
    s = spec["stroke_spec"]
    plain = generate_stroke_patients(300, 7, s)
    assert not set(PERSONAL_COLUMNS) & set(plain.columns)

    wild = generate_stroke_patients(300, 7, s, personal_columns=True)
    assert list(wild.columns) == PERSONAL_COLUMNS + STROKE_TITLE_COLUMNS
    assert all(dtype == object for dtype in wild.dtypes)
    # the clinical part is unchanged, only the headers are Title-Case
    np.testing.assert_array_equal(wild[STROKE_TITLE_COLUMNS].to_numpy(), plain.to_numpy())
    assert wild["Full Name"].str.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+").all()
    assert wild["Phone Number"].str.fullmatch(r"\(\d{3}\) 555-01\d{2}").all()
    assert wild["Address"].str.fullmatch(r"\d+ [A-Za-z]+ [A-Za-z]+, [A-Za-z ]+, [A-Z]{2}").all()
    dates = pd.to_datetime(wild["Admission Date"], format="%Y-%m-%d")
    assert dates.notna().all()


# ------------------------------------------------------------------------------ insurance
def test_insurance_columns_and_dtypes(insurance):
    assert list(insurance.columns) == INSURANCE_COLUMNS
    assert len(insurance) == 5000
    assert str(insurance["age"].dtype) == "int64"
    assert str(insurance["children"].dtype) == "int64"
    assert str(insurance["bmi"].dtype) == "float64"
    assert str(insurance["charges"].dtype) == "float64"
    assert insurance["sex"].dtype == object and insurance["smoker"].dtype == object


def test_insurance_is_deterministic_per_seed(spec):
    s = spec["insurance_spec"]
    a = generate_insurance_charges(1338, 1, s)
    pd.testing.assert_frame_equal(a, generate_insurance_charges(1338, 1, s))
    assert not a.equals(generate_insurance_charges(1338, 2, s))


def test_insurance_value_domains(insurance):
    age = insurance["age"]
    assert age.min() == 18 and age.max() == 64
    per_age = age.value_counts()
    assert per_age[18] > 1.5 * per_age.drop([18, 19]).mean()
    assert per_age[19] > 1.5 * per_age.drop([18, 19]).mean()
    assert set(insurance["sex"]) == {"female", "male"}
    assert set(insurance["smoker"]) == {"yes", "no"}
    assert 0.17 <= (insurance["smoker"] == "yes").mean() <= 0.24
    assert set(insurance["region"]) == REGIONS
    regions = insurance["region"].value_counts()
    assert regions.idxmax() == "southeast"
    assert insurance.groupby("region")["bmi"].mean().idxmax() == "southeast"
    bmi = insurance["bmi"]
    assert (
        bmi.min() >= 15.9 and bmi.max() <= 53.2 and 29.5 <= bmi.mean() <= 32 and 5 <= bmi.std() <= 7
    )
    assert (bmi.round(3) == bmi).all()
    assert set(insurance["children"]) <= set(range(6))
    assert insurance["children"].le(2).mean() >= 0.8
    charges = insurance["charges"]
    assert 1000 <= charges.min() and charges.max() <= 65000
    assert 11_000 <= charges.mean() <= 16_000
    assert charges.median() < charges.mean()  # right-skewed
    assert (charges.round(2) != charges).mean() > 0.5  # many charges carry 3+ decimals


def test_insurance_has_exactly_one_later_duplicate(spec, insurance):
    for frame in (insurance, generate_insurance_charges(1338, 4, spec["insurance_spec"])):
        assert frame.duplicated().sum() == 1
        dup_index = frame.index[frame.duplicated()][0]
        first_index = frame.index[frame.duplicated(keep="last")][0]
        assert first_index < dup_index
    assert generate_insurance_charges(60, 4, spec["insurance_spec"]).duplicated().sum() == 0


def test_insurance_smoker_bmi_interaction(insurance):
    smokers = insurance[insurance["smoker"] == "yes"]
    non_smokers = insurance[insurance["smoker"] == "no"]
    obese = smokers["bmi"] >= 30
    assert (
        15_000
        <= smokers.loc[obese, "charges"].mean() - smokers.loc[~obese, "charges"].mean()
        <= 25_000
    )
    assert 18_000 <= smokers["charges"].mean() - non_smokers["charges"].mean() <= 30_000
    non_obese_gap = non_smokers.groupby(non_smokers["bmi"] >= 30)["charges"].mean()
    assert abs(non_obese_gap[True] - non_obese_gap[False]) < 2_000


def _design(frame: pd.DataFrame, smoker_terms: bool) -> pd.DataFrame:
    X = pd.get_dummies(frame.drop(columns="charges"), drop_first=True).astype(float)
    if smoker_terms:
        X["smoker_obese"] = X["smoker_yes"] * (frame["bmi"] >= 30)
    else:
        X = X.drop(columns=["smoker_yes"])
    return X


def test_insurance_linear_model_r2(insurance):
    from sklearn.linear_model import LinearRegression

    y = insurance["charges"]
    X = _design(insurance, smoker_terms=True)
    r2 = LinearRegression().fit(X, y).score(X, y)
    assert 0.80 <= r2 <= 0.92
    X0 = _design(insurance, smoker_terms=False)
    assert LinearRegression().fit(X0, y).score(X0, y) < 0.3


# ------------------------------------------------------------------------------ SAIPE
def test_saipe_layout(saipe, spec):
    assert saipe.shape == (56, len(SAIPE_HEADER))
    assert list(saipe.columns) == list(range(len(SAIPE_HEADER)))
    assert saipe.iloc[0, 0].startswith("Table 1: 2023 Poverty and Median Household Income")
    assert saipe.iloc[1, 0] == (
        "Source: U.S. Census Bureau, Small Area Income and Poverty Estimates (SAIPE) Program"
    )
    assert saipe.iloc[2, 0] == "Release date: December 2024"
    assert saipe.iloc[0:3, 1:].isna().all().all()
    assert list(saipe.iloc[3]) == SAIPE_HEADER
    assert list(saipe.iloc[4, :3]) == ["00", "US", "United States"]

    ref = saipe_state_reference(spec["saipe_spec"])
    body = saipe.iloc[5:]
    assert len(body) == 51
    assert list(body[0]) == [f"{f:02d}" for f in ref["state_fips"]]
    assert all(isinstance(v, str) and len(v) == 2 for v in body[0])
    assert list(body[1]) == list(ref["postal_code"])
    assert list(body[2]) == list(ref["name"])


def test_saipe_state_reference(spec):
    ref = saipe_state_reference(spec["saipe_spec"])
    assert list(ref.columns) == ["state_fips", "postal_code", "name"]
    assert len(ref) == 51 and str(ref["state_fips"].dtype) == "int64"
    assert ref["state_fips"].is_monotonic_increasing and ref["state_fips"].is_unique
    assert ref["postal_code"].is_unique and ref["postal_code"].str.fullmatch(r"[A-Z]{2}").all()
    assert {"DC", "CA", "WY"} <= set(ref["postal_code"])
    assert ref.loc[ref["postal_code"] == "DC", "state_fips"].item() == 11


def test_saipe_values_plausible(saipe, spec):
    body = saipe.iloc[4:].reset_index(drop=True)
    for est, lo, hi in SAIPE_TRIPLES:
        e, l, u = (body[c].astype(float) for c in (est, lo, hi))
        assert (l <= e).all() and (e <= u).all() and (l >= 0).all(), SAIPE_HEADER[est]
        assert (u > l).all()
    us, states = body.iloc[0], body.iloc[1:]
    assert 11.5 <= us[6] <= 13.5
    assert states[6].astype(float).between(7.0, 20.0).all()
    assert states[6].astype(float).std() > 1.0
    for col in SAIPE_PERCENT_COLS:
        assert states[col].astype(float).between(0, 50).all()
    assert (states[12].astype(float) > states[6].astype(float)).mean() > 0.8  # child poverty higher
    assert 70_000 <= us[SAIPE_INCOME_COL] <= 85_000
    assert states[SAIPE_INCOME_COL].astype(float).between(50_000, 105_000).all()
    corr = np.corrcoef(states[6].astype(float), states[SAIPE_INCOME_COL].astype(float))[0, 1]
    assert corr < -0.3
    # counts = percent x population, US = sum of states
    population = np.array([s[4] for s in sorted(spec["saipe_spec"]["states"], key=lambda s: s[0])])
    implied = states[3].astype(float) / (states[6].astype(float) / 100.0)
    assert np.all(np.abs(implied.to_numpy() / population - 0.975) < 0.03)
    for est in (3, 9, 15, 24):
        assert us[est] == states[est].sum()
    assert isinstance(us[3], int) and isinstance(us[6], float) and isinstance(us[21], int)


def test_saipe_is_deterministic_per_year_and_seed(spec, saipe):
    s = spec["saipe_spec"]
    pd.testing.assert_frame_equal(saipe, generate_saipe_states(2023, 3, s))
    assert not saipe.iloc[4:].equals(generate_saipe_states(2023, 4, s).iloc[4:])
    other_year = generate_saipe_states(2022, 3, s)
    assert other_year.iloc[0, 0].startswith("Table 1: 2022 ")
    assert not saipe.iloc[4:].equals(other_year.iloc[4:])


def _pandas_header(names: list[str]) -> list[str]:
    """pandas de-duplicates repeated header names as ``name.1``, ``name.2`` ..."""
    seen: Counter = Counter()
    out = []
    for name in names:
        out.append(name if seen[name] == 0 else f"{name}.{seen[name]}")
        seen[name] += 1
    return out


def test_saipe_round_trips_through_xls(tmp_path, saipe):
    import xlwt

    path = tmp_path / "est23us.xls"
    book = xlwt.Workbook()
    sheet = book.add_sheet("est23us")
    for r, row in enumerate(saipe.itertuples(index=False)):
        for c, value in enumerate(row):
            if value is not None and not (isinstance(value, float) and np.isnan(value)):
                sheet.write(r, c, value)
    book.save(str(path))

    back = pd.read_excel(path, header=3, dtype={"State FIPS Code": str}, engine="xlrd")
    expected = _pandas_header(SAIPE_HEADER)
    assert list(back.columns) == expected
    assert "90% CI Lower Bound.1" in back.columns and "90% CI Upper Bound.8" in back.columns
    assert len(back) == 52
    assert back["State FIPS Code"].iloc[0] == "00" and back["State FIPS Code"].iloc[1] == "01"
    assert back["Postal Code"].iloc[0] == "US"
    for name in expected[3:]:
        assert pd.api.types.is_numeric_dtype(back[name]), name
    np.testing.assert_allclose(
        back["Poverty Percent, All Ages"].to_numpy(), saipe.iloc[4:, 6].astype(float).to_numpy()
    )
