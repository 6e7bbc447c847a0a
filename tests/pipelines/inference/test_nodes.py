"""Inference nodes on the stroke study: committed configuration, the default-size generated
sample, a synthesizer fitted by the synthetic-data nodes and a small champion model."""

from __future__ import annotations

import copy

import pytest
from pyspark.ml import Pipeline
from pyspark.ml.classification import LogisticRegression
from pyspark.sql import functions as F

from health_risk.core.columns import FEATURES, LABEL
from health_risk.core.errors import DataQualityError
from health_risk.core.estimators import preprocessing_stages
from health_risk.datasets.mlflow_models import ChampionModel
from health_risk.pipelines.inference.nodes import (
    RISK_TIER,
    build_batch_features,
    extract_batch_quarantine,
    measure_drift,
    score_batch,
    select_batch,
    summarise_batch,
    tier_edges,
    validate_batch,
)
from health_risk.pipelines.modeling.nodes import build_model_input, build_reference_profile
from health_risk.pipelines.synthetic_data.nodes import (
    fit_synthesizer,
    sample_synthetic_batch,
    select_synthesizer_rows,
)


@pytest.fixture(scope="module")
def champion(stroke_tables):
    fe = stroke_tables.params["feature_engineering"]
    spec = {"task": "classification", "numeric_features": fe["numeric_features"],
            "categorical_features": fe["categorical_features"]}
    modeling = {**stroke_tables.params["modeling"], "class_weighting": "none"}
    model_input = build_model_input(stroke_tables.features, spec, modeling).localCheckpoint()
    stages = [*preprocessing_stages(spec["numeric_features"], spec["categorical_features"],
                                    True),
              LogisticRegression(featuresCol=FEATURES, labelCol=LABEL, maxIter=20)]
    model = Pipeline(stages=stages).fit(model_input.filter(F.col("split") == "train"))
    profile = build_reference_profile(model, model_input, spec, modeling)
    return ChampionModel(model=model, name="health_risk_stroke", version="3", alias="champion",
                         run_id="test-run", tags={"threshold": "0.1", "task": "classification"},
                         reference_profile=profile)


@pytest.fixture(scope="module")
def synthesizer(stroke_tables):
    blocks = _blocks(stroke_tables)
    training, _ = select_synthesizer_rows(stroke_tables.primary, stroke_tables.features,
                                          *blocks)
    return fit_synthesizer(training, *blocks)


def _blocks(tables, shift: bool = False):
    params = copy.deepcopy(tables.params)
    params["synthetic_data"]["shift"]["enabled"] = shift
    return params["synthetic_data"], params["ingestion"], params["feature_engineering"]


def _batch(spark, tables, synthesizer, shift=False, edit=None):
    frame = sample_synthetic_batch(synthesizer, *_blocks(tables, shift))
    if edit is not None:
        frame = edit(frame)
    frame = frame.astype(object).where(frame.notna(), None)
    return spark.createDataFrame(frame).withColumn("batch_created_at",
                                                   F.to_timestamp("batch_created_at"))


def _score(tables, champion, batches, written_quarantine=None, **inference):
    """The inference nodes in pipeline order; ``written_quarantine(quarantine)`` stands in for
    what the catalog wrote (default: exactly the extracted rows)."""
    params = {**tables.params["inference"], **inference}
    ingestion, fe = tables.params["ingestion"], tables.params["feature_engineering"]
    batch, info = select_batch(batches, None, ingestion, fe, params)
    flagged, audit = validate_batch(batch, info, ingestion, fe, params)
    quarantine = extract_batch_quarantine(flagged, info, ingestion, fe)
    features = build_batch_features(flagged, fe)
    predictions = score_batch(features, champion, info, fe, params).localCheckpoint()
    written = quarantine if written_quarantine is None else written_quarantine(quarantine)
    report, metrics = summarise_batch(flagged, predictions, written, champion, info, audit,
                                      params)
    drift, drift_metrics, monitoring = measure_drift(features, predictions, champion, info,
                                                     report, params)
    return {"predictions": predictions, "quarantine": quarantine, "report": report,
            "metrics": metrics, "drift": drift, "drift_metrics": drift_metrics,
            "monitoring": monitoring}


