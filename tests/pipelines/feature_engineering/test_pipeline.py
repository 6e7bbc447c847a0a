"""The feature_engineering pipeline for the three study namespaces, with the committed
configuration, on small generated validated tables, without MLflow."""

from __future__ import annotations

import numpy as np
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from pyspark.sql import functions as F
from pyspark.sql import types as T

from health_risk.pipelines.feature_engineering.pipeline import create_pipeline

from ...committed_config import committed_params, committed_registry, studies_running

OUTPUTS = ("primary", "features", "feature_ranking", "feature_spec", "feature_report")


STUDIES = studies_running("feature_engineering")
# BRFSS as two survey years, the older one without _URBSTAT (urban_rural's source).
VALIDATION_REPORTS = {"brfss": {"years": {"2016": {"absent_optional_columns": ["_urbstat"]},
                                          "2023": {"absent_optional_columns": []}}}}


class KeptDataset(MemoryDataset):
    """A memory dataset the runner does not release, so the test can read it afterwards."""

    def _release(self) -> None:
        pass


def _params() -> dict:
    return committed_params("feature_engineering", "split")


def _frame(spark, columns: dict[str, tuple[T.DataType, list]], n: int, seed: int):
    """n rows; each column drawn from its list of values (None = missing), plus lineage."""
    rng = np.random.default_rng(seed)
    data = {name: [values[i] for i in rng.integers(0, len(values), n)]
            for name, (_, values) in columns.items()}
    rows = [tuple(data[c][i] for c in columns) + ("generated", i) for i in range(n)]
    schema = T.StructType([T.StructField(c, t) for c, (t, _) in columns.items()]
                          + [T.StructField("_source_file", T.StringType()),
                             T.StructField("_source_row", T.LongType())])
    return spark.createDataFrame(rows, schema)


def _materialised(df):
    """Read like a parquet table: without this every Spark job re-sends the Python rows."""
    return df.localCheckpoint(eager=True)


def _brfss(spark, n=240):
    i, d = T.IntegerType(), T.DoubleType()
    yes_no = (i, [1, 2, 2, None])
    columns = {
        "_state": (i, [1, 6, 36, 72]),  # 72 (Puerto Rico) is not in the census table
        "imonth": (i, list(range(1, 13))),
        "_llcpwt": (d, [50.0, 120.5, 900.0]),
        "sexvar": (i, [1, 2]),
        "_rfhlth": (i, [1, 1, 1, 2, None]),
        "genhlth": (i, [1, 2, 3, 4, 5, None]), "physhlth": (i, [0, 3, 30, None]),
        "menthlth": (i, [0, 5, None]), "poorhlth": (i, [0, 10, None]), "diffwalk": yes_no,
        "_phys14d": (i, [1, 2, 3]), "_ment14d": (i, [1, 2, 3]),
        "_ageg5yr": (i, [*range(1, 14), None]), "income3": (i, [*range(1, 12), None]),
        "educa": (i, [1, 2, 3, 4, 5, 6, None]), "employ1": (i, [*range(1, 9), None]),
        "marital": (i, [*range(1, 7), None]), "_hlthpl1": yes_no,
        "checkup1": (i, [1, 2, 3, 4, 8, None]), "_smoker3": (i, [1, 2, 3, 4, None]),
        "drnkany6": yes_no, "_rfbing6": yes_no, "exerany2": yes_no, "medcost1": yes_no,
        "_race": (i, [*range(1, 9), None]), "_urbstat": yes_no,
        **{c: yes_no for c in ("cvdinfr4", "cvdcrhd4", "cvdstrk3", "asthma3", "chcscnc1",
                               "chcocnc1", "chccopd3", "addepev3", "chckdny2", "havarth4")},
        "diabete4": (i, [1, 2, 3, 4, None]),
        "_bmi5": (d, [17.5, 22.0, 27.3, 33.1, None]),
    }
    frame = _frame(spark, columns, n, seed=1)
    return frame.withColumn("seqno", F.format_string("2023%06d", frame["_source_row"] + 1))


def _census(spark):
    rows = [(0, "US", "United States", 12.5, 75000.0), (1, "AL", "Alabama", 15.1, 60000.0),
            (6, "CA", "California", 12.0, 90000.0), (36, "NY", "New York", 13.6, 80000.0)]
    schema = T.StructType([T.StructField("state_fips", T.IntegerType()),
                           T.StructField("postal_code", T.StringType()),
                           T.StructField("name", T.StringType()),
                           T.StructField("poverty_pct_all_ages", T.DoubleType()),
                           T.StructField("median_household_income", T.DoubleType())])
    return spark.createDataFrame(rows, schema)


