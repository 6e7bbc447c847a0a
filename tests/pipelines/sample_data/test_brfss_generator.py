"""Tests of the synthetic BRFSS 2023-style survey generator.

Expected shares are the unweighted `percentage` column of the CDC BRFSS 2023 codebook
(LLCP2023, 433,323 records), as shares of non-blank records.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from health_risk.pipelines.sample_data.brfss_generator import (
    BRFSS_COLUMNS,
    CHAR_COLUMNS,
    _simulate,
    generate_brfss_survey,
)

SPEC_PATH = (
    Path(__file__).resolve().parents[3] / "conf" / "base" / "parameters"
    / "sample_data_brfss_spec.yml"
)
N_ROWS, SEED, YEAR = 20_000, 7, 2023

EXPECTED_COLUMNS = [
    "_STATE", "FMONTH", "IDATE", "IMONTH", "IDAY", "IYEAR", "DISPCODE", "SEQNO", "_PSU",
    "SEXVAR", "GENHLTH", "PHYSHLTH", "MENTHLTH", "POORHLTH", "PRIMINS1", "PERSDOC3", "MEDCOST1",
    "CHECKUP1", "EXERANY2", "BPHIGH6", "TOLDHI3", "CVDINFR4", "CVDCRHD4", "CVDSTRK3", "ASTHMA3",
    "CHCSCNC1", "CHCOCNC1", "CHCCOPD3", "ADDEPEV3", "CHCKDNY2", "HAVARTH4", "DIABETE4", "MARITAL",
    "EDUCA", "RENTHOM1", "VETERAN3", "EMPLOY1", "CHILDREN", "INCOME3", "WEIGHT2", "HEIGHT3",
    "DIFFWALK", "SMOKE100", "ALCDAY4", "HHADULT", "_STSTR", "_LLCPWT", "_RFHLTH", "_PHYS14D",
    "_MENT14D", "_HLTHPL1", "_TOTINDA", "_RACE", "_SEX", "_AGEG5YR", "_AGE80", "_AGE_G", "HTM4",
    "WTKG3", "_BMI5", "_BMI5CAT", "_RFBMI5", "_EDUCAG", "_INCOMG1", "_SMOKER3", "DRNKANY6",
    "_RFBING6", "_URBSTAT",
]
EXPECTED_CHAR = {"IDATE", "IMONTH", "IDAY", "IYEAR", "SEQNO"}

# Unweighted codebook percentages (BRFSS 2023 codebook, `percentage` column).
CODEBOOK_PERCENT = {
    "SEXVAR": {1: 47.03, 2: 52.97},
    "GENHLTH": {1: 14.63, 2: 32.80, 3: 33.28, 4: 14.30, 5: 4.70, 7: 0.21, 9: 0.08},
    "_RFHLTH": {1: 80.71, 2: 19.00, 9: 0.29},
    "_SMOKER3": {1: 7.33, 2: 3.09, 3: 26.11, 4: 58.15, 9: 5.32},
    "INCOME3": {1: 2.18, 2: 2.33, 3: 3.03, 4: 4.28, 5: 9.06, 6: 11.17, 7: 13.61, 8: 11.55,
                9: 12.29, 10: 5.73, 11: 6.30, 77: 8.54, 99: 9.93},
    "EDUCA": {1: 0.16, 2: 1.92, 3: 3.73, 4: 24.60, 5: 26.39, 6: 42.66, 9: 0.53},
    "_AGEG5YR": {1: 6.06, 2: 4.90, 3: 5.72, 4: 6.27, 5: 6.57, 6: 6.25, 7: 7.22, 8: 7.90,
                 9: 9.69, 10: 10.64, 11: 10.05, 12: 7.97, 13: 8.97, 14: 1.80},
}
# Columns that restate self-rated health (leakage for a fair/poor model).
LEAKAGE = {"GENHLTH", "PHYSHLTH", "MENTHLTH", "POORHLTH", "DIFFWALK", "_RFHLTH", "_PHYS14D",
           "_MENT14D"}


@pytest.fixture(scope="module")
def spec() -> dict:
    with SPEC_PATH.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)["brfss_survey_spec"]


@pytest.fixture(scope="module")
def survey(spec) -> pd.DataFrame:
    return generate_brfss_survey(N_ROWS, SEED, YEAR, spec)


def _percent(series: pd.Series) -> pd.Series:
    """Shares (in %) among non-blank records, like the codebook's `percentage`."""
    return series.dropna().value_counts(normalize=True) * 100


