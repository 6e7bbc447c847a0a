"""Survey-weighted trends (core/survey_trends.py) on a generated multi-year design: yearly
prevalence against pandas, the yearly design-based SE against the single-year code run on that
year's rows alone, CDC's pooled weights, the pooled SE with year-specific strata against the
formula written out by hand, and the change between the first and the last year."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType
from scipy import stats

from health_risk.core.survey_design import (
    NO_DATA,
    design_standard_errors,
    korn_graubard,
    nchs_reliability,
)
from health_risk.core.survey_trends import (
    EQUAL,
    NATIONAL,
    POOLED_WEIGHT,
    pooled_weights,
    survey_trends,
)

from .test_survey_design import _by_hand

STATES = {"AL": 1, "AK": 2, "AZ": 4, "AR": 5}
YEARS = (2021, 2022, 2023)
SCHEMA = StructType([StructField("_state", IntegerType()), StructField("state", StringType()),
                     StructField("year", IntegerType()), StructField("strata", DoubleType()),
                     StructField("psu", DoubleType()), StructField("w", DoubleType()),
                     StructField("y", DoubleType())])
KEYS = ["scope", "state", "_state"]


def _survey(seed: int = 25) -> pd.DataFrame:
    """Three yearly samples of four states. Strata are nested in states and their codes are the
    same every year (10 * FIPS + 0..2); PSU ids repeat across strata and years; 2-4 PSUs per
    stratum (one single-PSU stratum in 2022), 2-6 respondents per PSU, unequal weights, ~8 %
    without an answer, a few weights of 0 (out of the design); AR has no respondents in the
    first year; the prevalence moves from year to year."""
    rng = np.random.default_rng(seed)
    rows = []
    for y, year in enumerate(YEARS):
        for state, fips in STATES.items():
            if (state, year) == ("AR", 2021):
                continue
            prevalence = 0.15 + 0.05 * y + 0.04 * fips / 5
            for s in range(3):
                psus = 1 if (state, year, s) == ("AK", 2022, 2) else int(rng.integers(2, 5))
                for psu in range(1, psus + 1):
                    for _ in range(int(rng.integers(2, 7))):
                        answered = rng.random() > 0.08
                        weight = 0.0 if rng.random() < 0.02 else float(rng.uniform(50, 900))
                        rows.append((fips, state, year, float(10 * fips + s), float(psu),
                                     weight, float(rng.random() < prevalence)
                                     if answered else None))
    return pd.DataFrame(rows, columns=SCHEMA.fieldNames())


@pytest.fixture(scope="module")
def survey():
    return _survey()


@pytest.fixture(scope="module")
def rows(spark, survey):
    return spark.createDataFrame(survey.astype(object).where(survey.notna(), None), SCHEMA)


@pytest.fixture(scope="module")
def trends(rows):
    return survey_trends(rows, "state", "year", "y", "w", "strata", "psu", carry=("_state",))


def _keyed(table: pd.DataFrame, *extra: str) -> pd.DataFrame:
    return table.assign(state=table["state"].fillna("all")).set_index(["state", *extra])


def test_yearly_weighted_prevalence_equals_pandas(survey, trends):
    estimated = survey[survey["y"].notna() & (survey["w"] > 0)]
    by_area = estimated.groupby(["state", "year"])
    national = estimated.assign(state="all").groupby(["state", "year"])
    expected = pd.concat([
        pd.DataFrame({"weighted": g.apply(lambda f: (f["w"] * f["y"]).sum() / f["w"].sum(),
                                          include_groups=False),
                      "respondents": g.size(), "unweighted": g["y"].mean(),
                      "weighted_population": g["w"].sum()})
        for g in (by_area, national)])
    got = _keyed(trends.yearly, "year")
    assert sorted(got.index) == sorted(expected.index)
    assert ("AR", 2021) not in got.index  # no respondents that year: no row
    got = got.loc[expected.index]
    for column in ("weighted", "unweighted", "weighted_population"):
        assert got[column].to_numpy() == pytest.approx(expected[column].to_numpy(), rel=1e-9,
                                                       abs=1e-12), column
    assert got["respondents"].tolist() == expected["respondents"].tolist()
    assert list(trends.yearly.columns[:4]) == ["scope", "state", "_state", "year"]
    # National rows first (no area, no area code), then the areas in order, by year.
    national_rows = trends.yearly[trends.yearly["scope"] == NATIONAL]
    assert national_rows.index.tolist() == [0, 1, 2] and national_rows["year"].tolist() == [
        *YEARS] and national_rows["_state"].isna().all()
    assert trends.yearly.loc[3:, "state"].tolist()[:3] == ["AK"] * 3


def test_yearly_design_se_equals_the_single_year_code_on_that_years_rows(survey, rows,
                                                                          trends):
    """One pass with domains (area, year) and year-specific strata gives what
    ``design_standard_errors`` gives on each year's rows alone (stratum codes repeat across
    years here, so strata pooled across years would change n_h and the SE); the national
    series is the formula written out by hand on each year's design."""
    got = _keyed(trends.yearly, "year")
    columns = ["design_se", "strata_used", "psus_used", "singleton_strata"]
    for year in YEARS:
        expected = (design_standard_errors(rows.filter(rows["year"] == year), "state", "y", "w",
                                           "strata", "psu")
                    .assign(year=year).set_index(["state", "year"])[columns])
        shown = got.loc[expected.index]
        assert shown["se"].to_numpy() == pytest.approx(expected["design_se"].to_numpy(),
                                                       rel=1e-12, abs=1e-15), year
        for column in columns[1:]:
            assert shown[column].tolist() == expected[column].tolist(), (year, column)
        design = survey[(survey["year"] == year) & (survey["w"] > 0)].assign(state="all")
        hand = _by_hand(design, "all")
        assert got.loc[("all", year), "se"] == pytest.approx(np.sqrt(hand["variance"]),
                                                             rel=1e-12), year
        assert got.loc[("all", year), "degrees_of_freedom"] == hand["df"]
    assert got.loc[("AK", 2022), "singleton_strata"] == 1
    # Stratum (and PSU) codes taken as the same across years would give another SE: the test
    # has teeth.
    two_years = survey[survey["year"].isin([2021, 2022]) & (survey["w"] > 0)]
    pooled_strata = _by_hand(two_years.assign(
        state=np.where(two_years["year"] == 2022, "all", "2021")), "all")
    assert np.sqrt(pooled_strata["variance"]) != pytest.approx(got.loc[("all", 2022), "se"],
                                                               rel=1e-3)
    # The interval and flag are the published ones: Korn-Graubard with df = PSUs - strata.
    row = got.loc[("AL", 2023)]
    assert row["degrees_of_freedom"] == row["psus_used"] - row["strata_used"]
    kg = korn_graubard([row["weighted"]], [row["se"] ** 2], [row["respondents"]],
                       [row["degrees_of_freedom"]]).iloc[0]
    assert [row["ci_low"], row["ci_high"], row["effective_n"]] == pytest.approx(
        [kg["ci_low"], kg["ci_high"], kg["effective_n"]], rel=1e-12)
    flag = nchs_reliability(pd.Series([row["weighted"]]), [kg["ci_low"]], [kg["ci_high"]],
                            [kg["effective_n"]], [row["degrees_of_freedom"]]).iloc[0]
    assert row["reliability"] == flag["reliability"]