def _stroke(spark, n=200):
    s, i, d = T.StringType(), T.IntegerType(), T.DoubleType()
    frame = _frame(spark, {
        "gender": (s, ["Male", "Female", "Female", "Other"]),
        "age": (d, [0.5, 12.0, 25.0, 40.0, 58.0, 67.0, 81.0]),
        "hypertension": (i, [0, 0, 1]), "heart_disease": (i, [0, 0, 0, 1]),
        "ever_married": (s, ["Yes", "No"]), "residence_type": (s, ["Urban", "Rural"]),
        "work_type": (s, ["Private", "Self-employed", "Govt_job", "children", "Never_worked"]),
        "avg_glucose_level": (d, [60.5, 95.0, 140.2, 230.9]),
        "bmi": (d, [16.0, 24.0, 29.0, 38.5, None]),
        "smoking_status": (s, ["formerly smoked", "never smoked", "smokes", "Unknown"]),
        "stroke": (i, [0, 0, 0, 0, 1]),
    }, n, seed=2)
    return frame.withColumn("id", frame["_source_row"].cast("int") + 1000)


def _insurance(spark, n=150):
    s = T.StringType()
    return _frame(spark, {
        "age": (T.IntegerType(), [18, 23, 31, 44, 52, 63]), "sex": (s, ["female", "male"]),
        "bmi": (T.DoubleType(), [17.9, 23.4, 28.8, 34.2, 41.0]),
        "children": (T.IntegerType(), [0, 1, 2, 3]), "smoker": (s, ["yes", "no", "no"]),
        "region": (s, ["northeast", "northwest", "southeast", "southwest"]),
        "charges": (T.DoubleType(), [1200.5, 4500.0, 9800.1, 23000.0, 41000.0]),
    }, n, seed=3)


@pytest.fixture(scope="module")
def run(spark):
    """Run the three namespaces once; collect every (small) output for the tests below."""
    params = _params()
    # Hand-made source tables for the committed studies (like the sample generators, these are
    # study-specific); the registry decides which namespaces run.
    builders = {"brfss": _brfss, "stroke": _stroke, "insurance": _insurance}
    assert set(STUDIES) <= set(builders), "a registered study has no test table"
    inputs = {study: _materialised(builders[study](spark)) for study in STUDIES}
    census = _materialised(_census(spark))
    datasets = {"census.validated": MemoryDataset(census, copy_mode="assign")}
    for study in STUDIES:
        datasets[f"{study}.validated"] = MemoryDataset(inputs[study], copy_mode="assign")
        for block in ("feature_engineering", "split"):
            datasets[f"params:{study}.{block}"] = MemoryDataset(params[study][block])
        # The ingestion report says which columns each year's file lacked.
        datasets[f"{study}.validation_report"] = MemoryDataset(VALIDATION_REPORTS.get(study, {}))
        for name in OUTPUTS:
            datasets[f"{study}.{name}"] = KeptDataset(copy_mode="assign")
    catalog = DataCatalog(datasets=datasets)
    SequentialRunner().run(create_pipeline(studies=committed_registry()), catalog)
    out = {study: {name: catalog.load(f"{study}.{name}") for name in OUTPUTS}
           for study in STUDIES}
    for study in STUDIES:
        features = out[study]["features"]
        out[study]["dtypes"] = dict(features.dtypes)
        out[study]["features"] = features.toPandas()
        out[study]["primary"] = set(out[study]["primary"].columns)
        out[study]["config"] = params[study]["feature_engineering"]
    return out, inputs["brfss"].toPandas()


def test_every_study_runs_the_same_nodes_and_only_its_references_reach_it():
    pipeline = create_pipeline(studies=committed_registry())
    names = {n.name.split(".", 1)[1] for n in pipeline.nodes}
    assert names == {"derive_primary", "build_feature_table", "rank_features",
                     "build_feature_report"}
    assert {n.namespace for n in pipeline.nodes} == set(STUDIES)
    registry = committed_registry()
    for ref in (s.name for s in registry.studies.values() if s.role == "reference"):
        readers = {n.name for n in pipeline.nodes if f"{ref}.validated" in n.inputs}
        assert readers == {f"{s.name}.derive_primary" for s in registry.running(
            "feature_engineering") if ref in s.references}