def _fair_poor_share(frame: pd.DataFrame) -> float:
    answered = frame["_RFHLTH"] != 9
    return float((frame.loc[answered, "_RFHLTH"] == 2).mean())


# ---------------------------------------------------------------------------------------------
# Shape, types, determinism
# ---------------------------------------------------------------------------------------------


def test_columns_and_order(survey, spec):
    others = list(spec["other_questions"])
    assert list(survey.columns) == EXPECTED_COLUMNS + others
    assert list(BRFSS_COLUMNS) == EXPECTED_COLUMNS
    assert len(survey.columns) >= 100  # as wide as the benchmark's target file
    assert set(CHAR_COLUMNS) == EXPECTED_CHAR
    assert len(survey) == N_ROWS
    assert all(len(name) <= 8 for name in survey.columns)


def test_dtypes(survey):
    for name in survey.columns:
        if name in EXPECTED_CHAR:
            assert survey[name].dtype == object, name
            assert survey[name].map(type).eq(str).all(), name
        else:
            assert survey[name].dtype == np.float64, name


def test_deterministic_for_a_seed_and_different_for_another(spec, survey):
    again = generate_brfss_survey(N_ROWS, SEED, YEAR, spec)
    pd.testing.assert_frame_equal(survey, again)
    other = generate_brfss_survey(N_ROWS, SEED + 1, YEAR, spec)
    assert not survey.equals(other)
    assert (survey["GENHLTH"].values != other["GENHLTH"].values).mean() > 0.3


def test_identifiers_unique(survey):
    assert survey["SEQNO"].is_unique
    assert survey["_PSU"].is_unique
    assert survey["SEQNO"].str.len().eq(10).all()
    assert survey["SEQNO"].iloc[0] == f"{YEAR}000001"
    assert (survey["_PSU"] == survey["SEQNO"].astype(np.int64)).all()


# ---------------------------------------------------------------------------------------------
# Marginal shares versus the codebook
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", sorted(CODEBOOK_PERCENT))
def test_marginal_shares_match_codebook(survey, variable):
    expected = CODEBOOK_PERCENT[variable]
    got = _percent(survey[variable])
    assert set(got.index.astype(int)) <= set(expected), f"unexpected codes in {variable}"
    for code, percent in expected.items():
        assert abs(got.get(float(code), 0.0) - percent) <= 2.5, (variable, code, got.to_dict())


def test_blank_shares_follow_skip_patterns(survey):
    both_none = (survey["PHYSHLTH"] == 88) & (survey["MENTHLTH"] == 88)
    assert (survey["POORHLTH"].isna() == both_none).all()
    assert abs(survey["POORHLTH"].isna().mean() - 0.418) < 0.03  # 181,153 / 433,323
    assert abs(survey["HHADULT"].isna().mean() - 0.204) < 0.02  # landline interviews
    assert abs(survey["_BMI5"].isna().mean() - 0.0935) < 0.02
    assert abs((survey["DISPCODE"] == 1200).mean() - 0.1778) < 0.02
    assert set(survey["DISPCODE"].unique()) == {1100.0, 1200.0}
    # Items blank after a break-off only occur in partial completes.
    assert (survey.loc[survey["ALCDAY4"].isna(), "DISPCODE"] == 1200).all()
    assert {88.0, 77.0, 99.0} <= set(survey["PHYSHLTH"].dropna().unique())
    assert {888.0, 777.0, 999.0} <= set(survey["ALCDAY4"].dropna().unique())
    assert {88.0, 99.0} <= set(survey["CHILDREN"].dropna().unique())
    assert {88.0, 77.0, 99.0} <= set(survey["PRIMINS1"].dropna().unique())