def _pooled_by_pandas(survey: pd.DataFrame, equal: bool = False) -> pd.Series:
    positive = survey[survey["w"] > 0]
    n_area_year = positive.groupby(["state", "year"])["w"].transform("size")
    n_area = positive.groupby("state")["w"].transform("size")
    years = positive.groupby("state")["year"].transform("nunique")
    factor = 1.0 / years if equal else n_area_year / n_area
    return (positive["w"] * factor).reindex(survey.index)


def test_pooled_weights_follow_cdcs_adjustment_for_combining_years(survey, rows):
    got = (pooled_weights(rows, "state", "year", "w").toPandas()
           .merge(pooled_weights(rows, "state", "year", "w", EQUAL)
                  .withColumnRenamed(POOLED_WEIGHT, "equal").toPandas()))
    got = got.sort_values(["state", "year", "strata", "psu", "w", "y"]).reset_index(drop=True)
    expected = survey.assign(sample_size=_pooled_by_pandas(survey),
                             equal=_pooled_by_pandas(survey, equal=True))
    expected = expected.sort_values(["state", "year", "strata", "psu", "w", "y"]).reset_index(
        drop=True)
    assert len(got) == len(survey)
    assert got[POOLED_WEIGHT].to_numpy() == pytest.approx(expected["sample_size"].to_numpy(),
                                                          rel=1e-12, nan_ok=True)
    assert got["equal"].to_numpy() == pytest.approx(expected["equal"].to_numpy(), rel=1e-12,
                                                    nan_ok=True)
    assert got.loc[got["w"] == 0, POOLED_WEIGHT].isna().all()
    # AR has two years: its weights are halved under `equal`; the others' divided by three.
    ar = got[(got["state"] == "AR") & (got["w"] > 0)]
    assert (ar["equal"] / ar["w"]).to_numpy() == pytest.approx(0.5)


