"""A decade of BRFSS in one run (issue 25): ten generated survey years of 450,000 respondents
(4.5 million rows) read as one source, at two driver-memory settings.

Usage::

    python bench/bench_decade.py [--years 2014-2023] [--rows 450000] [--memory 2g,4g]
                                 [--workdir DIR] [--keep]

In a work folder of its own (data, MLflow store), every measurement a fresh process whose wall
time and whole-process-tree peak RSS are measured (``probes.run_measured``):

1. the sample generator writes the years (``sample_data.brfss.years``, each year in its own
   variable names where the generator has a layout for it) and the SAIPE workbook (not a
   measurement: it is how the data comes to exist);
2. the fixed cost of a run: ``kedro run --pipelines ingestion --namespaces census`` (52 rows),
   three times with the driver's class archive (recorded first if missing:
   ``health_risk.spark.record_archive``), the median kept, and once without it
   (``SPARK_CLASS_ARCHIVE=false``) for comparison;
3. for each driver memory (``SPARK_DRIVER_MEMORY``), from empty intermediate layers (the XPT
   files are converted again): one ``kedro run`` of ingestion -> feature engineering -> one
   xgboost fit at fixed hyper-parameters (``--to-nodes brfss.train_candidates``, xgboost alone,
   one trial, 50 trees of depth 5, rate 0.1: the suite's training comparison), with the
   project's node timings (``HEALTH_RISK_NODE_TIMES``) giving the ingestion part of the run;
4. the baseline: the same ten files through chunked ``pandas.read_sas`` -> pyarrow parquet
   (``workers.ingest_baseline``), one fresh process per file, summed.

Prints the figures and the issue's targets; writes ``bench/results/decade.json`` and
``decade.md``. Nothing is asserted: a missed target is printed as missed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingestion import machine
from probes import load_average
from suite import CHUNKSIZE, RESULTS, ROOT, Suite, parse_size

# One xgboost fit at the training comparison's settings (bench/workers.py: TREES, DEPTH, ...).
XGBOOST_FIT = ("brfss.modeling.candidates_to_run=xgboost,"
               "brfss.modeling.candidates.xgboost.n_trials=1,"
               "brfss.modeling.candidates.xgboost.fixed.n_estimators=50,"
               "brfss.modeling.candidates.xgboost.fixed.max_depth=5,"
               "brfss.modeling.candidates.xgboost.fixed.learning_rate=0.1,"
               "brfss.modeling.candidates.xgboost.fixed.subsample=1.0,"
               "brfss.modeling.candidates.xgboost.fixed.colsample_bytree=1.0")
TARGETS = {"run_seconds": 15 * 60, "peak_mib": 6 * 1024, "ingestion_ratio": 3.0,
           "fixed_seconds": 12.0}
# Layers a measured run rebuilds (the raw files and the census table stay).
REBUILT = ("02_intermediate/brfss", "04_feature/brfss", "05_model_input/brfss",
           "06_models/brfss", "07_model_output/brfss", "08_reporting/brfss")


def generate(suite: Suite, folder: Path, years: str, rows: int) -> dict[str, Any]:
    raw = folder / "data" / "01_raw" / "brfss"
    if raw.is_dir() and any(raw.glob("LLCP*.XPT")):
        print("  sample years already written: reused", flush=True)
        return {"reused": True}
    result = suite.kedro("generate the years", folder, "--pipelines", "sample_data", "--nodes",
                         "make_brfss_survey_xpt,make_saipe_state_table", "--params",
                         f"sample_data.brfss.years={years},sample_data.brfss.n_rows={rows}")
    return {"seconds": round(result.seconds, 1)}


def fresh(folder: Path) -> None:
    for relative in REBUILT:
        shutil.rmtree(folder / "data" / relative, ignore_errors=True)
    for name in ("mlflow.db", "mlartifacts"):
        path = folder / name
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def fixed_cost(suite: Suite, folder: Path, repeats: int = 3) -> dict[str, Any]:
    """The 52-row census run: ``repeats`` times with the class archive (median), once
    without."""
    archive = subprocess.run([sys.executable, "-m", "health_risk.spark.record_archive"],
                             capture_output=True, text=True, check=False, cwd=ROOT)
    runs = [suite.kedro("fixed cost: census ingestion", folder, "--pipelines", "ingestion",
                        "--namespaces", "census") for _ in range(repeats)]
    suite.extra_env = {"SPARK_CLASS_ARCHIVE": "false"}
    try:
        bare = suite.kedro("fixed cost without the class archive", folder, "--pipelines",
                           "ingestion", "--namespaces", "census")
    finally:
        suite.extra_env = {}
    middle = sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]
    return {"seconds": round(middle.seconds, 1),
            "peak_tree_rss_mib": round(middle.peak_tree_rss_mib),
            "runs_seconds": [round(r.seconds, 1) for r in runs],
            "without_archive_seconds": round(bare.seconds, 1),
            "archive": (archive.stdout + archive.stderr).strip().splitlines()[-1:]}


def decade_run(suite: Suite, folder: Path, memory: str) -> dict[str, Any]:
    fresh(folder)
    times = folder / f"node_times_{memory}.json"
    suite.extra_env = {"SPARK_DRIVER_MEMORY": memory, "HEALTH_RISK_NODE_TIMES": str(times)}
    try:
        result = suite.kedro(f"decade run, driver {memory}", folder, "--pipelines",
                             "ingestion,feature_engineering,modeling", "--namespaces",
                             "census,brfss", "--to-nodes", "brfss.train_candidates",
                             "--params", XGBOOST_FIT)
    finally:
        suite.extra_env = {}
    nodes = json.loads(times.read_text())["per_node"]
    return {"memory": memory, "seconds": round(result.seconds, 1),
            "peak_tree_rss_mib": round(result.peak_tree_rss_mib),
            "stage_seconds": {stage: stage_seconds(nodes, names)
                              for stage, names in STAGES.items()},
            "ingestion_seconds": ingestion_seconds(nodes), "log": result.log}


# Node-name prefixes of the stages (ingestion nodes: the ingestion template's names).
STAGES = {"ingestion": ("normalise_columns", "flag_invalid_rows", "extract_quarantine",
                        "build_validation_report", "publish_validated_table"),
          "features": ("derive_primary", "build_feature_table", "rank_features",
                       "build_feature_report"),
          "modeling": ("build_model_input", "train_candidates")}


def stage_seconds(nodes: dict[str, dict[str, float]], names: tuple[str, ...]) -> float:
    """brfss's nodes of one stage inside the run: their loads (ingestion's first load is the
    XPT conversion), functions and saves."""
    wanted = {f"brfss.{n}" for n in names}
    return round(sum(sum(t.values()) for name, t in nodes.items() if name in wanted), 1)


def ingestion_seconds(nodes: dict[str, dict[str, float]]) -> float:
    return stage_seconds(nodes, STAGES["ingestion"])


def baseline(suite: Suite, folder: Path) -> dict[str, Any]:
    files = sorted((folder / "data" / "01_raw" / "brfss").glob("LLCP*.XPT"))
    seconds, peak = 0.0, 0.0
    for xpt in files:
        result = suite.worker(f"baseline {xpt.name}", folder, "ingest_baseline", xpt=str(xpt),
                              out=str(folder / f"baseline_{xpt.stem}.parquet"),
                              chunksize=CHUNKSIZE)
        seconds += result.seconds
        peak = max(peak, result.peak_tree_rss_mib)
    return {"files": len(files), "seconds": round(seconds, 1), "peak_tree_rss_mib": round(peak)}


def summary_lines(payload: dict[str, Any]) -> list[str]:
    fixed, base = payload["fixed"], payload["baseline"]
    lines = [f"# A decade of BRFSS: {payload['meta']['years']} x {payload['meta']['rows']:,} rows",
             "", (f"{payload['meta']['date']}, {payload['meta'].get('cpus')} CPUs, load "
             f"{payload['meta']['load_start']} at the start; total {payload['meta']['seconds']} s"),
             "", f"{' '.join(fixed.get('archive') or ['class archive: not reported'])}",
             "", "| measurement | seconds | peak tree MiB |", "|---|---|---|",
             (f"| fixed cost: census ingestion (52 rows), median of "
              f"{fixed['runs_seconds']} | {fixed['seconds']} | {fixed['peak_tree_rss_mib']:,} |"),
             (f"| the same without the class archive | {fixed['without_archive_seconds']} | |"),
             (f"| baseline: chunked pandas.read_sas -> parquet, {base['files']} files | "
             f"{base['seconds']} | {base['peak_tree_rss_mib']:,} |")]
    for run in payload["runs"]:
        stages = ", ".join(f"{k} {v} s" for k, v in run["stage_seconds"].items())
        lines.append(f"| one kedro run, driver {run['memory']} ({stages}) | {run['seconds']} | "
                     f"{run['peak_tree_rss_mib']:,} |")
    lines += ["", "| target | measured | limit | met |", "|---|---|---|---|"]
    lines += [f"| {t['target']} | {t['value']} | {t['limit']} | {t['met']} |"
              for t in payload["targets"]]
    return lines


def targets(payload: dict[str, Any]) -> list[dict[str, Any]]:
    items = [{"target": "fixed cost of a run (census, 52 rows), s",
              "value": payload["fixed"]["seconds"], "limit": TARGETS["fixed_seconds"]}]
    for run in payload["runs"]:
        ratio = round(run["ingestion_seconds"] / payload["baseline"]["seconds"], 2)
        items += [
            {"target": f"decade run, driver {run['memory']}, s", "value": run["seconds"],
             "limit": TARGETS["run_seconds"]},
            {"target": f"decade run, driver {run['memory']}, peak tree MiB",
             "value": run["peak_tree_rss_mib"], "limit": TARGETS["peak_mib"]},
            {"target": f"ingestion in the run / pandas baseline, driver {run['memory']}",
             "value": ratio, "limit": TARGETS["ingestion_ratio"]}]
    for item in items:
        item["met"] = item["value"] <= item["limit"]
    return items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", default="2014-2023")
    parser.add_argument("--rows", default="450k", help="respondents per year")
    parser.add_argument("--memory", default="2g,4g", help="driver memory settings to compare")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    rows = parse_size(args.rows)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="health-risk-decade-", dir="/tmp"))
    folder = workdir / "decade"
    suite = Suite(workdir)
    start, load_start = time.perf_counter(), load_average()
    print(f"decade bench: years {args.years} x {rows:,} rows, work dir {workdir}", flush=True)
    try:
        generated = generate(suite, folder, args.years, rows)
        fixed = fixed_cost(suite, folder)
        runs = [decade_run(suite, folder, memory) for memory in args.memory.split(",")]
        base = baseline(suite, folder)
    finally:
        if args.workdir is None and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    payload = {
        "meta": {"date": time.strftime("%Y-%m-%d %H:%M"), "years": args.years, "rows": rows,
                 "seconds": round(time.perf_counter() - start, 1), "load_start": load_start,
                 "load_end": load_average(), **machine()},
        "generated": generated,
        "fixed": fixed,
        "runs": runs, "baseline": base, "commands": suite.records}
    payload["targets"] = targets(payload)
    lines = summary_lines(payload)
    print("\n" + "\n".join(lines))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "decade.json").write_text(json.dumps(payload, indent=1, default=str))
    (RESULTS / "decade.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
