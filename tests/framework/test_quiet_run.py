"""A run prints no warning of the project's own making (issue 26, item 4): the env resolver's
annotations fit what spark.yml passes, the resolver is registered without the deprecated call,
the Spark builder gets no project keys, and the one library warning about dotted dataset names
is filtered because every dotted name is a registered namespace's dataset
(``framework.library_warnings``). The end-to-end test checks the default run the same way
(``tests/warning_capture.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from health_risk.framework.config_loader import (
    CONFIG_LOADER_ARGS,
    StudyConfigLoader,
    set_active_loader,
)

from ..warning_capture import capture_warnings, own_warnings

PROJECT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("env", ["base", "test"])
def test_every_dotted_dataset_name_is_a_registered_namespaces_dataset(env):
    """Why Kedro's dotted-name warning is filtered: dots only ever mean namespaces. A node may
    read or write another namespace's dataset (a reference table, the report's sections, the
    sample files), but every ``a.b`` is ``<registered study or reference>.<dataset>``."""
    from health_risk.pipeline_registry import register_pipelines

    loader = StudyConfigLoader(conf_source=str(PROJECT / "conf"), env=env, **CONFIG_LOADER_ARGS)
    set_active_loader(loader)
    registered = set(loader.study_registry().names)
    strays = sorted({f"{node.name}: {name}"
                     for pipeline in register_pipelines().values() for node in pipeline.nodes
                     for name in (*node.inputs, *node.outputs)
                     if "." in name and not name.startswith("params:")
                     and name.split(".")[0] not in registered})
    assert not strays


def test_loading_every_config_raises_no_warning_of_the_projects_making(monkeypatch):
    monkeypatch.setenv("SPARK_SHUFFLE_PARTITIONS", "3")  # the resolver's str, then the defaults
    with capture_warnings() as caught:
        loader = StudyConfigLoader(conf_source=str(PROJECT / "conf"), env="test",
                                   **CONFIG_LOADER_ARGS)
        for key in ("spark", "mlflow", "globals", "credentials", "catalog", "parameters"):
            loader[key]
    assert own_warnings(caught) == []
    monkeypatch.delenv("SPARK_SHUFFLE_PARTITIONS")
    with capture_warnings() as caught:
        spark = StudyConfigLoader(conf_source=str(PROJECT / "conf"), env="base",
                                  **CONFIG_LOADER_ARGS)["spark"]
    assert spark["spark.sql.shuffle.partitions"] == 8 and spark["spark.ui.enabled"] is False
    assert own_warnings(caught) == []