def test_unshifted_batch_is_scored_in_full_and_nothing_drifts(spark, stroke_tables, champion,
                                                              synthesizer):
    out = _score(stroke_tables, champion, _batch(spark, stroke_tables, synthesizer))
    report, predictions = out["report"], out["predictions"]
    assert report["rows_in"] == report["rows_scored"] == 1000
    assert report["rows_quarantined"] == 0 and out["quarantine"].count() == 0
    assert out["drift"]["drifted_features"] == []
    assert not out["drift"]["score"]["drifted"]
    row = predictions.first()
    assert (row["model_name"], row["model_version"]) == ("health_risk_stroke", "3")
    assert row["predicted_label"] == float(row["score"] >= 0.1)
    assert {r[RISK_TIER] for r in predictions.select(RISK_TIER).distinct().collect()} == \
        {"low", "medium", "high"}
    # The batch carries labels, so performance is measured (its level reflects how much of the
    # label's dependence the copula kept, not the model).
    assert report["labelled_rows"] == 1000 and 0.0 <= report["performance"]["roc_auc"] <= 1.0
    assert out["metrics"]["model_version"] == {"value": 3.0, "step": 0}
    assert "drift.psi.age" in out["monitoring"] and out["monitoring"]["rows_scored"] == 1000


def test_shifted_batch_flags_the_shifted_features(spark, stroke_tables, champion, synthesizer):
    out = _score(stroke_tables, champion,
                 _batch(spark, stroke_tables, synthesizer, shift=True))
    drifted = set(out["drift"]["drifted_features"])
    # age +15 years and a 45 % smoking share (conf/base/studies/stroke/parameters.yml)
    assert {"age", "age_group", "smoking"} <= drifted
    assert not {"sex", "residence", "bmi_category"} & drifted
    assert out["drift"]["features"]["age"]["ks"] > 0.2
    assert out["drift_metrics"]["features_drifted"]["value"] == len(drifted)


def test_unknown_category_and_null_required_value_are_quarantined_not_scored(
        spark, stroke_tables, champion, synthesizer):
    def edit(frame):
        frame.loc[0, "gender"] = "Nonbinary"  # not an allowed code
        frame.loc[1, "age"] = None  # age is required to be non-null
        return frame

    out = _score(stroke_tables, champion, _batch(spark, stroke_tables, synthesizer, edit=edit))
    report = out["report"]
    assert (report["rows_in"], report["rows_scored"], report["rows_quarantined"]) == \
        (1000, 998, 2)
    rules = {(v["rule"], v["column"]) for v in report["violations"]}
    assert rules == {("allowed_values", "gender"), ("not_null", "age")}
    quarantined = {r["_source_row"]: r["first_rule"] for r in out["quarantine"].collect()}
    assert quarantined == {0: "allowed_values", 1: "not_null"}
    scored_ids = {r["id"] for r in out["predictions"].select("id").collect()}
    assert "1" not in scored_ids and "2" not in scored_ids  # sequence ids of rows 0 and 1
    # A quarantine that lost a row on the way to disk stops the summary.
    with pytest.raises(DataQualityError, match="holds 1 rows, but 2 were flagged"):
        _score(stroke_tables, champion, _batch(spark, stroke_tables, synthesizer, edit=edit),
               written_quarantine=lambda quarantine: quarantine.limit(1))


def test_missing_column_is_a_clear_error(spark, stroke_tables, champion, synthesizer):
    batch = _batch(spark, stroke_tables, synthesizer).drop("avg_glucose_level")
    with pytest.raises(DataQualityError, match=r"synthetic://stroke/.*\['avg_glucose_level'\]"):
        _score(stroke_tables, champion, batch)


def test_unlabelled_batch_is_scored_without_performance(spark, stroke_tables, champion,
                                                        synthesizer):
    batch = _batch(spark, stroke_tables, synthesizer).drop("stroke")
    out = _score(stroke_tables, champion, batch)
    assert out["report"]["rows_scored"] == 1000 and out["report"]["performance"] == {}


