"""The benchmark suite (``make bench``): the project against the single-process code a user would
otherwise write, stage by stage, on the same generated BRFSS rows, in one run.

Usage::

    python bench/suite.py [--sizes 100k,450k,1M] [--workdir DIR] [--keep] [--no-full-run]

For each size the sample generator writes a BRFSS XPORT file of that many respondents (plus the
SAIPE workbook), in a work folder of its own, and every stage runs in a fresh process whose wall
time and whole-process-tree peak RSS (driver, JVM, Python workers) are measured:

1. ingestion: ``kedro run --pipelines ingestion --namespaces brfss`` (XPT -> parquet staging ->
   decoded, validated, quarantined parquet) against a chunked ``pandas.read_sas`` -> pyarrow
   parquet conversion of the same file;
2. feature engineering: ``kedro run --pipelines feature_engineering --namespaces brfss`` against
   the same configured derivations, label and exclusions computed by pandas;
3. training of each candidate at fixed hyper-parameters (50 trees of depth 5; ridge-like
   logistic regression) on the project's stratified TRAIN + VALIDATION rows, against
   scikit-learn HistGradientBoosting / LogisticRegression / RandomForest on the same rows;
   fit seconds and test ROC-AUC;
4. batch scoring of that size's feature table with the champion registered by stage 6 (read the
   batch, ``score_batch``, write the scores) against the pickled HistGradientBoosting pipeline's
   ``predict_proba`` with pyarrow reading and writing;
5. (first size only) SDV: the project's row selection, stratified fit and batch sample against
   one plain ``GaussianCopulaSynthesizer`` on the same rows;
6. (once, first) the whole ``kedro run`` on the default sample, as ``make run`` does it.

The ``kedro run`` stages include what a user pays for every run (Kedro start, configuration,
JVM start): the suite also times ``kedro run --pipelines ingestion --namespaces census`` (the 52
SAIPE rows) as the fixed cost, and reports the ratio with that subtracted too. Training compares
fit calls only (data cached, JVM warm); scoring includes reading and writing.

It prints one table (project, baseline, ratio per stage and size), the issue's targets with
their measured values, and writes ``bench/results/latest.json`` and ``latest.md``. Nothing is
asserted about time: a missed target is printed as missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingestion import machine
from probes import CommandResult, load_average, python_argv, run_measured

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
WORKERS = Path(__file__).resolve().parent / "workers.py"
KEDRO = Path(sys.executable).parent / "kedro"
CHUNKSIZE = 50_000
SPARK_CANDIDATES = ["linear", "random_forest", "gbt", "xgboost"]
BASELINE_FOR = {"linear": "logistic", "random_forest": "random_forest", "gbt": "hgb",
                "xgboost": "hgb"}
BOOSTED = ("gbt", "xgboost")


def parse_size(text: str) -> int:
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text[:-1] if factor > 1 else text) * factor)


class Suite:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.records: list[dict[str, Any]] = []
        self.extra_env: dict[str, str] = {}  # e.g. SPARK_DRIVER_MEMORY for the next commands

    def env(self, folder: Path) -> dict[str, str]:
        """A run whose data, MLflow store and artifacts all live in ``folder``."""
        return {**os.environ, "HEALTH_RISK_DATA_ROOT": str(folder / "data"),
                "HEALTH_RISK_MLFLOW_URI": f"sqlite:///{folder / 'mlflow.db'}",
                "HEALTH_RISK_MLFLOW_ARTIFACTS": str(folder / "mlartifacts"),
                "PYTHONWARNINGS": "ignore", **self.extra_env}

    def run(self, label: str, argv: list[str], folder: Path) -> CommandResult:
        log = folder / "logs" / f"{len(self.records):02d}-{label.replace(' ', '_')}.log"
        before = load_average()
        print(f"  {label} ...", end=" ", flush=True)
        result = run_measured(argv, self.env(folder), ROOT, log)
        print(f"{result.seconds:.1f} s, peak {result.peak_tree_rss_mib:,.0f} MiB", flush=True)
        self.records.append({"label": label, "seconds": round(result.seconds, 2),
                             "peak_tree_rss_mib": round(result.peak_tree_rss_mib),
                             "load_before": before, "result": result.result})
        return result

    def kedro(self, label: str, folder: Path, *args: str) -> CommandResult:
        return self.run(label, [str(KEDRO), "run", *args], folder)

    def worker(self, label: str, folder: Path, name: str, **kwargs) -> CommandResult:
        return self.run(label, python_argv(WORKERS, name, json.dumps(kwargs)), folder)


def generate(suite: Suite, folder: Path, rows: int | None) -> None:
    nodes = "make_brfss_survey_xpt,make_saipe_state_table"
    # One survey year (2023) of ``rows`` respondents, as the suite has always measured.
    params = ["--params", "sample_data.brfss.years=2023"
              + ("" if rows is None else f",sample_data.brfss.n_rows={rows}")]
    suite.kedro("generate sample data", folder, "--pipelines", "sample_data", "--nodes", nodes,
                *params)


def full_run(suite: Suite) -> dict[str, Any]:
    """Stage 6: ``make run`` on the default sample in a fresh folder (it also registers the
    champions that stage 4 scores with)."""
    folder = suite.workdir / "default"
    print("default sample: whole kedro run", flush=True)
    suite.kedro("generate every sample table", folder, "--pipelines", "sample_data")
    result = suite.kedro("kedro run (default sample)", folder)
    return {"seconds": result.seconds, "peak_tree_rss_mib": result.peak_tree_rss_mib,
            "tracking_uri": f"sqlite:///{folder / 'mlflow.db'}"}


def year_run(suite: Suite, folder: Path) -> dict[str, Any]:
    """Ingestion through modeling of brfss (and its census reference) in one ``kedro run`` with
    the default settings, as a user runs a survey year: the process tree's peak memory."""
    result = suite.kedro("year run: ingestion -> modeling", folder, "--pipelines",
                         "ingestion,feature_engineering,modeling", "--namespaces", "census,brfss")
    return {"seconds": round(result.seconds, 1),
            "peak_tree_rss_mib": round(result.peak_tree_rss_mib)}