def test_pooled_estimates_use_the_adjusted_weights_and_year_specific_strata(survey, trends):
    estimated = survey.assign(w=_pooled_by_pandas(survey))
    # The design: rows with a positive weight, strata (year, stratum).
    design = estimated[estimated["w"] > 0].assign(
        strata=lambda f: f["year"].astype(str) + "|" + f["strata"].astype(str))
    got = _keyed(trends.pooled)
    for state in [*STATES, "all"]:
        frame = design.assign(state="all") if state == "all" else design
        hand = _by_hand(frame, state)
        row = got.loc[state]
        assert row["weighted"] == pytest.approx(hand["p"], rel=1e-9)
        assert row["se"] == pytest.approx(np.sqrt(hand["variance"]), rel=1e-9)
        assert row["respondents"] == hand["n"] and row["degrees_of_freedom"] == hand["df"]
    assert got.loc["AR", "years"] == 2 and got.loc["AR", "first_year"] == 2022
    assert got.loc["all", "years"] == 3 and (trends.pooled["weighting"] == "sample_size").all()
    # The national pooled estimate is not the unadjusted one: states differ in sample share.
    unadjusted = survey[survey["y"].notna() & (survey["w"] > 0)]
    assert got.loc["all", "weighted"] != pytest.approx(
        (unadjusted["w"] * unadjusted["y"]).sum() / unadjusted["w"].sum(), rel=1e-9)


def test_change_from_first_to_last_year(trends):
    yearly = _keyed(trends.yearly, "year")
    change = _keyed(trends.change)
    assert list(change.index) == ["all", "AK", "AL", "AR", "AZ"]
    for state in ("all", "AK", "AL", "AZ"):
        first, last, row = yearly.loc[(state, 2021)], yearly.loc[(state, 2023)], change.loc[state]
        se = np.sqrt(first["se"] ** 2 + last["se"] ** 2)
        df = (first["se"] ** 2 + last["se"] ** 2) ** 2 / (
            first["se"] ** 4 / first["degrees_of_freedom"]
            + last["se"] ** 4 / last["degrees_of_freedom"])
        difference = last["weighted"] - first["weighted"]
        half = stats.t.ppf(0.975, df) * se
        assert [row["first_year"], row["last_year"]] == [2021, 2023]
        assert row["weighted"] == pytest.approx(difference, rel=1e-12)
        assert row["se"] == pytest.approx(se, rel=1e-12)
        assert row["degrees_of_freedom"] == pytest.approx(df, rel=1e-12)
        assert [row["ci_low"], row["ci_high"]] == pytest.approx(
            [difference - half, difference + half], rel=1e-12)
        assert row["p_value"] == pytest.approx(2 * stats.t.sf(abs(difference) / se, df),
                                               rel=1e-9)
        flags = {first["reliability"], last["reliability"]}
        expected = next((f for f in ("suppress", "review") if f in flags), "reliable")
        assert row["reliability"] == expected
    # AR was not surveyed in the first year: a row without figures, saying why.
    ar = change.loc["AR"]
    assert ar["reliability"] == NO_DATA and "no respondents in 2021" in ar["reliability_reason"]
    assert np.isnan(ar["weighted"]) and np.isnan(ar["p_value"])


def test_one_year_gives_one_yearly_row_a_pooled_row_equal_to_it_and_no_change(rows):
    one = survey_trends(rows.filter(rows["year"] == 2023), "state", "year", "y", "w", "strata",
                        "psu")
    assert set(one.yearly["year"]) == {2023} and one.change.empty
    yearly, pooled = _keyed(one.yearly, "year").droplevel("year"), _keyed(one.pooled)
    assert list(pooled.index) == list(yearly.index)
    for column in ("weighted", "se", "ci_low", "ci_high", "respondents", "degrees_of_freedom"):
        assert pooled[column].to_numpy() == pytest.approx(yearly[column].to_numpy(),
                                                          rel=1e-12), column
    assert (pooled["years"] == 1).all()


def test_a_respondent_without_a_year_is_refused(spark):
    frame = spark.createDataFrame([(1, "AL", None, 1.0, 1.0, 100.0, 1.0),
                                   (1, "AL", 2023, 1.0, 2.0, 100.0, 0.0)], SCHEMA)
    with pytest.raises(ValueError, match="1 respondent.*no 'year'"):
        survey_trends(frame, "state", "year", "y", "w", "strata", "psu")
    with pytest.raises(ValueError, match="pooled weighting 'mean'"):
        pooled_weights(frame, "state", "year", "w", "mean")