def test_too_many_bad_rows_refuse_the_batch(spark, stroke_tables, champion, synthesizer):
    def edit(frame):
        frame.loc[:600, "gender"] = "?"
        return frame

    with pytest.raises(DataQualityError, match="not scored"):
        _score(stroke_tables, champion, _batch(spark, stroke_tables, synthesizer, edit=edit))


def test_latest_batch_is_chosen_and_unknown_batch_named(spark, stroke_tables, champion,
                                                        synthesizer):
    first = _batch(spark, stroke_tables, synthesizer)
    second = _batch(spark, stroke_tables, synthesizer)
    both = first.unionByName(second)
    blocks = stroke_tables.params["ingestion"], stroke_tables.params["feature_engineering"]
    _, info = select_batch(both, {}, *blocks, stroke_tables.params["inference"])
    assert info["batch_id"] == second.first()["batch_id"] and info["rows"] == 1000
    with pytest.raises(DataQualityError, match="batch 'nope' not found"):
        select_batch(both, {}, *blocks, {**stroke_tables.params["inference"], "batch_id": "nope"})


def test_risk_tiers_cut_at_reference_quantiles(champion):
    from health_risk.core.risk_tiers import RiskTierConfig

    quantiles = champion.reference_profile["columns"]["score"]["quantiles"]
    edges = tier_edges(RiskTierConfig(edges=[0.5, 0.9], labels=["a", "b", "c"]),
                       champion.reference_profile)
    assert edges == [quantiles["0.5"], quantiles["0.9"]]
    fixed = RiskTierConfig(cut="score", edges=[0.3], labels=["low", "high"])
    assert tier_edges(fixed, champion.reference_profile) == [0.3]
    with pytest.raises(ValueError, match="steps of 0.01"):
        RiskTierConfig(edges=[0.505], labels=["a", "b"])


# --- a batch file without a required column; nothing to score --------------------------------
def _inference_run(tmp_path, tables, champion, batches, **inference):
    """The inference pipeline (one study's template) on a catalog: the batches folder through
    the project's reader, predictions and batch quarantine written as the catalog writes them."""
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.pipeline import Pipeline as KedroPipeline
    from kedro.runner import SequentialRunner

    from health_risk.core.studies import Study
    from health_risk.datasets import OptionalDataset
    from health_risk.pipelines.inference.pipeline import template

    def partitioned(name):
        return OptionalDataset({"type": "spark.SparkDatasetV2", "filepath": str(tmp_path / name),
                                "file_format": "parquet",
                                "save_args": {"mode": "overwrite", "partitionBy": ["batch_id"],
                                              "partitionOverwriteMode": "dynamic"}},
                               empty_folder_is_missing=True)

    params = {"ingestion": tables.params["ingestion"],
              "feature_engineering": tables.params["feature_engineering"],
              "inference": {**tables.params["inference"], **inference}}
    from health_risk.datasets import IncomingFilesDataset

    catalog = DataCatalog({"synthetic_batches": batches,
                           # No new raw file: the published batches are scored.
                           "incoming": IncomingFilesDataset(
                               path=str(tmp_path / "incoming"),
                               ledger={"filepath": str(tmp_path / "incoming_scored.json")},
                               formats={"csv": {"type": "health_risk.datasets.SparkSourceDataset"}}),
                           "champion_model": MemoryDataset(champion, copy_mode="assign"),
                           "predictions": partitioned("predictions"),
                           "batch_quarantine": partitioned("batch_quarantine"),
                           **{f"params:{k}": MemoryDataset(v) for k, v in params.items()}})
    class Kept(MemoryDataset):  # not released by the runner once its readers have run
        def _release(self) -> None:
            pass

    outputs = ["inference_report", "drift_report", "monitoring_metrics"]
    for name in outputs:
        catalog[name] = Kept()
    pipeline = KedroPipeline(template(Study(name="stroke", task="classification")))
    SequentialRunner().run(pipeline, catalog)
    return {name: catalog[name].load() for name in [*outputs, "predictions"]}


def _batches_folder(tmp_path):
    from health_risk.datasets import SparkBatchesDataset

    return SparkBatchesDataset(filepath=str(tmp_path / "synthetic_batches"),
                               save_args={"mode": "overwrite", "partitionBy": ["batch_id"],
                                          "partitionOverwriteMode": "dynamic"})


