"""The ingestion pipeline end to end on tiny generated raw files, without MLflow."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from health_risk.core.errors import DataQualityError
from health_risk.datasets import SparkSourceDataset
from health_risk.pipelines.ingestion.pipeline import create_pipeline
from health_risk.pipelines.sample_data.table_generators import (
    generate_insurance_charges,
    generate_stroke_patients,
)

from ...committed_config import committed_params, committed_registry, studies_running

CONF = Path(__file__).resolve().parents[3] / "conf" / "base" / "parameters"


class KeptDataset(MemoryDataset):
    """A memory dataset the runner does not release, so the test can read it afterwards."""

    def _release(self) -> None:
        pass


def _params():
    return committed_params("ingestion")


def _specs():
    return yaml.safe_load((CONF / "sample_data_tables_spec.yml").read_text())


def _catalog(tmp_path, stroke_csv, insurance_csv, params):
    datasets = {
        "stroke.raw_source@spark": SparkSourceDataset(filepath=str(stroke_csv)),
        "insurance.raw_source@spark": SparkSourceDataset(filepath=str(insurance_csv)),
        "params:stroke.ingestion": MemoryDataset(params["stroke"]["ingestion"]),
        "params:insurance.ingestion": MemoryDataset(params["insurance"]["ingestion"]),
    }
    for study in ("stroke", "insurance"):
        for name in ("validated", "quarantine", "validation_report"):
            datasets[f"{study}.{name}"] = KeptDataset(copy_mode="assign")
    return DataCatalog(datasets=datasets)


def _studies():
    return create_pipeline(studies=committed_registry()).only_nodes_with_namespaces(["stroke", "insurance"])


@pytest.fixture()
def raw_files(tmp_path):
    specs = _specs()
    stroke = generate_stroke_patients(800, 1, specs["stroke_spec"], personal_columns=True)
    insurance = generate_insurance_charges(300, 2, specs["insurance_spec"])
    stroke_csv, insurance_csv = tmp_path / "stroke.csv", tmp_path / "insurance.csv"
    stroke.to_csv(stroke_csv, index=False)
    insurance.to_csv(insurance_csv, index=False)
    return stroke_csv, insurance_csv


def test_every_study_has_the_same_generic_nodes():
    names = {n.name.split(".", 1)[1] for n in create_pipeline(studies=committed_registry()).nodes}
    assert names == {"normalise_columns", "flag_invalid_rows", "extract_quarantine",
                     "build_validation_report", "publish_validated_table"}
    namespaces = {n.namespace for n in create_pipeline(studies=committed_registry()).nodes}
    assert namespaces == set(studies_running("ingestion"))


def test_stroke_and_insurance_ingest_with_balanced_accounting(spark, tmp_path, raw_files):
    catalog = _catalog(tmp_path, *raw_files, _params())
    SequentialRunner().run(_studies(), catalog)
    stroke_report = catalog.load("stroke.validation_report")
    assert stroke_report["rows_read"] == 800
    assert stroke_report["rows_passed"] + stroke_report["rows_quarantined"] == 800
    assert stroke_report["dropped_personal_columns"] == [
        "address", "admission_date", "full_name", "phone_number"]
    stroke = catalog.load("stroke.validated")
    assert not {"full_name", "phone_number", "address"} & set(stroke.columns)
    assert stroke.filter("bmi is null").count() > 0  # 'N/A' decoded, not quarantined
    insurance_report = catalog.load("insurance.validation_report")
    assert insurance_report["rows_quarantined"] == 1  # the one exact duplicate
    assert insurance_report["violations"][0]["rule"] == "duplicate_row"
    assert catalog.load("insurance.quarantine").count() == 1
    assert catalog.load("insurance.validated").count() == 299


def test_corrupted_rows_are_quarantined_with_reasons_not_dropped(spark, tmp_path, raw_files):
    stroke_csv, insurance_csv = raw_files
    frame = pd.read_csv(stroke_csv, dtype=str, keep_default_na=False)
    frame.loc[0, "Age"] = "sixty"
    frame = pd.concat([frame, frame.iloc[[1]]], ignore_index=True)  # a duplicate id
    frame.to_csv(stroke_csv, index=False)
    catalog = _catalog(tmp_path, stroke_csv, insurance_csv, _params())
    SequentialRunner().run(_studies(), catalog)
    report = catalog.load("stroke.validation_report")
    assert report["rows_read"] == 801 and report["rows_quarantined"] == 2
    rules = {(v["rule"], v["column"]) for v in report["violations"]}
    assert rules == {("type:double", "age"), ("unique", "id")}


def test_missing_required_column_stops_the_run_naming_file_and_column(spark, tmp_path,
                                                                    raw_files):
    stroke_csv, insurance_csv = raw_files
    frame = pd.read_csv(insurance_csv).drop(columns=["charges"])
    frame.to_csv(insurance_csv, index=False)
    catalog = _catalog(tmp_path, stroke_csv, insurance_csv, _params())
    with pytest.raises(DataQualityError) as err:
        SequentialRunner().run(_studies(), catalog)
    assert "insurance.csv" in str(err.value) and "charges" in str(err.value)
    assert "required_column" in str(err.value)


def _published_catalog(data_root: Path, stroke_csv: Path, params) -> DataCatalog:
    """stroke's validated table, quarantine and report as the committed catalog declares them
    (one publication), under a scratch data root."""
    catalog_conf = Path(__file__).resolve().parents[3] / "conf" / "base" / "catalog"
    entries = {}
    for layer in ("02_intermediate.yml", "08_reporting.yml"):
        text = (catalog_conf / layer).read_text().replace("{study}", "stroke").replace(
            "${globals:data_root}", str(data_root))
        entries.update({k: v for k, v in yaml.safe_load(text).items()
                        if k in {"stroke.validated", "stroke.quarantine",
                                 "stroke.validation_report"}})
    catalog = DataCatalog.from_config(entries)
    catalog["stroke.raw_source@spark"] = SparkSourceDataset(filepath=str(stroke_csv))
    catalog["params:stroke.ingestion"] = MemoryDataset(params["stroke"]["ingestion"])
    for name in ("normalised_source", "flagged_rows", "column_audit"):
        catalog[f"stroke.{name}"] = MemoryDataset(copy_mode="assign")
    return catalog


def test_a_refused_run_leaves_the_previous_table_with_its_own_report(spark, tmp_path,
                                                                     raw_files):
    from health_risk.framework.hooks.publication import PublicationHooks

    stroke_csv, _ = raw_files
    stroke = create_pipeline(studies=committed_registry()).only_nodes_with_namespaces(["stroke"])
    SequentialRunner().run(stroke, _published_catalog(tmp_path / "data", stroke_csv, _params()))

    frame = pd.read_csv(stroke_csv, dtype=str, keep_default_na=False)
    frame.loc[:99, "Age"] = "sixty"  # 100 of 800 rows: above the 5 % quarantine limit
    frame.to_csv(tmp_path / "broken.csv", index=False)
    catalog = _published_catalog(tmp_path / "data", tmp_path / "broken.csv", _params())
    with pytest.raises(DataQualityError, match="max_quarantine_share"):
        SequentialRunner().run(stroke, catalog)
    PublicationHooks().on_pipeline_error(None, {}, stroke, catalog)  # what a session calls
    # The refused run's quarantine and report were written, beside, and not published.
    assert len(list((tmp_path / "data/02_intermediate/stroke/quarantine").iterdir())) == 2

    catalog = _published_catalog(tmp_path / "data", stroke_csv, _params())
    report = catalog.load("stroke.validation_report")
    assert report["rows_read"] == 800 and report["rows_quarantined"] == 0
    assert catalog.load("stroke.validated").count() == report["rows_passed"] == 800
    assert catalog.load("stroke.quarantine").count() == 0
