"""Datasets behind the reporting pipeline: optional inputs, PNG figures that load back,
QuickSight manifests and the offline US state outlines."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
from kedro.io import DatasetError

from health_risk.datasets import (
    OptionalDataset,
    PngFigureDataset,
    QuickSightManifestDataset,
    UsStateBoundariesDataset,
)


def test_optional_dataset_loads_none_until_the_wrapped_dataset_exists(tmp_path):
    dataset = OptionalDataset(dataset={"type": "json.JSONDataset",
                                       "filepath": str(tmp_path / "report.json")})
    assert not dataset.exists()
    assert dataset.load() is None
    dataset.save({"rows": 3})
    assert dataset.exists() and dataset.load() == {"rows": 3}


def test_a_partitioned_table_with_only_empty_writes_counts_as_missing(spark, tmp_path):
    def table(**options):
        return OptionalDataset(dataset={
            "type": "spark.SparkDatasetV2", "filepath": str(tmp_path / "quarantine"),
            "file_format": "parquet", "save_args": {"mode": "overwrite",
                                                    "partitionBy": ["batch_id"]}}, **options)

    empty = spark.createDataFrame([], "id string, batch_id string")
    table().save(empty)  # a folder with _SUCCESS and no data file: Spark has no schema to read
    with pytest.raises(DatasetError, match="UNABLE_TO_INFER_SCHEMA"):
        table().exists()
    assert table(empty_folder_is_missing=True).load() is None
    table().save(spark.createDataFrame([("1", "b1")], "id string, batch_id string"))
    assert table(empty_folder_is_missing=True).load().count() == 1


def test_png_figure_dataset_saves_a_figure_and_loads_png_bytes(tmp_path):
    dataset = PngFigureDataset(filepath=str(tmp_path / "plot.png"))
    with pytest.raises(DatasetError, match="no PNG written yet"):
        dataset.load()
    figure, axes = plt.subplots()
    axes.plot([0, 1], [1, 0])
    dataset.save(figure)
    assert dataset.load().startswith(b"\x89PNG\r\n\x1a\n")


def test_manifest_dataset_resolves_relative_uris_and_probes_each_file(tmp_path):
    (tmp_path / "a.csv").write_text("x,rows\n1,2\n")
    dataset = QuickSightManifestDataset(path=str(tmp_path), tables_path=str(tmp_path))
    dataset.save({"a": {"fileLocations": [{"URIs": ["a.csv"]}], "globalUploadSettings": {}},
                  "b": {"fileLocations": [{"URIs": ["b.csv", "s3://bucket/b.csv"]}]}})
    written = json.loads((tmp_path / "a.manifest.json").read_text())
    assert written["fileLocations"][0]["URIs"] == [f"file://{tmp_path}/a.csv"]
    loaded = dataset.load()
    assert loaded["a"]["files"][0] == {"uri": f"file://{tmp_path}/a.csv", "exists": True,
                                       "bytes": 11, "header": "x,rows"}
    assert loaded["b"]["files"][0]["exists"] is False
    unreadable = loaded["b"]["files"][1]
    assert unreadable["exists"] is False and "s3fs" in unreadable["error"]
    # A table dropped from the configuration loses its manifest on the next save.
    dataset.save({"a": written})
    assert sorted(p.name for p in tmp_path.glob("*.manifest.json")) == ["a.manifest.json"]


def test_manifest_dataset_names_a_broken_manifest(tmp_path):
    (tmp_path / "a.manifest.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"a.manifest.json: not valid JSON"):
        QuickSightManifestDataset(path=str(tmp_path)).load()


def test_us_state_boundaries_cover_the_states_with_fips_ids_and_stay_small():
    boundaries = UsStateBoundariesDataset(resolution=0.05).load()
    features = {f["id"]: f for f in boundaries["features"]}
    states = {f["properties"]["postal"] for f in features.values()}
    assert {"CA", "TX", "NY", "AK", "HI", "DC", "PR"} <= states and len(states) >= 51
    assert features["06"]["properties"]["postal"] == "CA"
    rings = [polygon[0] for polygon in features["06"]["geometry"]["coordinates"]]
    assert all(ring[0] == ring[-1] for ring in rings)  # closed
    assert max(len(ring) for ring in rings) >= 30  # the mainland keeps its shape
    assert len(json.dumps(boundaries)) < 200_000  # embedded in every map figure
    with pytest.raises(DatasetError, match="resolution must be > 0"):
        UsStateBoundariesDataset(resolution=0)