def _thirty_rows(spark, tables, synthesizer):
    sd, ingestion, fe = _blocks(tables)
    frame = sample_synthetic_batch(synthesizer, {**sd, "batch_rows": 30}, ingestion, fe)
    frame = frame.astype(object).where(frame.notna(), None)
    return spark.createDataFrame(frame).withColumn("batch_created_at",
                                                   F.to_timestamp("batch_created_at"))


def test_a_batch_file_without_a_required_column_stops_the_run_and_nothing_is_scored(
        spark, tmp_path, stroke_tables, champion, synthesizer):
    """Read as one table beside a good batch, a 30-row batch whose file lacks
    avg_glucose_level showed nulls there and was scored 30 of 30. It now stops the run naming
    the batch, its file and the column; nothing is scored."""
    folder = _batches_folder(tmp_path)
    good = _thirty_rows(spark, stroke_tables, synthesizer)
    folder.save(good)
    bad = _thirty_rows(spark, stroke_tables, synthesizer).drop("avg_glucose_level")
    bad_id = bad.first()["batch_id"]
    assert bad_id > good.first()["batch_id"]  # the latest: what inference picks
    folder.save(bad)
    table = folder.load()
    assert "avg_glucose_level" in table.columns  # the other batch's schema gives it nulls
    assert table.filter(F.col("batch_id") == bad_id).count() == 30
    bad_files = [f.name for f in (tmp_path / "synthetic_batches" / f"batch_id={bad_id}").glob(
        "*.parquet")]
    with pytest.raises(Exception) as failure:
        _inference_run(tmp_path, stroke_tables, champion, folder)
    error = failure.value
    assert isinstance(error, DataQualityError), error
    message = str(error)
    assert f"batch {bad_id}" in message and any(name in message for name in bad_files)
    assert "['avg_glucose_level']" in message and "rule: required_column" in message
    assert not (tmp_path / "predictions").exists() or not list(
        (tmp_path / "predictions").rglob("*.parquet"))  # nothing of it scored
    # The good batch beside it is still scored when named.
    out = _inference_run(tmp_path, stroke_tables, champion, folder,
                         batch_id=good.first()["batch_id"])
    assert out["inference_report"]["rows_scored"] == 30
    assert out["predictions"].filter(F.col("batch_id") == bad_id).count() == 0


def test_a_required_column_null_in_every_row_is_missing(spark, stroke_tables, champion,
                                                        synthesizer):
    batch = _thirty_rows(spark, stroke_tables, synthesizer).withColumn(
        "avg_glucose_level", F.lit(None).cast("double"))
    with pytest.raises(DataQualityError, match=r"batch stroke-\d+T\d+: required column\(s\) "
                                               r"\['avg_glucose_level'\] null in every row"):
        _score(stroke_tables, champion, batch)


def test_no_published_batch_scores_nothing_and_says_so(spark, tmp_path, stroke_tables,
                                                       champion):
    """A study whose only synthetic batch was refused has no batch: inference reports that it
    scored nothing (the run's other outputs go on) instead of stopping the run."""
    out = _inference_run(tmp_path, stroke_tables, champion, _batches_folder(tmp_path))
    report = out["inference_report"]
    assert report["batch_id"] is None and "privacy gate refused" in report["nothing_to_score"]
    assert (report["rows_in"], report["rows_scored"], report["rows_quarantined"]) == (0, 0, 0)
    assert out["drift_report"]["measured"] is False and out["monitoring_metrics"] == {}
    assert out["predictions"] is None


