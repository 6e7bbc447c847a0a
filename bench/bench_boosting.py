"""Benchmark of the boosted-tree engines on Spark: MLlib GBT vs xgboost.spark, same data, same run.

Usage::

    python bench/bench_boosting.py [--rows 100000] [--trees 50] [--depth 5] [--learning-rate 0.1]
                                   [--repeats 2] [--seed 42]

The claim under test (``conf/base/study_defaults/classification.yml``): "xgboost.spark is the
faster boosted-tree engine on Spark at equal quality".

Data: ``--rows`` BRFSS-like records from the project's generator (``generate_brfss_survey``,
spec ``brfss_survey_spec``), turned in pandas into a plain modeling table: label
``_RFHLTH == 2`` (fair/poor health; rows with 9 or blank dropped) and 21 numeric features
(age group, BMI, income, education, employment, smoking, exercise, marital status, insurance,
check-up, cost barrier, nine chronic conditions, race) as numeric codes. Don't know / refused
codes become NaN with the per-column ``missing_codes`` of the ingestion contract
(``conf/base/studies/brfss/parameters.yml``), because a blanket list would null valid answers
(``INCOME3`` 7 and 9 are income brackets, ``_AGEG5YR`` 7 and 9 age groups, ``EMPLOY1`` 7 is
"retired"). GENHLTH, PHYSHLTH, MENTHLTH, POORHLTH and DIFFWALK are left out (they leak the
label). Split 80/20 with ``--seed``.

Preprocessing: the project's ``preprocessing_stages(numeric, [], scale=False)`` (median
``Imputer`` + ``VectorAssembler`` + identity scaler) fitted on the training split; the assembled
train and test sets are cached and materialised before any fit is timed. The sklearn baseline
gets the very same imputed matrices, collected from Spark.

What is timed (wall clock, ``time.perf_counter``) is ``fit`` only, at equal settings
(``--trees`` trees/iterations of depth ``--depth``, learning rate ``--learning-rate``):

* **MLlib GBT**: ``GBTClassifier(maxIter, maxDepth, stepSize, seed=42)`` on the Spark session;
* **xgboost.spark**: ``SparkXGBClassifier(n_estimators, max_depth, learning_rate,
  num_workers=1, tree_method="hist", random_state=42)``, as the project configures it;
* **sklearn HGB** (single process, no Spark): ``HistGradientBoostingClassifier(max_iter,
  max_depth, learning_rate, random_state=42, early_stopping=False, max_leaf_nodes=None)`` on the
  same rows as numpy arrays. ``early_stopping=False`` because sklearn turns early stopping on
  by itself above 10,000 rows (it would then hold out 10 % and stop before ``--trees``);
  ``max_leaf_nodes=None`` so that depth is the only limit on tree size, as in the other two.

Each engine is fitted ``--repeats`` times, interleaved (GBT, XGB, HGB, GBT, ...), and the table
shows the median and every fit ("each fit s"). The first fit of an engine pays one-off costs
(xgboost.spark starts and warms up its Python worker, MLlib's first jobs compile code), so
with ``--repeats`` >= 2 a second line compares xgboost.spark and MLlib GBT without their first
fits. Quality is test ROC-AUC and PR-AUC (average precision) from the predicted
probabilities (sklearn metrics), of the first fit (the fits are seeded and deterministic).

How to read the ratios: ``/ GBT`` is (engine fit seconds) / (MLlib GBT fit seconds) and
``/ HGB`` is the same against the sklearn baseline, both measured in the same run. 0.25 means the
engine needs a quarter of the time, i.e. it is 4x faster; 2.0 means twice as slow. Absolute
seconds depend on the machine and on what else runs on it; the ratios are what to compare.
"others CPU" is the number of cores *other* processes kept busy during the fit (machine-wide busy
time from ``/proc/stat`` minus this process tree's CPU time, as in ``bench_ingestion.py``);
"own cores" is this process tree's CPU seconds / wall seconds, i.e. how many cores the engine
actually used. Before every fit the script waits (polling every 30 s, up to 15 minutes) until no
``pytest``, ``kedro run`` or ``bench_ingestion`` process runs, and records the load average.

The verdict line is computed from the numbers: "equal quality" means test ROC-AUC within
``--auc-tolerance`` (default 0.005) of MLlib GBT's. Nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingestion import StageClock, brfss_ingestion, machine  # CPU probe, machine, contract

ROOT = Path(__file__).resolve().parents[1]
PARAMETERS = ROOT / "conf" / "base" / "parameters"
RESULTS = Path(__file__).resolve().parent / "results"
YEAR = 2023

LABEL_SOURCE = "_RFHLTH"
FEATURES_RAW = [
    "_AGEG5YR", "_BMI5", "INCOME3", "EDUCA", "EMPLOY1", "_SMOKER3", "EXERANY2", "MARITAL",
    "PRIMINS1", "CHECKUP1", "MEDCOST1", "CVDINFR4", "CVDCRHD4", "CVDSTRK3", "ASTHMA3",
    "CHCCOPD3", "ADDEPEV3", "CHCKDNY2", "HAVARTH4", "DIABETE4", "_RACE",
]
LEAKY = {"GENHLTH", "PHYSHLTH", "MENTHLTH", "POORHLTH", "DIFFWALK"}
ENGINES = ("MLlib GBT", "xgboost.spark", "sklearn HGB")

OTHER_JOBS = "pytest|kedro run|bench_ingestion"
POLL_S = 30
MAX_WAIT_S = 15 * 60


# -- waiting for a quiet machine ------------------------------------------------------------

def other_jobs() -> list[str]:
    """Command lines of running ``pytest`` / ``kedro run`` / ``bench_ingestion`` processes
    (``pgrep -f``), leaving out this process and its ancestors."""
    mine = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    out = subprocess.run(["pgrep", "-af", OTHER_JOBS], capture_output=True, text=True,
                         check=False).stdout
    jobs = []
    for line in out.splitlines():
        pid, _, cmd = line.partition(" ")
        if pid.isdigit() and int(pid) not in mine:
            jobs.append(f"{pid} {cmd[:120]}")
    return jobs


def wait_for_quiet(label: str) -> dict[str, Any]:
    """Poll every 30 s, up to 15 minutes, until no other benchmark/test job runs."""
    start = time.monotonic()
    jobs = other_jobs()
    while jobs and time.monotonic() - start < MAX_WAIT_S:
        print(f"    waiting before {label}: {len(jobs)} other job(s) running, e.g. {jobs[0]}",
              flush=True)
        time.sleep(POLL_S)
        jobs = other_jobs()
    waited = time.monotonic() - start
    if jobs:
        print(f"    gave up waiting after {waited:.0f} s; still running: {jobs}", flush=True)
    return {"waited_s": round(waited, 1), "other_jobs_at_start": jobs}


# -- data -----------------------------------------------------------------------------------

def load_yaml(name: str) -> dict:
    return yaml.safe_load((PARAMETERS / name).read_text())


def missing_codes() -> dict[str, list[int]]:
    """Don't know / refused codes per BRFSS column, from the ingestion contract."""
    columns = brfss_ingestion()["columns"]
    return {name.upper(): list(rule.get("missing_codes", []))
            for name, rule in columns.items() if name.upper() in {*FEATURES_RAW, LABEL_SOURCE}}