def one_size(suite: Suite, rows: int, champion_uri: str | None, with_sdv: bool
             ) -> dict[str, Any]:
    folder = suite.workdir / f"rows-{rows}"
    data = folder / "data"
    print(f"{rows:,} rows", flush=True)
    generate(suite, folder, rows)
    out: dict[str, Any] = {"rows": rows}
    fixed = suite.kedro("kedro start-up: census ingestion (52 rows)", folder,
                        "--pipelines", "ingestion", "--namespaces", "census")
    out["kedro_fixed_seconds"] = fixed.seconds

    project = suite.kedro("1 ingestion: kedro run", folder, "--pipelines", "ingestion",
                          "--namespaces", "brfss")
    baseline = suite.worker("1 ingestion: pandas.read_sas -> pyarrow", folder, "ingest_baseline",
                            xpt=str(data / "01_raw/brfss/LLCP2023.XPT"),
                            out=str(folder / "baseline_ingested.parquet"), chunksize=CHUNKSIZE)
    report = json.loads(Path(_published(data, "08_reporting/brfss/validation_report.json")).read_text())
    out["ingestion"] = {"project": _cmd(project), "baseline": _cmd(baseline),
                        "rows_read": report.get("rows_read"),
                        "rows_quarantined": report.get("rows_quarantined")}

    project = suite.kedro("2 features: kedro run", folder, "--pipelines", "feature_engineering",
                          "--namespaces", "brfss")
    baseline = suite.worker("2 features: pandas", folder, "features_baseline",
                            validated=_published(data, "02_intermediate/brfss/validated"),
                            census=_published(data, "02_intermediate/census/validated"),
                            out=str(folder / "baseline_features.parquet"))
    out["features"] = {"project": _cmd(project), "baseline": _cmd(baseline),
                       "rows_in": baseline.result["rows_in"]}

    features = _published(data, "04_feature/brfss/features")
    spec = _published(data, "04_feature/brfss/feature_spec.json")
    model = str(folder / "hgb.pkl")
    project = suite.worker("3 training: Spark candidates", folder, "train_project",
                           features=features, spec=spec, split_dir=str(folder / "split"),
                           candidates=SPARK_CANDIDATES)
    baselines = sorted(set(BASELINE_FOR.values()))
    baseline = suite.worker("3 training: scikit-learn", folder, "train_baseline",
                            split_dir=str(folder / "split"), spec=spec, model_out=model,
                            candidates=baselines)
    out["training"] = {"project": project.result, "baseline": baseline.result}

    if champion_uri:
        project = suite.worker("4 scoring: champion on Spark", folder, "score_project",
                               features=features, out=str(folder / "scores"),
                               tracking_uri=champion_uri)
        baseline = suite.worker("4 scoring: HGB predict_proba", folder, "score_baseline",
                                features=features, model=model,
                                out=str(folder / "baseline_scores.parquet"), spec=spec)
        out["scoring"] = {"project": _cmd(project), "baseline": _cmd(baseline)}

    if with_sdv:
        rows_file = str(folder / "sdv_training_rows.parquet")
        project = suite.worker("5 SDV: project nodes", folder, "sdv_project",
                               primary=_published(data, "03_primary/brfss/primary"),
                               features=features, rows_out=rows_file)
        baseline = suite.worker("5 SDV: plain GaussianCopula", folder, "sdv_baseline",
                                rows=rows_file, batch_rows=project.result["sampled"])
        out["sdv"] = {"project": _cmd(project), "baseline": _cmd(baseline)}
    return out


