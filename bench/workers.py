"""The measured bodies of the benchmark suite, one per fresh process.

``python bench/workers.py NAME '{json args}'`` runs one worker and prints its own timings as the
last stdout line (``BENCH_RESULT {...}``); ``bench/suite.py`` adds the wall time and the peak RSS
of the whole process tree. A fresh process for every measurement means no worker profits from a
cache or a warm JVM another one left behind, and each peak RSS is its own.

Project workers call the project's nodes and datasets with the project's configuration (loaded
like a run does, `conf/base` + `conf/local`); baseline workers are the single-process code a
user would write instead, with pandas + pyarrow and scikit-learn, on the same files, rows and
features.
"""

from __future__ import annotations

import json
import math
import pickle
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probes import emit

ROOT = Path(__file__).resolve().parents[1]
STUDY = "brfss"
warnings.filterwarnings("ignore", category=UserWarning)  # OmegaConf resolver deprecations

# Fixed hyper-parameters of the training comparison: every tree model grows the same number of
# trees of the same depth, so the fit times compare engines, not settings.
TREES, DEPTH, LEARNING_RATE, REG_PARAM = 50, 5, 0.1, 0.01


class Timer:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}

    def lap(self, name: str, fn, *args, **kwargs):
        start = time.perf_counter()
        value = fn(*args, **kwargs)
        self.laps[name] = round(time.perf_counter() - start, 3)
        return value


# -- project configuration and Spark ------------------------------------------------------------

def project_config(key: str) -> dict[str, Any]:
    from health_risk import settings
    from health_risk.framework.config_loader import StudyConfigLoader

    return StudyConfigLoader(str(ROOT / "conf"), **settings.CONFIG_LOADER_ARGS)[key]


def study_params(block: str) -> dict[str, Any]:
    return project_config("parameters")[STUDY][block]


def spark_session():
    from health_risk.spark.session import build_spark_session

    spark = build_spark_session(project_config("spark"), app_name="health-risk-bench")
    spark.range(1).count()  # JVM and first-query warm-up are not charged to the stage
    return spark


def feature_lists(spec_path: str) -> tuple[list[str], list[str]]:
    """(numeric, categorical) model inputs from the feature spec feature engineering wrote."""
    spec = json.loads(Path(spec_path).read_text())
    return list(spec["numeric_features"]), list(spec["categorical_features"])


# -- 1. ingestion baseline: chunked pandas.read_sas -> pyarrow parquet -------------------------

def ingest_baseline(xpt: str, out: str, chunksize: int) -> dict:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    start = time.perf_counter()
    writer, schema, rows = None, None, 0
    # latin-1: what SasXportDataset decodes BRFSS character variables with.
    for chunk in pd.read_sas(xpt, format="xport", chunksize=chunksize, encoding="latin-1"):
        table = pa.Table.from_pandas(chunk, schema=schema, preserve_index=False)
        if writer is None:
            schema = table.schema
            writer = pq.ParquetWriter(out, schema, compression="snappy")
        writer.write_table(table)
        rows += len(chunk)
    writer.close()
    return {"seconds": time.perf_counter() - start, "rows": rows}


# -- 2. feature-engineering baseline: the configured derivations in pandas ----------------------

def _literal(series, code):
    if series.dtype == object or str(series.dtype) in ("string", "str"):
        return str(code)
    return float(code)


def _numeric(frame, column):
    import pandas as pd

    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def _recode(frame, step, out):
    import pandas as pd

    for src, name in step.pairs:
        column = frame[src]
        mapping = {_literal(column, code): text for code, text in step.mapping.items()}
        mapped = column.map(mapping)
        fallback = (column.astype("string") if step.keep_unmapped
                    else pd.Series(step.default, index=frame.index, dtype="string"))
        out[name] = mapped.astype("string").where(mapped.notna(), fallback).where(
            column.notna())


def _bin(frame, step, out):
    import pandas as pd

    for src, name in step.pairs:
        value = _numeric(frame, src)
        labels = pd.cut(value, [-math.inf, *step.edges, math.inf], labels=step.labels,
                        right=False)
        out[name] = labels.astype("string")


def _count_equal(frame, step, out):
    hits = sum(frame[c].isin([_literal(frame[c], v) for v in step.values]).astype("float64")
               for c in step.inputs)
    missing = sum(frame[c].isna().astype("float64") for c in step.inputs)
    if step.null_when_all_missing:
        hits = hits.where(missing < len(step.inputs))
    out[step.output] = hits
    if step.missing_output:
        out[step.missing_output] = missing