def feature_name(column: str) -> str:
    return re.sub(r"^_", "", column).lower()


def modeling_table(rows: int, seed: int):
    """The generated survey as (label, 21 numeric features) in pandas."""
    import pandas as pd

    from health_risk.pipelines.sample_data.brfss_generator import generate_brfss_survey

    assert not LEAKY & set(FEATURES_RAW)
    spec = load_yaml("sample_data_brfss_spec.yml")["brfss_survey_spec"]
    survey = generate_brfss_survey(rows, seed, YEAR, spec)
    codes = missing_codes()
    keep = survey[LABEL_SOURCE].isin([1, 2])  # drops 9 (don't know / refused) and blank
    table = pd.DataFrame({"label": (survey.loc[keep, LABEL_SOURCE] == 2).astype("float64")})
    for column in FEATURES_RAW:
        values = survey.loc[keep, column].astype("float64")
        values = values.mask(values.isin(codes.get(column, [])))
        if column == "_BMI5":
            values = values / 100  # two implied decimals
        table[feature_name(column)] = values
    return table.reset_index(drop=True), len(survey), codes


def split(table, seed: int, test_share: float = 0.2):
    order = np.random.default_rng(seed).permutation(len(table))
    cut = round(len(table) * (1 - test_share))
    return table.iloc[order[:cut]].reset_index(drop=True), \
        table.iloc[order[cut:]].reset_index(drop=True)