def test_interview_dates(survey):
    assert (survey["IDATE"] == survey["IMONTH"] + survey["IDAY"] + survey["IYEAR"]).all()
    dates = pd.to_datetime(survey["IDATE"], format="%m%d%Y")  # raises on 30 February etc.
    late = survey["IYEAR"] == str(YEAR + 1)
    assert abs(late.mean() - 0.0584) < 0.01
    assert set(survey.loc[late, "IMONTH"]) <= {"01", "02"}
    assert set(survey["IYEAR"]) == {str(YEAR), str(YEAR + 1)}
    assert dates.dt.year.isin([YEAR, YEAR + 1]).all()
    in_year = ~late
    assert (survey.loc[in_year, "FMONTH"] <= survey.loc[in_year, "IMONTH"].astype(int)).all()
    assert survey["FMONTH"].between(1, 12).all()


# ---------------------------------------------------------------------------------------------
# Calculated variables are consistent with their sources
# ---------------------------------------------------------------------------------------------


def _check_map(frame, source, target, mapping, default):
    expected = frame[source].map(mapping).fillna(default)
    assert (frame[target] == expected).all(), f"{target} inconsistent with {source}"


def test_calculated_variables_consistent(survey):
    _check_map(survey, "GENHLTH", "_RFHLTH", {1: 1, 2: 1, 3: 1, 4: 2, 5: 2}, 9)
    _check_map(survey, "EXERANY2", "_TOTINDA", {1: 1, 2: 2}, 9)
    _check_map(survey, "PRIMINS1", "_HLTHPL1", {**{c: 1 for c in range(1, 11)}, 88: 2}, 9)
    _check_map(survey, "EDUCA", "_EDUCAG", {1: 1, 2: 1, 3: 1, 4: 2, 5: 3, 6: 4}, 9)
    _check_map(survey, "INCOME3", "_INCOMG1",
               {1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 6: 4, 7: 5, 8: 5, 9: 6, 10: 6, 11: 7}, 9)
    assert (survey["_SEX"] == survey["SEXVAR"]).all()

    phys = survey["PHYSHLTH"]
    expected_phys = np.select([phys == 88, phys.between(1, 13), phys.between(14, 30)],
                              [1, 2, 3], 9)
    assert (survey["_PHYS14D"] == expected_phys).all()

    smoke = survey["SMOKE100"]
    assert (survey.loc[smoke == 2, "_SMOKER3"] == 4).all()
    assert survey.loc[smoke == 1, "_SMOKER3"].isin([1, 2, 3, 9]).all()
    assert (survey.loc[~smoke.isin([1, 2]), "_SMOKER3"] == 9).all()

    alc = survey["ALCDAY4"]
    assert (survey.loc[alc == 888, "DRNKANY6"] == 2).all()
    assert (survey.loc[alc.between(101, 230), "DRNKANY6"] == 1).all()
    assert (survey.loc[alc.isna() | (alc == 999), "DRNKANY6"] == 9).all()


def test_bmi_and_body_measures(survey):
    bmi = survey["_BMI5"]
    cat = np.select([bmi < 1850, bmi < 2500, bmi < 3000, bmi >= 3000], [1, 2, 3, 4], np.nan)
    assert np.array_equal(survey["_BMI5CAT"].to_numpy(), cat, equal_nan=True)
    assert (survey["_RFBMI5"] == np.select([bmi < 2500, bmi >= 2500], [1, 2], 9)).all()
    known = bmi.notna()
    recomputed = np.floor(survey.loc[known, "WTKG3"] * 10000 / survey.loc[known, "HTM4"] ** 2
                          + 0.5)
    assert (recomputed == bmi[known]).all()
    assert bmi[known].between(1200, 9999).all() and (bmi[known] % 1 == 0).all()
    assert bmi[known].median() > 2400 and bmi[known].median() < 3000  # 2 implied decimals

    weight = survey["WEIGHT2"].dropna()
    assert (weight.between(50, 776) | weight.isin([7777, 9999])).all()
    height = survey["HEIGHT3"].dropna()
    inches = height % 100
    assert ((height.between(300, 711) & (inches < 12)) | height.isin([7777, 9999])).all()
    valid_h = survey["HEIGHT3"].between(300, 711)
    assert survey.loc[valid_h, "HTM4"].between(91, 244).all()


