"""Project pipelines.

``__default__`` is the end-to-end job on whatever sits in ``data/01_raw``; it deliberately
leaves out ``sample_data`` so a real download dropped in ``data/01_raw`` is never overwritten
(``make run`` generates the sample only when the raw files are missing).
"""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# Pipelines that make up the end-to-end run, in data-flow order.
END_TO_END = ("ingestion", "feature_engineering", "modeling", "synthetic_data", "inference",
              "reporting")


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (pipelines[name] for name in END_TO_END if name in pipelines), Pipeline([])
    )
    return pipelines
