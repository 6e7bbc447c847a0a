"""Features traced to their sources, against the columns each year's file lacked."""

from __future__ import annotations

from health_risk.core.features.availability import (
    CATEGORICAL_TREATMENT,
    NUMERIC_TREATMENT,
    feature_availability,
    feature_sources,
)
from health_risk.core.features.config import FeatureEngineeringConfig

CONFIG = FeatureEngineeringConfig.model_validate({
    "study": "survey", "task": "classification", "id_column": "seqno",
    "target": {"column": "_rfhlth", "mapping": {2: 1, 1: 0}},
    "derivations": [
        {"step": "recode", "input": "_urbstat", "output": "urban_rural",
         "mapping": {1: "urban", 2: "rural"}},
        {"step": "recode", "input": "_hlthpl1", "output": "insured",
         "mapping": {1: "yes", 2: "no"}},
        {"step": "count_equal", "inputs": ["cvdinfr4", "asthma3"], "values": [1],
         "output": "conditions"},
        {"step": "scale", "input": "_bmi5", "output": "bmi"},
        {"step": "bin", "input": "bmi", "output": "bmi_category", "edges": [25.0],
         "labels": ["normal", "heavy"]},
    ],
    "numeric_features": ["bmi", "conditions"],
    "categorical_features": ["urban_rural", "insured", "bmi_category", "sexvar"],
    "leakage_columns": [],
})


def _report(**absent):
    return {"years": {year: {"absent_optional_columns": columns}
                      for year, columns in absent.items()}}


def test_features_are_traced_through_every_derivation_to_their_sources():
    assert feature_sources(CONFIG) == {
        "bmi": ["_bmi5"], "conditions": ["asthma3", "cvdinfr4"], "urban_rural": ["_urbstat"],
        "insured": ["_hlthpl1"], "bmi_category": ["_bmi5"], "sexvar": ["sexvar"]}


def test_a_feature_no_year_asked_is_dropped_with_its_reason():
    availability = feature_availability(CONFIG, _report(**{"2016": ["_urbstat", "_bmi5"],
                                                           "2017": ["_urbstat"]}))
    assert [d["feature"] for d in availability["dropped"]] == ["urban_rural"]
    assert "['_urbstat']" in availability["dropped"][0]["reason"]
    assert "2016, 2017" in availability["dropped"][0]["reason"]
    partial = {p["feature"]: p for p in availability["partial"]}
    assert sorted(partial) == ["bmi", "bmi_category"]
    assert partial["bmi"]["absent_in"] == {"_bmi5": ["2016"]}
    assert partial["bmi"]["treatment"] == NUMERIC_TREATMENT
    assert partial["bmi_category"]["treatment"] == CATEGORICAL_TREATMENT


def test_a_feature_with_one_source_left_is_partial_not_dropped():
    availability = feature_availability(CONFIG, _report(**{"2016": ["asthma3"]}))
    assert availability["dropped"] == []
    assert availability["partial"][0]["absent_in"] == {"asthma3": ["2016"]}


def test_a_source_read_whole_lists_its_absent_columns_once():
    availability = feature_availability(CONFIG, {"absent_optional_columns": ["_hlthpl1"]})
    assert [d["feature"] for d in availability["dropped"]] == ["insured"]
    assert availability["years"] == ["all"]
    assert feature_availability(CONFIG, {}) == {"years": ["all"], "dropped": [], "partial": []}
