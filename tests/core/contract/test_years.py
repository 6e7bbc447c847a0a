"""A year's file seen through the contract (no Spark): names, required columns, unused maps."""

from __future__ import annotations

import pytest

from health_risk.core.contract.config import IngestionConfig
from health_risk.core.contract.years import part_columns, require_columns, unused_renames
from health_risk.core.errors import DataQualityError

CONTRACT = {
    "study": "survey",
    "columns": {
        "seqno": {"type": "string", "required": True},
        "sexvar": {"type": "int", "required": True, "missing_codes": [7, 9],
                   "allowed": [1, 2]},
        "_hlthpl1": {"type": "int", "missing_codes": [9], "allowed": [1, 2]},
        "_urbstat": {"type": "int", "allowed": [1, 2]},
    },
    "years": {2016: {"rename": {"SEX": "SEXVAR", "HLTHPLN1": "_HLTHPL1", "NOSUCH": "_URBSTAT"},
                     "recode": {"_HLTHPL1": {7: 9}}}},
}


def _part(year, columns):
    return {"file": f"data/01_raw/survey/LLCP{year}.XPT", "year": year, "columns": columns}


def test_a_years_names_map_onto_the_contract_and_other_years_keep_theirs():
    config = IngestionConfig.model_validate(CONTRACT)
    assert part_columns(_part(2016, ["SEQNO", "SEX", "HLTHPLN1"]), config) == {
        "seqno": "SEQNO", "sexvar": "SEX", "_hlthpl1": "HLTHPLN1"}
    # 2023 has no map: its own names are the contract's; SEX would be an undeclared column.
    assert part_columns(_part(2023, ["SEQNO", "SEXVAR", "SEX"]), config) == {
        "seqno": "SEQNO", "sexvar": "SEXVAR", "sex": "SEX"}
    assert config.recodes_for(2016) == {"_hlthpl1": {7: 9}} and config.recodes_for(2023) == {}


def test_a_year_without_a_required_column_names_file_year_column_and_where_to_map_it():
    config = IngestionConfig.model_validate(CONTRACT)
    part = _part(2021, ["SEQNO", "SEX"])
    with pytest.raises(DataQualityError) as error:
        require_columns(part, part_columns(part, config), config)
    message = str(error.value)
    assert "LLCP2021.XPT" in message and "survey year 2021" in message
    assert "['sexvar']" in message and "required_column" in message
    assert "survey.ingestion.years.2021.rename" in message


def test_two_variables_landing_on_one_name_are_refused_with_the_file():
    config = IngestionConfig.model_validate(CONTRACT)
    with pytest.raises(DataQualityError, match=r"LLCP2016\.XPT.*\['sexvar'\].*unique_column"):
        part_columns(_part(2016, ["SEQNO", "SEX", "SEXVAR"]), config)


def test_renames_whose_source_the_file_lacks_are_reported():
    config = IngestionConfig.model_validate(CONTRACT)
    assert unused_renames(_part(2016, ["SEQNO", "SEX", "HLTHPLN1"]), config) == ["nosuch"]
    assert unused_renames(_part(2023, ["SEQNO"]), config) == []


def test_a_year_may_only_map_onto_declared_columns():
    bad = {**CONTRACT, "years": {2016: {"rename": {"SEX": "GENDER"}}}}
    with pytest.raises(ValueError, match=r"years\.2016.*\['gender'\].*not declared"):
        IngestionConfig.model_validate(bad)