def _season(frame, step, out):
    month = _numeric(frame, step.input)
    valid = month.isin(range(1, 13))
    angle = month * (2.0 * math.pi / 12.0)
    out[step.sin_output] = np.sin(angle).where(valid)
    out[step.cos_output] = np.cos(angle).where(valid)
    if step.season_output:
        season = month.map({float(m): name for name, ms in step.seasons.items() for m in ms})
        out[step.season_output] = season.astype("string")


def _simple(frame, step, out):
    for src, name in step.pairs:
        value = _numeric(frame, src)
        if step.step == "scale":
            out[name] = value * step.factor + step.offset
        elif step.step == "log":
            shifted = value + step.offset
            out[name] = np.log(shifted.where(shifted > 0))
        else:  # indicator
            hit = frame[src].isin([_literal(frame[src], v) for v in step.values])
            out[name] = hit.astype("float64").where(frame[src].notna())


def _product(frame, step, out):
    product = _numeric(frame, step.inputs[0])
    for column in step.inputs[1:]:
        product = product * _numeric(frame, column)
    out[step.output] = product


PANDAS_STEPS = {"recode": _recode, "bin": _bin, "count_equal": _count_equal,
                "season": _season, "scale": _simple, "log": _simple, "indicator": _simple,
                "product": _product}


def pandas_features(validated, lookups: dict, params: dict):
    """The feature table of ``health_risk.core.features.table`` computed by pandas from the same
    configuration: derivations, id, label, exclusions, typed columns."""
    import pandas as pd

    from health_risk.core.features.config import FeatureEngineeringConfig
    from health_risk.core.features.table import output_columns

    config = FeatureEngineeringConfig.model_validate(params)
    frame = validated
    for step in config.derivations:
        if step.step == "join":
            right = lookups[step.table][[step.right_on, *step.columns]].rename(
                columns={**step.columns, step.right_on: "__key"})
            right["__key"] = right["__key"].astype(frame[step.left_on].dtype)
            frame = frame.merge(right, how="left", left_on=step.left_on, right_on="__key"
                                ).drop(columns="__key")
            continue
        new: dict[str, Any] = {}
        PANDAS_STEPS[step.step](frame, step, new)
        frame = frame.assign(**new)
    ids = frame[config.id_columns].astype("Int64").astype("string")
    row_id = ids.iloc[:, 0]
    for column in ids.columns[1:]:
        row_id = row_id + "-" + ids[column]
    target = frame[config.target.column]
    label = (target.map({_literal(target, k): float(v) for k, v in config.target.mapping.items()})
             if config.target.mapping else _numeric(frame, config.target.column))
    weight = (_numeric(frame, config.weight_column) if config.weight_column
              else pd.Series(1.0, index=frame.index))
    keep = row_id.notna() & label.notna() & weight.notna() & (weight > 0)
    subgroups, numeric, categorical = output_columns(config)
    table = pd.DataFrame({"id": row_id, "label": label, "survey_weight": weight})
    for column in subgroups + categorical:
        table[column] = frame[column].astype("string")
    for column in numeric:
        table[column] = _numeric(frame, column)
    return table[keep.to_numpy()].reset_index(drop=True)


def features_baseline(validated: str, census: str, out: str) -> dict:
    import pandas as pd

    params = study_params("feature_engineering")
    timer = Timer()
    start = time.perf_counter()
    frame = timer.lap("read", pd.read_parquet, validated)
    lookups = {"census": timer.lap("read_lookup", pd.read_parquet, census)}
    table = timer.lap("derive", pandas_features, frame, lookups, params)
    timer.lap("write", table.to_parquet, out, index=False)
    return {"seconds": time.perf_counter() - start, "rows_in": len(frame), "rows": len(table),
            "laps": timer.laps}


# -- 3. training at fixed hyper-parameters --------------------------------------------------------

SPARK_CANDIDATES = {
    "linear": {"maxIter": 50, "regParam": REG_PARAM, "elasticNetParam": 0.0},
    "random_forest": {"numTrees": TREES, "maxDepth": DEPTH, "seed": 42},
    "gbt": {"maxIter": TREES, "maxDepth": DEPTH, "stepSize": LEARNING_RATE, "seed": 42},
    "xgboost": {"n_estimators": TREES, "max_depth": DEPTH, "learning_rate": LEARNING_RATE,
                "tree_method": "hist", "random_state": 42},
}