# The publication record (health_risk.datasets.publication) of each published member's layer.
_PUBLICATION = {"validated": "02_intermediate", "validation_report": "02_intermediate",
                "primary": "04_feature", "features": "04_feature", "feature_spec": "04_feature"}


def _published(data: Path, relative: str) -> str:
    """The current version of a published table or report (what the catalog would load)."""
    from health_risk.datasets.publication import published_path

    _, study, name = Path(relative).parts
    member = name.removesuffix(".json")
    record = data / _PUBLICATION[member] / study / "_publication.json"
    return published_path(str(record), member, str(data / relative))


def _cmd(result: CommandResult) -> dict[str, Any]:
    return {"seconds": round(result.seconds, 2), "peak_tree_rss_mib": round(
        result.peak_tree_rss_mib), "inner": result.result}


# -- the tables -------------------------------------------------------------------------------

def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def comparison_rows(sizes: list[dict[str, Any]], full: dict[str, Any] | None
                    ) -> list[dict[str, Any]]:
    """One row per (size, stage): project and baseline seconds, their ratio, rows/s, peaks."""
    rows = []
    for size in sizes:
        n = size["rows"]
        fixed = size["kedro_fixed_seconds"]
        for stage, label in (("ingestion", "1 ingestion XPT -> validated parquet"),
                             ("features", "2 feature engineering")):
            p, b = size[stage]["project"], size[stage]["baseline"]
            rows.append({
                "rows": n, "stage": label, "project_s": p["seconds"], "baseline_s": b["seconds"],
                "ratio": ratio(p["seconds"], b["seconds"]),
                "ratio_without_startup": ratio(p["seconds"] - fixed, b["seconds"]),
                "project_rows_per_s": round(n / p["seconds"]),
                "baseline_rows_per_s": round(n / b["seconds"]),
                "project_peak_mib": p["peak_tree_rss_mib"],
                "baseline_peak_mib": b["peak_tree_rss_mib"]})
        fits_p, fits_b = size["training"]["project"]["fits"], size["training"]["baseline"]["fits"]
        train_rows = size["training"]["project"]["rows"]["train"]
        for name, fit in fits_p.items():
            base_name = BASELINE_FOR[name]
            base = fits_b[base_name]
            rows.append({
                "rows": n, "stage": f"3 fit {name} vs sklearn {base_name}",
                "project_s": fit["seconds"], "baseline_s": base["seconds"],
                "ratio": ratio(fit["seconds"], base["seconds"]),
                "project_rows_per_s": round(train_rows / fit["seconds"]),
                "baseline_rows_per_s": round(train_rows / base["seconds"]),
                "project_roc_auc": fit["roc_auc"], "baseline_roc_auc": base["roc_auc"]})
        if "scoring" in size:
            p, b = size["scoring"]["project"], size["scoring"]["baseline"]
            scored = p["inner"]["rows"]  # the feature table's rows (exclusions left out)
            rows.append({
                "rows": scored, "stage": "4 batch scoring (read, score, write)",
                "project_s": p["inner"]["seconds"], "baseline_s": b["inner"]["seconds"],
                "ratio": ratio(p["inner"]["seconds"], b["inner"]["seconds"]),
                "project_rows_per_s": round(scored / p["inner"]["seconds"]),
                "baseline_rows_per_s": round(b["inner"]["rows"] / b["inner"]["seconds"]),
                "project_peak_mib": p["peak_tree_rss_mib"],
                "baseline_peak_mib": b["peak_tree_rss_mib"]})
        if "sdv" in size:
            p, b = size["sdv"]["project"], size["sdv"]["baseline"]
            rows.append({
                "rows": p["inner"]["rows"], "stage": "5 SDV fit + sample",
                "project_s": p["inner"]["seconds"], "baseline_s": b["inner"]["seconds"],
                "ratio": ratio(p["inner"]["seconds"], b["inner"]["seconds"]),
                "project_peak_mib": p["peak_tree_rss_mib"],
                "baseline_peak_mib": b["peak_tree_rss_mib"]})
    if full:
        rows.append({"rows": None, "stage": "6 kedro run, default sample",
                     "project_s": round(full["seconds"], 1), "baseline_s": None, "ratio": None,
                     "project_peak_mib": round(full["peak_tree_rss_mib"])})
    return rows


