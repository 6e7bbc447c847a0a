"""A study is one folder, conf/<env>/studies/<study>/: the config loader reads its registry
entry, Kedro's catalog its raw source, and its parameter blocks are completed from the defaults
of its task (conf/<env>/study_defaults/) with the registry's facts stamped in."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from health_risk.core.errors import ParameterError
from health_risk.framework.config_loader import CONFIG_LOADER_ARGS, StudyConfigLoader
from health_risk.framework.validation import validate_parameters

from .. import fourth_study_conf as fourth

PROJECT_CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.fixture()
def project(tmp_path):
    """A copy of the committed conf/ with the fourth study's folder in conf/test."""
    shutil.copytree(PROJECT_CONF, tmp_path / "conf", ignore=shutil.ignore_patterns("local"))
    (tmp_path / "conf" / "local").mkdir()
    fourth.add_to_project(tmp_path, env="test", n_rows=10)
    return tmp_path


def _loader(root: Path, env: str = "test") -> StudyConfigLoader:
    return StudyConfigLoader(conf_source=str(root / "conf"), env=env, **CONFIG_LOADER_ARGS)


def test_a_new_study_is_one_folder_of_what_it_must_state(project):
    folder = project / "conf" / "test" / "studies" / fourth.NAME
    assert sorted(p.name for p in folder.iterdir()) == ["catalog.yml", "parameters.yml",
                                                        "study.yml"]
    loader = _loader(project)
    registry = loader.study_registry()
    assert registry.studies[fourth.NAME].task == "classification"
    # The `studies` pattern reads registry entries only, never a folder's other files.
    assert set(loader["studies"]) == set(registry.names)
    assert f"{fourth.NAME}.raw_source@spark" in loader["catalog"]
    params = loader["parameters"]
    validate_parameters(params, registry)  # every block it reads, after the defaults
    blocks = params[fourth.NAME]
    # Defaults fill what it does not state; what it states wins, mappings merged key by key.
    assert blocks["split"] == {"seed": 42, "train": 0.6, "validation": 0.2}
    assert blocks["inference"]["batch_id"] == "latest"
    linear = blocks["modeling"]["candidates"]["linear"]
    assert linear["n_trials"] == 1 and linear["fixed"] == {"maxIter": 15, "elasticNetParam": 0.0}
    assert "regParam" in linear["search_space"]  # from the classification default
    assert set(blocks["modeling"]["candidates"]) == {"linear", "random_forest", "xgboost", "gbt"}
    assert blocks["modeling"]["quality_gate"] == {"thresholds": {"roc_auc": 0.6},
                                                  "min_improvement": 0.0}
    assert blocks["synthetic_data"]["fit_rows"] == 600
    assert blocks["synthetic_data"]["privacy"] == {"rare_record_k": 5,
                                                   "max_rare_record_copies": 0,
                                                   "max_exact_copies": None, "dcr_rows": 500}
    # Identity and task stamped, stated nowhere in the folder's parameters.
    assert blocks["modeling"]["study"] == fourth.NAME
    assert blocks["feature_engineering"]["task"] == blocks["modeling"]["task"] == \
        "classification"
    # It stated only a title: the default report's tables and charts come with it.
    assert set(blocks["reporting"]["aggregates"]) == {"rows_by_outcome"}


def test_a_study_s_own_tables_replace_the_default_report_whole(project):
    params = _loader(project)["parameters"]
    assert "rows_by_outcome" not in params["stroke"]["reporting"]["aggregates"]
    assert params["stroke"]["reporting"]["charts"]["bar"]["table"] == "stroke_rate_by_work"


def test_reference_tables_get_no_defaults(project):
    params = _loader(project, env="base")["parameters"]
    assert set(params["census"]) == {"ingestion"}
    assert params["census"]["ingestion"]["max_quarantine_share"] == 0.0


def test_an_environment_changes_one_default_for_every_study_of_a_task(project):
    path = project / "conf" / "test" / "study_defaults" / "classification.yml"
    defaults = yaml.safe_load(path.read_text())
    defaults["classification"]["modeling"]["explain"] = {"max_tree_nodes": 500}
    path.write_text(yaml.safe_dump(defaults))
    params = _loader(project)["parameters"]
    for study in ("brfss", "stroke", fourth.NAME):
        explain = params[study]["modeling"]["explain"]
        # this environment's classification default, over its every-study one (sample_rows)
        assert explain == {"max_tree_nodes": 500, "sample_rows": 50}, study
        assert params[study]["modeling"]["candidates_to_run"] == "linear", study
    assert params["insurance"]["modeling"]["explain"] == {"max_tree_nodes": 60000,
                                                          "sample_rows": 50}
    assert params["insurance"]["modeling"]["candidates_to_run"] == "xgboost"


def test_a_block_restating_another_task_is_refused_naming_key_and_rule(project):
    path = project / "conf" / "test" / "studies" / fourth.NAME / "parameters.yml"
    params = yaml.safe_load(path.read_text())
    params[fourth.NAME]["modeling"]["task"] = "regression"
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(ParameterError,
                       match=rf"'{fourth.NAME}\.modeling\.task'.*rule: registry_fact"):
        _loader(project)["parameters"]


def test_runtime_params_win_over_the_defaults(project):
    loader = StudyConfigLoader(
        conf_source=str(project / "conf"), env="test", **CONFIG_LOADER_ARGS,
        runtime_params={"stroke": {"modeling": {"tuning": {"max_seconds": 300}}}})
    tuning = loader["parameters"]["stroke"]["modeling"]["tuning"]
    assert tuning == {"seed": 42, "max_seconds": 300, "parallel_trials": 1}


def test_the_default_report_builds_on_any_classification_primary_table(spark, project):
    from health_risk.pipelines.reporting.config import ReportingConfig
    from health_risk.pipelines.reporting.nodes import (
        build_aggregate_tables,
        plot_aggregate_charts,
    )

    reporting = _loader(project)["parameters"][fourth.NAME]["reporting"]
    ReportingConfig.model_validate(reporting)
    primary = spark.createDataFrame([(str(i), float(i % 3 == 0) if i % 7 else None)
                                     for i in range(40)], "id string, label double")
    tables = build_aggregate_tables(primary, reporting)
    assert int(tables["rows_by_outcome"]["rows"].sum()) == 40  # nulls (not modelled) counted
    bar, pie, line = plot_aggregate_charts(tables, reporting)
    assert [f.data[0].type for f in (bar, pie, line)] == ["bar", "pie", "scatter"]
    assert len(bar.data[0].x) == 3  # 0, 1 and the rows without a label