def test_feature_tables_have_the_documented_columns_and_types(run):
    out, _ = run
    for study in STUDIES:
        config, features, types = (out[study][k] for k in ("config", "features", "dtypes"))
        subgroups = config["subgroup_columns"]
        expected = ["id", "label", "survey_weight", *subgroups, *config["numeric_features"],
                    *[c for c in config["categorical_features"] if c not in subgroups], "split"]
        assert features.columns.tolist() == expected, study
        assert set(features["split"]) == {"train", "validation", "test"}, study
        assert types["id"] == "string" and types["label"] == "double", study
        assert types["survey_weight"] == "double", study
        assert all(types[c] == "string" for c in subgroups), study
        assert all(types[c] == "double" for c in config["numeric_features"]), study
        assert all(types[c] == "string" for c in config["categorical_features"]), study
        assert features["id"].is_unique, study


def test_no_leakage_column_reaches_the_table_or_the_spec(run):
    out, _ = run
    for study in STUDIES:
        leakage = set(out[study]["config"]["leakage_columns"])
        spec = out[study]["feature_spec"]
        assert not leakage & set(out[study]["features"].columns), study
        assert not leakage & {*spec["numeric_features"], *spec["categorical_features"]}, study
    assert not {"genhlth", "physhlth", "menthlth", "poorhlth", "diffwalk", "_phys14d",
                "_ment14d", "_rfhlth"} & set(out["brfss"]["features"].columns)


def test_brfss_report_counts_excluded_targets_and_unmatched_states(run):
    out, source = run
    unknown = int(source["_rfhlth"].isna().sum())
    territory = int((source["_state"] == 72).sum())
    report, features = out["brfss"]["feature_report"], out["brfss"]["features"]
    assert unknown > 0 and territory > 0
    assert report["rows_in"] == len(source)
    assert report["excluded_target_rows"] == unknown
    assert report["rows_out"] == len(source) - unknown == len(features)
    assert report["unmatched_joins"][0]["unmatched_keys"] == {"72": territory}
    assert set(features["label"]) == {0.0, 1.0}
    assert features.loc[features["state"] == "PR", "state_poverty_pct"].isna().all()
    assert (features.loc[features["state"] == "CA", "state_poverty_pct"] == 12.0).all()
    assert set(features["survey_weight"]) == {50.0, 120.5, 900.0}
    # _rfhlth 2 (fair/poor) -> 1, 1 -> 0, row by row.
    expected = {f"{s}-2023{r + 1:06d}": float(v == 2) for s, r, v in
                source[["_state", "_source_row", "_rfhlth"]].dropna().itertuples(index=False)}
    assert dict(zip(features["id"], features["label"])) == expected


def test_spec_ranking_and_primary_layer(run):
    out, _ = run
    for study in STUDIES:
        config = out[study]["config"]
        assert out[study]["feature_spec"] == {
            "task": config["task"], "id_column": "id", "label_column": "label",
            "weight_column": "survey_weight" if config["weight_column"] else None,
            "numeric_features": config["numeric_features"],  # pruning is off by default
            "categorical_features": config["categorical_features"],
            "subgroup_columns": config["subgroup_columns"],
            "dropped_features": [],
            "partially_available_features": out[study]["feature_spec"][
                "partially_available_features"],
        }
        ranking = out[study]["feature_ranking"]
        assert ranking.columns.tolist() == ["feature", "kind", "mutual_information", "rank",
                                            "kept"]
        assert sorted(ranking["feature"]) == sorted(config["numeric_features"]
                                                    + config["categorical_features"])
        assert ranking["rank"].tolist() == list(range(1, len(ranking) + 1))
        assert ranking["mutual_information"].is_monotonic_decreasing
    assert [(p["feature"], p["absent_in"]) for p in
            out["brfss"]["feature_spec"]["partially_available_features"]] == [
        ("urban_rural", {"_urbstat": ["2016"]})]
    assert out["stroke"]["feature_spec"]["partially_available_features"] == []
    assert {"_state", "survey_weight", "label", "sex", "age_group"} <= out["brfss"]["primary"]
    assert {"region", "bmi_category", "age", "sex", "smoker",
            "charges"} <= out["insurance"]["primary"]
    insurance = out["insurance"]["features"]
    smokers = insurance["smoker"] == "yes"
    assert (insurance.loc[~smokers, "smoker_x_bmi"] == 0).all()
    assert np.allclose(insurance.loc[smokers, "smoker_x_bmi"], insurance.loc[smokers, "bmi"])
    assert out["stroke"]["features"]["bmi"].isna().any()  # no imputation here
