"""The batches reader: one table over the batch folders, each batch's files and the columns
each file lacks, no batch as a table of no rows, and an empty frame written as nothing."""

from __future__ import annotations

from health_risk.datasets import SparkBatchesDataset
from health_risk.datasets.batches import batch_files

SAVE = {"mode": "overwrite", "partitionBy": ["batch_id"], "partitionOverwriteMode": "dynamic"}


def test_each_batch_is_tagged_with_its_files_and_the_columns_they_lack(spark, tmp_path):
    folder = tmp_path / "batches"
    dataset = SparkBatchesDataset(filepath=str(folder), save_args=SAVE)
    assert dataset.load().count() == 0  # no folder yet: no batch, not an error
    dataset.save(spark.createDataFrame([(1, 80.5, "a")], "id int, glucose double, batch_id string")
                 .coalesce(1))
    dataset.save(spark.createDataFrame([(2, "b:1 x")], "id int, batch_id string").coalesce(1))
    table = dataset.load()
    assert sorted(table.columns) == ["batch_id", "glucose", "id"]  # every batch's columns
    assert {r["batch_id"]: r["glucose"] for r in table.collect()} == {"a": 80.5, "b:1 x": None}
    (a_file, a_lacks), = batch_files(table, "a").items()
    (b_file, b_lacks), = batch_files(table.filter("batch_id = 'b:1 x'"), "b:1 x").items()
    assert a_lacks == [] and b_lacks == ["glucose"]
    assert "batch_id=a/" in a_file and a_file.endswith(".parquet")
    assert b_file.startswith(str(folder)) and b_file.endswith(".parquet")
    assert batch_files(spark.range(1), "a") is None  # not read by this reader


def test_an_empty_frame_writes_nothing(spark, tmp_path):
    folder = tmp_path / "batches"
    dataset = SparkBatchesDataset(filepath=str(folder), save_args=SAVE)
    frame = spark.createDataFrame([(1, "a")], "id int, batch_id string")
    dataset.save(frame.limit(0))
    assert not folder.exists()  # no empty folder Spark could not read
    dataset.save(frame)
    dataset.save(frame.limit(0))  # a refused batch: the published ones stay
    assert [r["id"] for r in dataset.load().collect()] == [1]
