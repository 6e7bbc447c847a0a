"""An environment's catalog override: key by key when the dataset type stays, the whole entry
when it changes; and README's SQL source for insurance, taken from README.md as written, loads
rows from a SQLite database (issue 26, item 8)."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import yaml

from health_risk.framework.config_loader import (
    CONFIG_LOADER_ARGS,
    StudyConfigLoader,
    merge_catalog,
)

PROJECT = Path(__file__).resolve().parents[2]
README_HEADING = "### Reading the insurance table from SQL"


def readme_sql_override() -> str:
    """The ```yaml block under README's SQL heading, character for character."""
    text = (PROJECT / "README.md").read_text()
    section = text.split(README_HEADING, 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    assert block, f"no ```yaml block under '{README_HEADING}' in README.md"
    return block.group(1)


def test_a_changed_type_replaces_the_entry_and_the_same_type_merges_key_by_key():
    base = {
        "t.raw_source@spark": {"type": "health_risk.datasets.SparkSourceDataset",
                               "filepath": "data/t.csv", "metadata": {"kedro-viz": {}}},
        "t.raw_database@spark": {"type": "health_risk.datasets.SparkFromPandasDataset",
                                 "dataset": {"type": "pandas.SQLQueryDataset", "sql": "SELECT 1",
                                             "credentials": "db"}},
    }
    sql = {"type": "health_risk.datasets.SparkFromPandasDataset",
           "dataset": {"type": "pandas.SQLQueryDataset", "sql": "SELECT 2"}}
    merged = merge_catalog(base, {
        "t.raw_source@spark": sql,
        # same outer type, another wrapped type: the wrapped mapping is replaced, not merged
        "t.raw_database@spark": {"dataset": {"type": "pandas.SQLTableDataset",
                                             "table_name": "t"}},
    })
    assert merged["t.raw_source@spark"] == sql  # no filepath, no metadata carried over
    assert merged["t.raw_database@spark"]["dataset"] == {"type": "pandas.SQLTableDataset",
                                                         "table_name": "t"}
    # Same type: only the stated keys change.
    moved = merge_catalog(base, {"t.raw_source@spark": {"filepath": "elsewhere/t.csv"}})
    assert moved["t.raw_source@spark"] == {**base["t.raw_source@spark"],
                                           "filepath": "elsewhere/t.csv"}
    restated = merge_catalog(base, {"t.raw_source@spark": {
        "type": "health_risk.datasets.SparkSourceDataset", "file_format": "json"}})
    assert restated["t.raw_source@spark"]["filepath"] == "data/t.csv"


def test_the_readme_sql_source_loads_rows_as_written(spark, tmp_path, monkeypatch):
    from kedro.io import DataCatalog

    conf = tmp_path / "conf"
    shutil.copytree(PROJECT / "conf" / "base", conf / "base")
    (conf / "local").mkdir()
    (conf / "local" / "catalog.yml").write_text(readme_sql_override())
    data_root = tmp_path / "data"
    monkeypatch.setenv("HEALTH_RISK_DATA_ROOT", str(data_root))

    # The database conf/base/credentials.yml names: insurance_db, a SQLite file under the data
    # root, table insurance_charges.
    credentials = yaml.safe_load((PROJECT / "conf" / "base" / "credentials.yml").read_text())
    assert credentials["insurance_db"]["con"].endswith("/01_raw/insurance/insurance.db")
    database = data_root / "01_raw" / "insurance" / "insurance.db"
    database.parent.mkdir(parents=True)
    rows = pd.DataFrame({"age": [19, 33, 61], "sex": ["female", "male", "female"],
                         "bmi": [27.9, 22.7, 29.1], "children": [0, 1, 3],
                         "smoker": ["yes", "no", "no"],
                         "region": ["southwest", "northwest", "northeast"],
                         "charges": [16884.92, 21984.47, 29141.36]})
    with sqlite3.connect(database) as connection:
        rows.to_sql("insurance_charges", connection, index=False)

    loader = StudyConfigLoader(conf_source=str(conf), env="local", **CONFIG_LOADER_ARGS)
    entry = loader["catalog"]["insurance.raw_source@spark"]
    assert "filepath" not in entry  # the base CSV entry's key is not carried into the override
    catalog = DataCatalog.from_config(loader["catalog"], loader["credentials"])
    loaded = catalog.load("insurance.raw_source@spark")
    assert loaded.count() == 3
    assert set(rows.columns) <= set(loaded.columns)
    first = loaded.orderBy("age").first()
    assert (first["age"], first["smoker"], first["region"]) == ("19", "yes", "southwest")


def test_the_readme_block_is_found():
    # Guards the parsing above: the block is the override of the raw source, not another one.
    block = readme_sql_override()
    assert block.startswith("insurance.raw_source@spark:\n")
    assert "SparkFromPandasDataset" in block and "filepath" not in block
