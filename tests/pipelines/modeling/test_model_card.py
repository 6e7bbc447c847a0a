"""The model card from the reports it reads: the data facts come from one provenance summary of
the ingestion and feature reports (so the card's node stays within 8 inputs)."""

from __future__ import annotations

import pandas as pd

from health_risk.pipelines.modeling.model_card import build_model_card, summarise_data_provenance

from .toy_features import feature_spec, modeling_params


def _card(validation_report: dict, feature_report: dict, **spec) -> str:
    return build_model_card(
        {"model_name": "health_risk_toy", "version": "2", "run_id": "r1"},
        {"alias": "challenger", "reasons": ["does not beat champion v1"]},
        {"task": "classification", "test": {"roc_auc": 0.81, "rows": 400.0,
                                            "positive_rate": 0.05},
         "test_intervals": {"roc_auc": {"low": 0.75, "high": 0.86}}},
        {**feature_spec("classification"), **spec},
        pd.DataFrame({"group": ["sex=F"], "rows": [200], "roc_auc": [0.8]}),
        summarise_data_provenance(validation_report, feature_report),
        {"performed": False, "reason": "large study"},
        modeling_params("classification"))


def test_the_card_states_where_the_data_came_from_and_what_reached_the_model():
    card = _card({"sources": ["a.csv", "b.csv"], "rows_read": 1200, "rows_quarantined": 7,
                  "checked_at": "2026-01-02"},
                 {"rows_in": 1193, "rows_out": 1180, "rows_excluded": 13,
                  "excluded_rows_by_reason": {"target_missing": 13}})
    assert card.startswith("# Model card: health_risk_toy version 2")
    assert "- Source: a.csv, b.csv" in card
    assert "- Rows read at ingestion: 1200, quarantined: 7 (checked 2026-01-02)" in card
    assert "- Rows modelled: 1180 of 1193" in card
    assert "13 rows were not modelled" in card and "target_missing" in card
    assert "alias `challenger`" in card and "| roc_auc |" in card


def test_reports_without_the_facts_give_a_card_that_says_so():
    provenance = summarise_data_provenance({}, {})
    assert provenance["sources"] == [] and provenance["rows_excluded"] == 0
    card = _card({}, {})
    assert "- Source: not recorded" in card
    assert "- Rows read at ingestion: n/a, quarantined: n/a (checked n/a)" in card
    assert "rows were not modelled" not in card


def test_the_card_names_features_dropped_or_missing_by_design_in_some_years():
    card = _card({}, {}, dropped_features=[
        {"feature": "urban_rural", "sources": ["_urbstat"],
         "reason": "sources ['_urbstat'] are absent from every year's file (2016)"}],
        partially_available_features=[
            {"feature": "insured", "kind": "categorical", "absent_in": {"_hlthpl1": ["2016"]},
             "treatment": "a level of its own"}])
    assert ("- **Dropped** `urban_rural`: sources ['_urbstat'] are absent from every year's "
            "file (2016)") in card
    assert "- Missing by design in 2016: `insured` (categorical; a level of its own)" in card