# -- Spark ----------------------------------------------------------------------------------

def spark_settings() -> dict[str, Any]:
    return {
        "spark.master": os.environ.get("SPARK_MASTER", "local[2]"),
        "spark.driver.memory": "4g",
        "spark.sql.shuffle.partitions": 4,
        "spark.ui.enabled": False,
        "spark.ui.showConsoleProgress": False,
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.sql.execution.arrow.pyspark.enabled": True,
        "health_risk.log_level": "ERROR",
    }


def assemble(spark, train_pd, test_pd, numeric: list[str]):
    """Fit the project's preprocessing on train; return cached (features, label) frames."""
    from health_risk.core.columns import FEATURES, LABEL
    from health_risk.core.estimators import fit_preprocessing

    train_raw = spark.createDataFrame(train_pd)
    test_raw = spark.createDataFrame(test_pd)
    prep = fit_preprocessing(train_raw, numeric, [], scale=False)
    train = prep.transform(train_raw).select(FEATURES, LABEL).cache()
    test = prep.transform(test_raw).select(FEATURES, LABEL).cache()
    counts = train.count(), test.count()  # materialise the caches before any timing
    return train, test, counts


def to_numpy(df):
    """Collect a (features, label) frame as (X, y) numpy arrays, in row order."""
    from pyspark.ml.functions import vector_to_array

    pdf = df.select(vector_to_array("features").alias("x"), "label").toPandas()
    return np.stack(pdf["x"].to_numpy()), pdf["label"].to_numpy()


def spark_probabilities(model, df) -> np.ndarray:
    from pyspark.ml.functions import vector_to_array

    out = model.transform(df).select(vector_to_array("probability")[1].alias("p")).toPandas()
    return out["p"].to_numpy()


# -- engines --------------------------------------------------------------------------------

def make_fitters(args, train, X_train, y_train):
    from pyspark.ml.classification import GBTClassifier
    from sklearn.ensemble import HistGradientBoostingClassifier
    from xgboost.spark import SparkXGBClassifier

    from health_risk.core.columns import FEATURES, LABEL

    def gbt():
        return GBTClassifier(featuresCol=FEATURES, labelCol=LABEL, maxIter=args.trees,
                             maxDepth=args.depth, stepSize=args.learning_rate,
                             seed=42).fit(train)

    def xgb():
        return SparkXGBClassifier(features_col=FEATURES, label_col=LABEL,
                                  n_estimators=args.trees, max_depth=args.depth,
                                  learning_rate=args.learning_rate, num_workers=1,
                                  tree_method="hist", random_state=42).fit(train)

    def hgb():
        return HistGradientBoostingClassifier(max_iter=args.trees, max_depth=args.depth,
                                              learning_rate=args.learning_rate,
                                              random_state=42, early_stopping=False,
                                              max_leaf_nodes=None).fit(X_train, y_train)

    return {"MLlib GBT": gbt, "xgboost.spark": xgb, "sklearn HGB": hgb}


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def timed_fit(name: str, repeat: int, fit) -> tuple[Any, dict]:
    quiet = wait_for_quiet(f"{name} #{repeat}")
    load_before = load_average()
    with StageClock() as clock:
        model = fit()
    record = {"engine": name, "repeat": repeat, "seconds": round(clock.seconds, 3),
              "own_cpu_s": round(clock.own_cpu_s, 2),
              "own_cores": round(clock.own_cpu_s / clock.seconds, 2) if clock.seconds else None,
              "others_cores": clock.others_cores, "load1_before": load_before,
              "load1_after": load_average(), **quiet}
    print(f"  {name} #{repeat}: fit {clock.seconds:.2f} s, own cores {record['own_cores']}, "
          f"others CPU {clock.others_cores}, load1 {load_before} -> {record['load1_after']}",
          flush=True)
    return model, record