def train_project(features: str, spec: str, split_dir: str, candidates: list[str]) -> dict:
    """Each candidate fitted with ``fit_configuration`` (preprocessing + estimator, as the
    modeling pipeline refits a configuration) on the TRAIN + VALIDATION rows of the project's
    stratified split (the feature table's ``split`` column); test ROC-AUC from
    ``collect_scores``. Also writes the two splits for the baseline worker, before anything is
    timed."""
    from pyspark.sql import functions as F
    from sklearn.metrics import roc_auc_score

    from health_risk.core.estimators import fit_configuration, xgboost_workers
    from health_risk.core.scoring import collect_scores

    spark = spark_session()
    numeric, categorical = feature_lists(spec)
    table = spark.read.parquet(features)
    train = table.filter(F.col("split") != "test").drop("split").cache()
    test = table.filter(F.col("split") == "test").drop("split").cache()
    rows = {"train": train.count(), "test": test.count()}
    train.write.mode("overwrite").parquet(f"{split_dir}/train")
    test.write.mode("overwrite").parquet(f"{split_dir}/test")
    workers = xgboost_workers("auto", train, candidates)
    fits = {}
    for name in candidates:
        start = time.perf_counter()
        model = fit_configuration(train, name, "classification", SPARK_CANDIDATES[name],
                                  numeric, categorical, use_weights=False, workers=workers)
        seconds = time.perf_counter() - start
        scores = collect_scores(model, test, "classification", ["label"])
        fits[name] = {"seconds": round(seconds, 3),
                      "roc_auc": round(float(roc_auc_score(scores["label"], scores["score"])), 4)}
        print(f"{name}: {fits[name]}", flush=True)
    return {"rows": rows, "fits": fits, "xgboost_workers": workers,
            "spark_master": spark.sparkContext.master}


