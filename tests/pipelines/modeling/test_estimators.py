"""xgboost.spark's worker count follows the Spark application's task slots."""

from __future__ import annotations

from health_risk.core.estimators import build_estimator, task_slots, xgboost_workers


def test_workers_follow_the_task_slots_and_never_exceed_them(spark):
    frame = spark.range(4)
    # The test session is local[1] (with default.parallelism 2: slots, not partitions, count).
    assert task_slots(frame) == 1
    assert xgboost_workers("auto", frame, ["xgboost"]) == 1
    assert xgboost_workers(4, frame, ["linear", "xgboost"]) == 1  # a barrier of 4 would hang
    # Without xgboost the SparkContext is not read (Spark Connect has none).
    assert xgboost_workers(4, object(), ["linear", "gbt"]) == 1


def test_the_worker_count_reaches_xgboost_unless_a_parameter_sets_it():
    estimator = build_estimator("xgboost", "classification", {"n_estimators": 5}, True, 3)
    assert estimator.getOrDefault("num_workers") == 3
    assert estimator.getOrDefault("weightCol") == "class_weight"
    pinned = build_estimator("xgboost", "regression", {"num_workers": 2}, False, 3)
    assert pinned.getOrDefault("num_workers") == 2