def _incoming_run(spark, tables, champion, incoming):
    """One `kedro run --pipelines inference --namespaces stroke` (the committed template, the
    runner's `confirms`), with the study's incoming folder and no published batch."""
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.runner import SequentialRunner

    from health_risk.pipelines.inference.pipeline import create_pipeline

    from ...committed_config import committed_registry

    class Kept(MemoryDataset):
        def _release(self) -> None:
            pass

    pipeline = create_pipeline(studies=committed_registry()).only_nodes_with_namespaces(
        ["stroke"])
    catalog = DataCatalog(datasets={name: Kept(copy_mode="assign")
                                    for name in pipeline.datasets()})
    catalog["stroke.incoming"] = incoming
    catalog["stroke.synthetic_batches"] = MemoryDataset(
        spark.createDataFrame([], "batch_id string"), copy_mode="assign")
    catalog["stroke.champion_model"] = MemoryDataset(champion, copy_mode="assign")
    for block in ("ingestion", "feature_engineering", "inference"):
        catalog[f"params:stroke.{block}"] = MemoryDataset(tables.params[block])
    SequentialRunner().run(pipeline, catalog)
    return catalog.load("stroke.inference_report"), catalog.load("stroke.predictions")


def test_a_raw_file_dropped_into_incoming_is_scored_once_and_a_later_one_alone(
        spark, stroke_tables, champion, tmp_path):
    """Raw stroke CSVs as delivered (Title-Case headers, codes as written, a personal column),
    through the study's contract: a bad row is quarantined, the rest scored, each file once."""
    import pandas as pd
    import yaml

    from health_risk.datasets import IncomingFilesDataset
    from health_risk.pipelines.sample_data.table_generators import generate_stroke_patients

    from ...committed_config import PARAMETERS

    spec = yaml.safe_load((PARAMETERS / "sample_data_tables_spec.yml").read_text())
    folder = tmp_path / "01_raw" / "stroke" / "incoming"
    folder.mkdir(parents=True)

    def incoming():
        return IncomingFilesDataset(
            path=str(folder), ledger={"filepath": str(tmp_path / "incoming_scored.json")},
            formats={"csv": {"type": "health_risk.datasets.SparkSourceDataset"}})

    first = generate_stroke_patients(120, 11, spec["stroke_spec"], personal_columns=True)
    first.loc[0, "Age"] = "sixty"  # broken: quarantined with its reason, not scored
    first.to_csv(folder / "clinic_a.csv", index=False)

    report, predictions = _incoming_run(spark, stroke_tables, champion, incoming())
    assert report["source"] == "incoming" and report["files"] == ["clinic_a.csv"]
    assert (report["rows_in"], report["rows_scored"], report["rows_quarantined"]) == (120, 119, 1)
    assert report["violations"] == [{"rule": "type:double", "column": "age", "rows": 1}]
    assert predictions.count() == 119
    assert "full_name" not in predictions.columns

    report, _ = _incoming_run(spark, stroke_tables, champion, incoming())  # nothing new
    assert report["batch_id"] is None and report["rows_scored"] == 0

    second = generate_stroke_patients(80, 12, spec["stroke_spec"])
    second["id"] = (second["id"].astype(int) + 100_000).astype(str)  # other people
    second.to_csv(folder / "clinic_b.csv", index=False)
    report, predictions = _incoming_run(spark, stroke_tables, champion, incoming())
    assert report["files"] == ["clinic_b.csv"] and report["rows_scored"] == 80
    assert predictions.count() == 80
    ledger = pd.read_json(tmp_path / "incoming_scored.json", orient="records",
                          typ="series")["scored"]
    assert [f["file"] for f in ledger] == ["clinic_a.csv", "clinic_b.csv"]


def test_an_incoming_file_without_a_required_column_stops_naming_it(spark, stroke_tables,
                                                                    tmp_path):
    import yaml

    from health_risk.datasets import SparkSourceDataset
    from health_risk.pipelines.sample_data.table_generators import generate_stroke_patients

    from ...committed_config import PARAMETERS

    spec = yaml.safe_load((PARAMETERS / "sample_data_tables_spec.yml").read_text())
    frame = generate_stroke_patients(30, 5, spec["stroke_spec"])
    frame.drop(columns=["avg_glucose_level"]).to_csv(tmp_path / "late_clinic.csv", index=False)
    raw = SparkSourceDataset(filepath=str(tmp_path / "late_clinic.csv")).load()
    with pytest.raises(DataQualityError,
                       match=r"late_clinic.csv.*avg_glucose_level.*required_column"):
        select_batch(None, {"late_clinic.csv": raw}, stroke_tables.params["ingestion"],
                     stroke_tables.params["feature_engineering"],
                     stroke_tables.params["inference"])
