"""A cached DataFrame handed over in memory is unpersisted once its last reader has run."""

from __future__ import annotations

from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner

from health_risk.datasets import CachedSparkMemoryDataset


def test_release_unpersists_the_cached_dataframe(spark):
    dataset = CachedSparkMemoryDataset()
    df = spark.range(10).cache()
    dataset.save(df)
    assert dataset.load() is df  # handed over as is (assign), not copied
    assert df.is_cached
    dataset.release()
    assert not df.is_cached


def test_the_runner_frees_the_cache_after_the_last_reader(spark):
    seen = {}

    def flag():
        seen["df"] = spark.range(20).cache()
        return seen["df"]

    def count_then_check(df):
        assert df.is_cached  # still cached while a reader runs
        return df.count()

    def check_again(df, n):
        assert df.is_cached
        return n + df.count()

    catalog = DataCatalog({"flagged": CachedSparkMemoryDataset(), "total": MemoryDataset()})
    pipeline = Pipeline([Node(flag, None, "flagged", name="flag"),
                         Node(count_then_check, "flagged", "n", name="first_reader"),
                         Node(check_again, ["flagged", "n"], "total", name="last_reader")])
    SequentialRunner().run(pipeline, catalog)
    assert catalog["total"].load() == 40
    assert not seen["df"].is_cached


def test_data_that_is_not_a_cached_dataframe_is_released_as_usual():
    dataset = CachedSparkMemoryDataset()
    dataset.save({"rows": 3})
    dataset.release()
    assert not dataset.exists()