def test_age_variables_consistent(survey):
    age = survey["_AGE80"]
    assert age.between(18, 80).all()
    group = np.searchsorted([25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80], age,
                            side="right") + 1
    reported = survey["_AGEG5YR"] != 14
    assert (survey.loc[reported, "_AGEG5YR"] == group[reported.to_numpy()]).all()
    assert abs((~reported).mean() - 0.018) < 0.006
    age_g = np.searchsorted([25, 35, 45, 55, 65], age, side="right") + 1
    assert (survey["_AGE_G"] == age_g).all()


# ---------------------------------------------------------------------------------------------
# Design and weights
# ---------------------------------------------------------------------------------------------


def test_state_shares_and_weights(survey):
    weights = survey["_LLCPWT"]
    assert (weights > 0).all()
    assert abs(weights.sum() - 2.6e8) / 2.6e8 < 0.01
    assert weights.std() / weights.mean() > 0.5  # a real spread, not constant weights
    california = survey["_STATE"] == 6
    assert abs(california.mean() - 0.0276) < 0.006  # unweighted share
    assert abs(weights[california].sum() / weights.sum() - 0.1218) < 0.005  # weighted share
    washington = survey["_STATE"] == 53  # over-sampled: 6.10 % unweighted, 2.45 % weighted
    assert washington.mean() > 0.05
    assert abs(weights[washington].sum() / weights.sum() - 0.0245) < 0.003
    assert {66.0, 72.0, 78.0} <= set(survey["_STATE"].unique())
    assert (survey["_STSTR"] // 1000 == survey["_STATE"]).all()
    young = survey["_AGEG5YR"] == 1  # 6.06 % unweighted, 12.37 % weighted
    assert weights[young].sum() / weights.sum() > 0.11


# ---------------------------------------------------------------------------------------------
# Signal for a fair/poor health model
# ---------------------------------------------------------------------------------------------


def test_fair_poor_depends_on_risk_factors(survey):
    by = survey.groupby
    assert _fair_poor_share(survey[survey["_AGEG5YR"] == 13]) > \
        _fair_poor_share(survey[survey["_AGEG5YR"] == 1]) + 0.05
    assert _fair_poor_share(survey[survey["INCOME3"] == 1]) > \
        _fair_poor_share(survey[survey["INCOME3"] == 11]) + 0.15
    assert _fair_poor_share(survey[survey["_SMOKER3"] == 1]) > \
        _fair_poor_share(survey[survey["_SMOKER3"] == 4]) + 0.05
    assert by("DIFFWALK")["_RFHLTH"].apply(lambda s: (s == 2).mean())[1.0] > 0.4


def test_logistic_regression_without_leakage_has_realistic_auc(survey):
    answered = survey[survey["_RFHLTH"] != 9]
    target = (answered["_RFHLTH"] == 2).astype(int)
    excluded = LEAKAGE | EXPECTED_CHAR | {"_PSU", "_LLCPWT", "_STSTR", "FMONTH", "DISPCODE"}
    continuous = ["_AGE80", "HTM4", "WTKG3", "_BMI5"]
    categorical = [c for c in answered.columns if c not in excluded and c not in continuous
                   and answered[c].nunique() <= 60]
    dummies = pd.get_dummies(answered[categorical].fillna(-1).astype(int).astype("category"))
    numeric = answered[continuous].apply(lambda s: (s - s.mean()) / s.std())
    features = pd.concat([dummies.astype(float), numeric.fillna(0.0),
                          answered[continuous].isna().astype(float).add_suffix("_NA")], axis=1)
    x_train, x_test, y_train, y_test = train_test_split(
        features.to_numpy(), target.to_numpy(), test_size=0.3, random_state=0, stratify=target)
    model = LogisticRegression(max_iter=2000, C=0.5).fit(x_train, y_train)
    auc = roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])
    print(f"logistic test ROC-AUC {auc:.3f}")
    assert 0.74 <= auc <= 0.90, auc


def test_true_probability_auc_is_realistic(spec):
    frame, truth = _simulate(N_ROWS, SEED, YEAR, spec)
    answered = (frame["_RFHLTH"] != 9).to_numpy()
    auc = roc_auc_score(frame["_RFHLTH"].to_numpy()[answered] == 2,
                        truth["p_fair_poor"][answered])
    print(f"true-probability ROC-AUC {auc:.3f}")
    assert 0.78 <= auc <= 0.87, auc
    assert abs(truth["p_fair_poor"].mean() - 0.1906) < 0.002  # intercept solved on the sample