def _by(sizes: list[dict[str, Any]], rows: int) -> dict[str, Any] | None:
    return next((s for s in sizes if s["rows"] == rows), None)


def best_boosted(size: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    fits = size["training"]["project"]["fits"]
    name = min((n for n in BOOSTED if n in fits), key=lambda n: fits[n]["seconds"])
    return name, fits[name]


def targets(sizes: list[dict[str, Any]], full: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The issue's targets, each with the value measured in this run (None: size not run)."""
    out = []

    def add(target: str, value: Any, limit: float, met: bool | None, how: str) -> None:
        out.append({"target": target, "measured": value, "limit": limit, "met": met,
                    "how": how})

    mid = _by(sizes, 450_000)
    if mid:
        ing = mid["ingestion"]
        value = ratio(ing["project"]["seconds"], ing["baseline"]["seconds"])
        add("ingestion 450k: time / chunked read_sas->parquet", value, 4.0, value <= 4.0,
            "whole kedro run (Kedro + JVM start included)")
        peak = ing["project"]["peak_tree_rss_mib"]
        add("ingestion 450k: peak RSS of the process tree (MiB)", peak, 2048, peak <= 2048,
            "sampled every 0.1 s, driver + JVM + workers")
        name, fit = best_boosted(mid)
        hgb = mid["training"]["baseline"]["fits"]["hgb"]
        value = ratio(fit["seconds"], hgb["seconds"])
        add(f"best boosted ({name}) fit 450k / HGB fit", value, 1.5, value <= 1.5,
            f"{fit['seconds']} s vs {hgb['seconds']} s")
        gap = round(abs(fit["roc_auc"] - hgb["roc_auc"]), 4)
        add(f"best boosted ({name}) ROC-AUC gap to HGB", gap, 0.005, gap <= 0.005,
            f"{fit['roc_auc']} vs {hgb['roc_auc']}")
        if "scoring" in mid:
            p, b = mid["scoring"]["project"]["inner"], mid["scoring"]["baseline"]["inner"]
            value = ratio(b["seconds"], p["seconds"])  # rows/s project / rows/s baseline
            add("scoring 450k: rows/s / HGB rows/s", value, 1.0, value >= 1.0,
                "read + score + write; higher is better")
    small, large = _by(sizes, 100_000), _by(sizes, 1_000_000)
    if small and large:
        for stage, get in (
                ("ingestion", lambda s: s["ingestion"]["project"]["seconds"]),
                ("training (best boosted)", lambda s: best_boosted(s)[1]["seconds"]),
                ("scoring", lambda s: s["scoring"]["project"]["inner"]["seconds"]
                 if "scoring" in s else None)):
            value = ratio(get(large), get(small))
            add(f"{stage}: time(1M) / time(100k)", value, 12.0,
                None if value is None else value <= 12.0, "project side")
    year = next((s for s in sizes if "year_run" in s), None)
    if year:
        peak = year["year_run"]["peak_tree_rss_mib"]
        add(f"year run ({year['rows']:,} rows, ingestion -> modeling): peak RSS (MiB)", peak,
            4096, peak <= 4096, f"{year['year_run']['seconds']} s, default settings")
    if full:
        value = round(full["seconds"], 1)
        add("kedro run, default sample (s)", value, 300, value <= 300, "make run's kedro run")
    return out


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec) if spec else str(value)


def table_lines(rows: list[dict[str, Any]]) -> list[str]:
    header = ["rows", "stage", "project s", "baseline s", "ratio", "ratio w/o start",
              "project rows/s", "baseline rows/s", "project MiB", "baseline MiB",
              "ROC-AUC p / b"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        auc = (f"{r['project_roc_auc']:.4f} / {r['baseline_roc_auc']:.4f}"
               if "project_roc_auc" in r else "-")
        lines.append("| " + " | ".join([
            _fmt(r["rows"], ","), r["stage"], _fmt(r["project_s"], ".2f"),
            _fmt(r["baseline_s"], ".2f"), _fmt(r["ratio"], ".2f"),
            _fmt(r.get("ratio_without_startup"), ".2f"), _fmt(r.get("project_rows_per_s"), ","),
            _fmt(r.get("baseline_rows_per_s"), ","), _fmt(r.get("project_peak_mib"), ","),
            _fmt(r.get("baseline_peak_mib"), ","), auc]) + " |")
    return lines


def target_lines(items: list[dict[str, Any]]) -> list[str]:
    lines = ["| target | measured | limit | met | how |", "|---|---|---|---|---|"]
    for t in items:
        met = {True: "yes", False: "**no**", None: "-"}[t["met"]]
        lines.append(f"| {t['target']} | {_fmt(t['measured'])} | {t['limit']} | {met} | "
                     f"{t['how']} |")
    return lines


def write_results(payload: dict[str, Any], rows, items) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(payload, indent=2, default=str))
    meta = payload["meta"]
    intro = (f"`python bench/suite.py --sizes {meta['sizes_arg']}` on {meta['cpus']} cores, "
             f"{meta['memory_gib']} GiB, {meta['platform']}; {meta['seconds'] / 60:.1f} min in "
             f"all; load average {meta['load_start']} at the start, {meta['load_end']} at the "
             "end. Ratio = project seconds / baseline seconds in the same run (below 1: the "
             "project is faster). See docs/performance.md.")
    md = [f"# Benchmark results ({meta['date']})", "", intro, "",
          "## Project vs single-process baseline", "", *table_lines(rows), "",
          "## Targets (issue 12)", "", *target_lines(items), ""]
    extra = payload.get("separate_measurements") or []
    if extra:  # measured after the run by hand, with the command given; not part of the suite
        md += ["## Measured separately, right after this run", "",
               "| what | seconds | peak tree MiB | environment | how |", "|---|---|---|---|---|"]
        md += [f"| {e['label']} | {e['seconds']} | {e['peak_tree_rss_mib']:,} | {e['env']} | "
               f"{e['how']} |" for e in extra]
        md.append("")
    (RESULTS / "latest.md").write_text("\n".join(md))
    print(f"wrote {RESULTS / 'latest.json'} and {RESULTS / 'latest.md'}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100k",
                        help="comma-separated BRFSS row counts (100k,450k,1M for the targets)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    parser.add_argument("--no-full-run", action="store_true",
                        help="skip stage 6 (and so the scoring stage, which needs its champion)")
    parser.add_argument("--year-run", metavar="SIZE", default=None,
                        help="also run ingestion through modeling in one kedro run at SIZE "
                             "(one of --sizes) and report its peak memory")
    parser.add_argument("--render", type=Path, metavar="JSON", default=None,
                        help="only rebuild the tables and results files from a saved JSON")
    return parser.parse_args(argv)


def publish(payload: dict[str, Any]) -> None:
    """Summarise a run's measurements (``sizes``, ``full_run``): print the two tables and
    write both results files."""
    sizes, full = payload["sizes"], payload["full_run"]
    rows, items = comparison_rows(sizes, full), targets(sizes, full)
    print("\n" + "\n".join(table_lines(rows)) + "\n\n" + "\n".join(target_lines(items)))
    write_results({**payload, "comparison": rows, "targets": items}, rows, items)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:  # after a change to how measurements are summarised; nothing is re-run
        publish(json.loads(args.render.read_text()))
        return 0
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="health-risk-suite-", dir="/tmp"))
    suite = Suite(workdir)
    start, load_start = time.perf_counter(), load_average()
    print(f"bench suite: sizes {sizes}, work dir {workdir}", flush=True)
    try:
        full = None if args.no_full_run else full_run(suite)
        results = [one_size(suite, n, full and full["tracking_uri"], with_sdv=(i == 0))
                   for i, n in enumerate(sizes)]
        if args.year_run:
            size = next((r for r in results if r["rows"] == parse_size(args.year_run)), None)
            if size is None:
                print(f"--year-run {args.year_run} is not among --sizes: no year run")
            else:
                size["year_run"] = year_run(suite, suite.workdir / f"rows-{size['rows']}")
    finally:
        if args.workdir is None and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "sizes": sizes, "sizes_arg": args.sizes,
            "seconds": round(time.perf_counter() - start, 1), "load_start": load_start,
            "load_end": load_average(), **machine()}
    publish({"meta": meta, "sizes": results, "full_run": full, "commands": suite.records})
    return 0


if __name__ == "__main__":
    sys.exit(main())