def sklearn_model(name: str, numeric: list[str], categorical: list[str]):
    """The single-process alternative: a scikit-learn pipeline over the pandas feature table."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    if name == "hgb":
        encode = ColumnTransformer(
            [("num", "passthrough", numeric),
             ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                    encoded_missing_value=-1), categorical)])
        is_categorical = [False] * len(numeric) + [True] * len(categorical)
        # early_stopping off: above 10,000 rows sklearn would hold out 10 % and stop before
        # TREES; max_leaf_nodes None: depth is the only limit, as for the Spark engines.
        return make_pipeline(encode, HistGradientBoostingClassifier(
            max_iter=TREES, max_depth=DEPTH, learning_rate=LEARNING_RATE, max_leaf_nodes=None,
            early_stopping=False, categorical_features=is_categorical, random_state=42))
    encode = ColumnTransformer(
        [("num", SimpleImputer(strategy="median"), numeric),
         ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="<missing>"),
                               OneHotEncoder(handle_unknown="ignore")), categorical)])
    if name == "logistic":
        return make_pipeline(encode, StandardScaler(with_mean=False),
                             LogisticRegression(max_iter=50))
    return make_pipeline(encode, RandomForestClassifier(
        n_estimators=TREES, max_depth=DEPTH, n_jobs=-1, random_state=42))


def read_feature_table(path: str, categorical: list[str]):
    """A feature table as pandas, categorical nulls as None (what the encoders expect)."""
    import pandas as pd

    frame = pd.read_parquet(path)
    for column in categorical:
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def train_baseline(split_dir: str, spec: str, model_out: str, candidates: list[str]) -> dict:
    from sklearn.metrics import roc_auc_score

    numeric, categorical = feature_lists(spec)
    train = read_feature_table(f"{split_dir}/train", categorical)
    test = read_feature_table(f"{split_dir}/test", categorical)
    columns = numeric + categorical
    fits = {}
    for name in candidates:
        model = sklearn_model(name, numeric, categorical)
        if name == "logistic":
            # sklearn's C multiplies the summed loss; Spark's regParam the mean loss' penalty.
            model.set_params(logisticregression__C=1.0 / (REG_PARAM * len(train)))
        start = time.perf_counter()
        model.fit(train[columns], train["label"])
        seconds = time.perf_counter() - start
        score = model.predict_proba(test[columns])[:, 1]
        fits[name] = {"seconds": round(seconds, 3),
                      "roc_auc": round(float(roc_auc_score(test["label"], score)), 4)}
        print(f"{name}: {fits[name]}", flush=True)
        if name == "hgb":
            Path(model_out).write_bytes(pickle.dumps(model))
    return {"rows": {"train": len(train), "test": len(test)}, "fits": fits}


# -- 4. batch scoring --------------------------------------------------------------------------

def score_project(features: str, out: str, tracking_uri: str) -> dict:
    """The registered champion (``ChampionModelDataset``, as inference loads it) scores a batch:
    read the feature parquet, ``score_batch``, write the scores parquet."""
    import mlflow

    from health_risk.datasets import ChampionModelDataset
    from health_risk.pipelines.inference.nodes import score_batch

    spark = spark_session()
    mlflow.set_tracking_uri(tracking_uri)
    timer = Timer()
    champion = timer.lap("load_champion",
                         ChampionModelDataset(model_name=f"health_risk_{STUDY}").load)
    fe_params, params = study_params("feature_engineering"), study_params("inference")
    start = time.perf_counter()
    batch = spark.read.parquet(features)
    scored = score_batch(batch, champion, {"batch_id": "bench"}, fe_params, params)
    scored.write.mode("overwrite").parquet(out)
    seconds = time.perf_counter() - start
    rows = spark.read.parquet(out).count()
    return {"seconds": seconds, "rows": rows, "laps": timer.laps,
            "champion": {"version": champion.version, "candidate": champion.tags.get("candidate")}}


def score_baseline(features: str, model: str, out: str, spec: str) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    numeric, categorical = feature_lists(spec)
    timer = Timer()
    pipeline = timer.lap("load_model", lambda: pickle.loads(Path(model).read_bytes()))
    start = time.perf_counter()
    frame = read_feature_table(features, categorical)
    score = pipeline.predict_proba(frame[numeric + categorical])[:, 1]
    pq.write_table(pa.table({"id": frame["id"], "score": score}), out)
    return {"seconds": time.perf_counter() - start, "rows": len(frame), "laps": timer.laps}


# -- 5. synthetic data -------------------------------------------------------------------------

def sdv_project(primary: str, features: str, rows_out: str) -> dict:
    """select_synthesizer_rows + fit_synthesizer + sample_synthetic_batch, as configured."""
    from health_risk.pipelines.synthetic_data.nodes import (
        fit_synthesizer,
        sample_synthetic_batch,
        select_synthesizer_rows,
    )

    spark = spark_session()
    sd, ing = study_params("synthetic_data"), study_params("ingestion")
    fe = study_params("feature_engineering")
    timer = Timer()
    start = time.perf_counter()
    training, _holdout = timer.lap("select_rows", select_synthesizer_rows,
                                   spark.read.parquet(primary), spark.read.parquet(features),
                                   sd, ing, fe)
    synthesizer = timer.lap("fit", fit_synthesizer, training, sd, ing, fe)
    batch = timer.lap("sample", sample_synthetic_batch, synthesizer, sd, ing, fe)
    seconds = time.perf_counter() - start
    training.to_parquet(rows_out, index=False)
    return {"seconds": seconds, "rows": len(training), "sampled": len(batch),
            "columns": training.shape[1], "laps": timer.laps}


def sdv_baseline(rows: str, batch_rows: int) -> dict:
    """Plain SDV on the same training rows: detected metadata, one Gaussian copula."""
    import pandas as pd
    from sdv.metadata import Metadata
    from sdv.single_table import GaussianCopulaSynthesizer

    timer = Timer()
    start = time.perf_counter()
    frame = pd.read_parquet(rows)
    metadata = Metadata.detect_from_dataframes({STUDY: frame})
    synthesizer = GaussianCopulaSynthesizer(metadata)
    timer.lap("fit", synthesizer.fit, {STUDY: frame})
    sampled = timer.lap("sample", synthesizer.sample, batch_rows)[STUDY]  # SDV 2: dict of tables
    return {"seconds": time.perf_counter() - start, "rows": len(frame),
            "sampled": len(sampled), "laps": timer.laps}


WORKERS = {f.__name__: f for f in (ingest_baseline, features_baseline, train_project,
                                   train_baseline, score_project, score_baseline, sdv_project,
                                   sdv_baseline)}

if __name__ == "__main__":
    name, arguments = sys.argv[1], json.loads(sys.argv[2])
    emit(WORKERS[name](**arguments))