# ---------------------------------------------------------------------------------------------
# SAS XPORT v5 round trip
# ---------------------------------------------------------------------------------------------


def test_xport_round_trip(spec, tmp_path):
    frame = generate_brfss_survey(500, SEED, YEAR, spec)
    path = tmp_path / "LLCP2023.XPT"
    pyreadstat.write_xport(frame, str(path), file_format_version=5)
    back = pd.read_sas(path, format="xport", encoding="utf-8")
    assert list(back.columns) == list(frame.columns)
    for name in frame.columns:
        if name in EXPECTED_CHAR:
            assert (back[name] == frame[name]).all(), name
        else:
            assert np.array_equal(back[name].to_numpy(), frame[name].to_numpy(),
                                  equal_nan=True), name


def test_other_questions_follow_their_shares_and_leave_the_modelled_variables_alone(spec):
    modelled_only = {k: v for k, v in spec.items() if k != "other_questions"}
    alone = generate_brfss_survey(N_ROWS, SEED, YEAR, modelled_only)
    survey = generate_brfss_survey(N_ROWS, SEED, YEAR, spec)
    pd.testing.assert_frame_equal(survey[list(BRFSS_COLUMNS)], alone)
    seatbelt = spec["other_questions"]["SEATBELT"]
    expected_blank = seatbelt["blank"] / sum(seatbelt.values())
    assert survey["SEATBELT"].isna().mean() == pytest.approx(expected_blank, abs=0.02)
    answered = set(survey["SEATBELT"].dropna().unique())
    assert answered <= {float(c) for c in seatbelt if c != "blank"}


def test_an_other_question_may_not_reuse_a_modelled_name(spec):
    clash = {**spec, "other_questions": {"GENHLTH": {1: 1, "blank": 1}}}
    with pytest.raises(ValueError, match="GENHLTH"):
        generate_brfss_survey(50, SEED, YEAR, clash)


# ---------------------------------------------------------------------------------------------
# Yearly files: each year in its own layout
# ---------------------------------------------------------------------------------------------


def test_a_year_with_a_layout_gets_its_names_codes_and_gaps(spec, survey):
    from health_risk.pipelines.sample_data.brfss_generator import in_year_layout

    layout = spec["file_layouts"][2016]
    old = in_year_layout(survey, 2016, spec)
    assert not set(layout["absent"]) & set(old.columns)
    assert {"SEX", "HLTHPLN1", "INCOME2"} <= set(old.columns)
    assert not {"SEXVAR", "_HLTHPL1", "INCOME3"} & set(old.columns)
    # The 2023 income brackets 9-11 are 2016's 8 ($75,000+); _HLTHPL1's 9 is HLTHPLN1's 7.
    assert set(old["INCOME2"].dropna()) <= {1, 2, 3, 4, 5, 6, 7, 8, 77, 99}
    assert (old["INCOME2"] == 8).sum() == survey["INCOME3"].isin([8, 9, 10, 11]).sum()
    assert (old["HLTHPLN1"] == 7).sum() == (survey["_HLTHPL1"] == 9).sum() > 0
    assert in_year_layout(survey, 2023, spec) is survey  # no layout: the 2023 names


def test_the_sample_writes_one_file_per_year_each_with_its_own_draws(spec):
    from health_risk.pipelines.sample_data.nodes import make_brfss_survey

    made = make_brfss_survey({"brfss": {"n_rows": 300, "years": [2023, 2016]}}, spec)
    assert list(made) == ["LLCP2016.XPT", "LLCP2023.XPT"]
    files = {name: make() for name, make in made.items()}  # each year made when written
    assert (files["LLCP2016.XPT"]["IYEAR"].mode()[0], files["LLCP2023.XPT"]["IYEAR"].mode()[0]) \
        == ("2016", "2023")
    assert "SEX" in files["LLCP2016.XPT"] and "SEXVAR" in files["LLCP2023.XPT"]
    assert not files["LLCP2016.XPT"]["_LLCPWT"].equals(files["LLCP2023.XPT"]["_LLCPWT"])
    one = make_brfss_survey({"brfss": {"n_rows": 300}}, spec)
    assert list(one) == ["LLCP2023.XPT"]  # `year` alone: one file, as before