def quality(y_true: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    return {"roc_auc": round(float(roc_auc_score(y_true, p)), 4),
            "pr_auc": round(float(average_precision_score(y_true, p)), 4)}


def summarise(fits: list[dict], scores: dict[str, dict]) -> list[dict]:
    rows = []
    for name in ENGINES:
        mine = [f for f in fits if f["engine"] == name]
        others = [f["others_cores"] for f in mine if f["others_cores"] is not None]
        rows.append({
            "engine": name,
            "fit_s_median": round(statistics.median(f["seconds"] for f in mine), 3),
            "fit_s_all": [f["seconds"] for f in mine],
            "own_cores_median": round(statistics.median(f["own_cores"] for f in mine), 2),
            "others_cores_mean": round(statistics.mean(others), 2) if others else None,
            **scores[name],
        })
    gbt, hgb = rows[0]["fit_s_median"], rows[2]["fit_s_median"]
    for row in rows:
        row["ratio_to_gbt"] = round(row["fit_s_median"] / gbt, 3)
        row["ratio_to_hgb"] = round(row["fit_s_median"] / hgb, 3)
    return rows


def verdict(rows: list[dict], tolerance: float) -> str:
    by = {r["engine"]: r for r in rows}
    gbt, xgb = by["MLlib GBT"], by["xgboost.spark"]
    speed = gbt["fit_s_median"] / xgb["fit_s_median"]
    gap = xgb["roc_auc"] - gbt["roc_auc"]
    faster = (f"fits {speed:.1f}x faster than" if speed >= 1
              else f"fits {1 / speed:.1f}x slower than")
    if abs(gap) <= tolerance:
        quality_text = f"with test ROC-AUC within {abs(gap):.3f} ({xgb['roc_auc']:.4f} vs " \
                       f"{gbt['roc_auc']:.4f})"
    else:
        quality_text = (f"but test ROC-AUC differs by {gap:+.3f} ({xgb['roc_auc']:.4f} vs "
                        f"{gbt['roc_auc']:.4f}), beyond the {tolerance} tolerance")
    holds = speed > 1 and abs(gap) <= tolerance
    return (f"xgboost.spark {faster} MLlib GBT {quality_text}: the claim "
            f"\"faster at equal quality\" {'holds' if holds else 'does not hold'} here.")


def _fit_list(row: dict) -> str:
    return ", ".join(f"{x:.2f}" for x in row["fit_s_all"])


def warm_ratio(rows: list[dict]) -> str | None:
    """xgboost.spark vs MLlib GBT leaving out each engine's first fit (JVM / Python worker
    warm-up), or None with a single repeat."""
    by = {r["engine"]: r for r in rows}
    gbt, xgb = by["MLlib GBT"]["fit_s_all"][1:], by["xgboost.spark"]["fit_s_all"][1:]
    if not gbt or not xgb:
        return None
    speed = statistics.median(gbt) / statistics.median(xgb)
    return (f"without the first (cold) fit of each engine: xgboost.spark "
            f"{statistics.median(xgb):.2f} s vs MLlib GBT {statistics.median(gbt):.2f} s, "
            f"{speed:.1f}x {'faster' if speed >= 1 else 'slower'}")


def print_table(rows: list[dict]) -> None:
    width = max(len(r["engine"]) for r in rows)
    fits_width = max(len(_fit_list(r)) for r in rows)
    header = (f"{'engine':<{width}}  {'fit s (median)':>14}  {'/ GBT':>6}  {'/ HGB':>6}  "
              f"{'ROC-AUC':>7}  {'PR-AUC':>6}  {'own cores':>9}  {'others CPU':>10}  "
              f"{'each fit s':>{fits_width}}")
    print("\n" + header + "\n" + "-" * len(header))
    for r in rows:
        others = "-" if r["others_cores_mean"] is None else f"{r['others_cores_mean']:.2f}"
        print(f"{r['engine']:<{width}}  {r['fit_s_median']:>14.2f}  {r['ratio_to_gbt']:>6.2f}  "
              f"{r['ratio_to_hgb']:>6.2f}  {r['roc_auc']:>7.4f}  {r['pr_auc']:>6.4f}  "
              f"{r['own_cores_median']:>9.2f}  {others:>10}  {_fit_list(r):>{fits_width}}")
    print(f"(/ GBT, / HGB: fit seconds divided by those of MLlib GBT / sklearn HGB;\n"
          f" own cores: CPU s / wall s of this process tree; others CPU: cores of "
          f"{os.cpu_count()} kept busy by other processes during the fits, mean)")


# -- main -----------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="BRFSS rows to generate")
    parser.add_argument("--trees", type=int, default=50, help="trees / boosting iterations")
    parser.add_argument("--depth", type=int, default=5, help="maximum tree depth")
    parser.add_argument("--learning-rate", type=float, default=0.1, help="shrinkage")
    parser.add_argument("--repeats", type=int, default=2, help="fits per engine (median shown)")
    parser.add_argument("--seed", type=int, default=42, help="generator and split seed")
    parser.add_argument("--auc-tolerance", type=float, default=0.005,
                        help="largest ROC-AUC gap still called 'equal quality'")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"bench: {args.rows:,} rows, {args.trees} trees of depth {args.depth}, learning rate "
          f"{args.learning_rate}, {args.repeats} repeat(s), seed {args.seed}", flush=True)
    start_quiet = wait_for_quiet("the run")
    load_start = os.getloadavg()
    t0 = time.perf_counter()

    table, generated, codes = modeling_table(args.rows, args.seed)
    train_pd, test_pd = split(table, args.seed)
    numeric = [c for c in table.columns if c != "label"]
    nan_share = table[numeric].isna().to_numpy().mean()
    print(f"  table: {len(table):,} of {generated:,} rows labelled, {len(numeric)} features, "
          f"positive share {table['label'].mean():.3f}, NaN share {nan_share:.3f}; "
          f"train {len(train_pd):,}, test {len(test_pd):,} ({time.perf_counter() - t0:.1f} s)",
          flush=True)

    from health_risk.spark.session import build_spark_session

    settings = spark_settings()
    spark = build_spark_session(settings, app_name="health-risk-bench-boosting")
    fits: list[dict] = []
    scores: dict[str, dict] = {}
    predict_s: dict[str, float] = {}
    try:
        train, test, counts = assemble(spark, train_pd, test_pd, numeric)
        X_train, y_train = to_numpy(train)
        X_test, y_test = to_numpy(test)
        print(f"  assembled and cached: train {counts[0]:,}, test {counts[1]:,} rows, "
              f"{train.rdd.getNumPartitions()} / {test.rdd.getNumPartitions()} partitions",
              flush=True)
        fitters = make_fitters(args, train, X_train, y_train)
        for repeat in range(1, args.repeats + 1):
            for name in ENGINES:
                model, record = timed_fit(name, repeat, fitters[name])
                fits.append(record)
                if name in scores:
                    continue
                t = time.perf_counter()
                p = (model.predict_proba(X_test)[:, 1] if name == "sklearn HGB"
                     else spark_probabilities(model, test))
                predict_s[name] = round(time.perf_counter() - t, 3)
                scores[name] = quality(y_test, p)
                print(f"    test ROC-AUC {scores[name]['roc_auc']:.4f}, "
                      f"PR-AUC {scores[name]['pr_auc']:.4f}", flush=True)
        meta_spark = {"spark_version": spark.version, "spark_master": settings["spark.master"],
                      "train_partitions": train.rdd.getNumPartitions()}
    finally:
        spark.stop()

    rows = summarise(fits, scores)
    for row in rows:
        row["predict_test_s"] = predict_s[row["engine"]]
    line = verdict(rows, args.auc_tolerance)
    load_end = os.getloadavg()
    print_table(rows)
    print(f"\nload average (1/5/15 min): start {'/'.join(f'{x:.2f}' for x in load_start)}, "
          f"end {'/'.join(f'{x:.2f}' for x in load_end)}")
    print(f"\nverdict: {line}")
    warm = warm_ratio(rows)
    if warm:
        print(f"         ({warm})")

    import sklearn
    import xgboost

    meta = {
        "rows_generated": generated, "rows_labelled": len(table), "train_rows": len(train_pd),
        "test_rows": len(test_pd), "positive_share": round(float(table["label"].mean()), 4),
        "features": numeric, "missing_codes": codes, "trees": args.trees, "depth": args.depth,
        "learning_rate": args.learning_rate, "repeats": args.repeats, "seed": args.seed,
        "auc_tolerance": args.auc_tolerance, "date": time.strftime("%Y-%m-%d"),
        "xgboost": xgboost.__version__, "sklearn": sklearn.__version__, **meta_spark,
        **machine(),
        "load1_5_15_start": [round(x, 2) for x in load_start],
        "load1_5_15_end": [round(x, 2) for x in load_end], "wait_at_start": start_quiet,
        "total_s": round(time.perf_counter() - t0, 1),
    }
    path = RESULTS / f"boosting-{args.rows}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "engines": rows, "fits": fits, "verdict": line,
                                "warm": warm},
                               indent=2, default=str))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
