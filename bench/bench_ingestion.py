"""Benchmark of the BRFSS ingestion path: XPORT file -> parquet staging -> Spark -> validated.

Usage::

    python bench/bench_ingestion.py [--rows 450000] [--chunksize 50000] [--workdir DIR] [--keep]

What is measured (wall-clock seconds, ``time.perf_counter``), in this order:

* **generate / write XPORT** (in a fresh subprocess): ``generate_brfss_survey`` for ``--rows``
  rows, then ``SasXportDataset.save`` writes a genuine XPORT v5 file into the work dir.
* **spark session start**: ``health_risk.spark.session.build_spark_session`` plus one tiny query, so JVM
  start-up is not charged to the first stage.
* **a. staged load**: ``SasXportDataset.load()`` (chunked ``pandas.read_sas`` -> parquet staging
  -> ``spark.read.parquet``) and then one action that decodes every column of every row
  (``df.write.format("noop")``). A ``count()`` would only read parquet footers, which is not
  comparable with a full pandas read.
* **b. reload**: a second dataset instance on the same file: the staging is reused, so ``load()``
  is near-instant and what remains is the Spark scan of the staging.
* **c. ingestion nodes**: ``normalise_columns`` -> ``flag_invalid_rows`` -> ``extract_quarantine``
  (+ quarantine written to parquet and read back, as the catalog does) ->
  ``build_validation_report`` -> ``publish_validated_table`` (+ validated table written to
  parquet), with the ``brfss.ingestion`` parameters of ``conf/base/studies/brfss/``.
  No action is added: each row is charged with the Spark jobs its node (and save) triggers.
* **baselines** (each in a fresh subprocess, after Spark has stopped): the same file read in
  full by ``pandas.read_sas(path, format="xport")`` and by ``pyreadstat.read_xport(path)``.

Rows marked TOTAL are sums of the rows above them (nothing is run twice).

How to read the figures: absolute times depend on the machine, so compare *ratios* measured in
the same run. ``staged / baseline`` is (stage a seconds) / (baseline seconds): 3.0 means the
project's loader takes three times as long as reading the whole file into one pandas DataFrame.
What the staged loader buys for that price is bounded driver memory (``--chunksize`` rows at a
time) and a parquet copy that later runs reuse (stage b). Peak RSS is per stage: the kernel's
peak-RSS mark (``VmHWM``) of the driver and of the JVM is reset before each stage (Linux
``/proc/<pid>/clear_refs``); if that is not permitted, peaks are since process start and the JSON
says ``"peak_scope": "process"``. Each subprocess reports its own peak (``VmHWM``; its
``ru_maxrss`` is also kept, but Linux seeds a spawned child's ``ru_maxrss`` with the parent's RSS).

The "others CPU" column is the number of cores that *other* processes kept busy during the
stage (machine-wide busy time from ``/proc/stat`` minus this process tree's CPU time). On a shared
machine a stage with, say, 1.5 of 2 cores taken by others ran on what was left: compare such
figures with care, or rerun when the machine is quiet.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

import psutil
import yaml

# Heavy libraries (pandas, pyspark, the project) are imported inside functions, so that each
# spawned subprocess loads only what its own measurement needs.

ROOT = Path(__file__).resolve().parents[1]
PARAMETERS = ROOT / "conf" / "base" / "parameters"
RESULTS = Path(__file__).resolve().parent / "results"
SEED = 20231 * 10  # the seed the sample_data pipeline gives the BRFSS table
YEAR = 2023
MIB = 1024 * 1024


# -- memory probes --------------------------------------------------------------------------

def _status_kib(pid: int | str, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_rss_mib(pid: int | str = "self") -> float | None:
    """Peak resident set size (``VmHWM``) since start or since the last ``reset_peak``."""
    kib = _status_kib(pid, "VmHWM")
    return None if kib is None else kib / 1024


def rss_mib(pid: int | None = None) -> float:
    return psutil.Process(pid).memory_info().rss / MIB


def ru_maxrss_mib() -> float:
    """``ru_maxrss`` of this process (KiB on Linux). ``reset_peak`` resets it too, unless a
    thread has exited since the peak (the kernel then keeps that peak in the process's signal
    struct), which is why the stages read ``VmHWM``."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak(pid: int | str = "self") -> bool:
    """Reset the kernel's peak-RSS mark of a process to its current RSS (Linux >= 4.0)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def find_jvm_pid() -> int | None:
    """The Spark JVM: a ``java`` process among the driver's descendants."""
    for child in psutil.Process().children(recursive=True):
        try:
            if child.name() == "java":
                return child.pid
        except psutil.Error:
            continue
    return None


# -- CPU probes: how much of the machine other processes used during a stage -------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float | None:
    """CPU seconds the whole machine has spent busy (user, nice, system, irq, softirq)."""
    try:
        with open("/proc/stat") as handle:
            user, nice, system, _idle, _iowait, irq, softirq = map(
                int, handle.readline().split()[1:8])
    except (OSError, ValueError):
        return None
    return (user + nice + system + irq + softirq) / CLOCK_TICKS


def own_cpu_s() -> float:
    """CPU seconds of this process and its live descendants (the Spark JVM)."""
    me = psutil.Process()
    total = 0.0
    for proc in (me, *me.children(recursive=True)):
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


class StageClock:
    """Wall time of a ``with`` block and the cores other processes kept busy meanwhile."""

    def __enter__(self) -> Self:
        self._busy, self._own = machine_busy_s(), own_cpu_s()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start
        busy = machine_busy_s()
        self.own_cpu_s = own_cpu_s() - self._own
        self.others_cores = None
        if busy is not None and self._busy is not None and self.seconds > 0:
            others = (busy - self._busy) - self.own_cpu_s
            self.others_cores = round(max(0.0, others) / self.seconds, 2)


# -- bookkeeping ----------------------------------------------------------------------------

@dataclass
class Measurement:
    stage: str
    seconds: float
    rows: int | None = None
    peak_rss_mib: float | None = None  # Python process of the stage (driver or subprocess)
    jvm_peak_rss_mib: float | None = None
    others_cores: float | None = None  # cores other processes kept busy during the stage
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float | None:
        return self.rows / self.seconds if self.rows and self.seconds > 0 else None


class Recorder:
    """Times stages run in this (driver) process and records their peak RSS."""

    def __init__(self) -> None:
        self.measurements: list[Measurement] = []
        self.jvm_pid: int | None = None
        self.peak_scope = "stage" if reset_peak() else "process"

    def add(self, measurement: Measurement) -> Measurement:
        self.measurements.append(measurement)
        print(f"  {measurement.stage}: {measurement.seconds:.2f} s", flush=True)
        return measurement

    def run(self, stage: str, rows: int | None, fn: Callable[..., Any], *args):
        """Call ``fn(*args)`` as one stage; return its value."""
        reset_peak()
        if self.jvm_pid:
            reset_peak(self.jvm_pid)
        with StageClock() as clock:
            value = fn(*args)
        self.add(Measurement(
            stage, clock.seconds, rows, peak_rss_mib(), self.jvm_peak(), clock.others_cores,
            {"ru_maxrss_mib": round(ru_maxrss_mib(), 1), "rss_after_mib": round(rss_mib(), 1),
             **self.jvm_rss(), "own_cpu_s": round(clock.own_cpu_s, 2)},
        ))
        return value

    @property
    def last(self) -> Measurement:
        return self.measurements[-1]

    def jvm_peak(self) -> float | None:
        return peak_rss_mib(self.jvm_pid) if self.jvm_pid else None

    def jvm_rss(self) -> dict[str, float]:
        if not self.jvm_pid:
            return {}
        try:
            return {"jvm_rss_after_mib": round(rss_mib(self.jvm_pid), 1)}
        except psutil.Error:
            return {}

    def total(self, stage: str, parts: list[Measurement], rows: int) -> Measurement:
        """A TOTAL row: sum of the parts' seconds, max of their peaks (nothing re-run)."""
        seconds = sum(p.seconds for p in parts)
        peaks = [p.peak_rss_mib for p in parts if p.peak_rss_mib is not None]
        jvm = [p.jvm_peak_rss_mib for p in parts if p.jvm_peak_rss_mib is not None]
        others = [(p.others_cores, p.seconds) for p in parts if p.others_cores is not None]
        others_cores = (round(sum(c * t for c, t in others) / seconds, 2)
                        if others and seconds else None)
        total = Measurement(stage, seconds, rows, max(peaks, default=None),
                            max(jvm, default=None), others_cores,
                            {"sum_of": [p.stage for p in parts]})
        return self.add(total)


def in_fresh_process(fn: Callable[..., dict], *args) -> dict:
    """Run ``fn(*args)`` in a new spawned interpreter, so its peak RSS is its own."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(fn, *args).result()


# -- subprocess bodies (module-level so that spawn can pickle them) -------------------------

def _child_result(clock: StageClock, rows: int, **extra) -> dict:
    # VmHWM, not ru_maxrss: Linux carries the parent's RSS at fork time into the ru_maxrss of
    # a spawned child (kept across exec), so ru_maxrss would report at least the driver's RSS.
    return {"seconds": clock.seconds, "rows": rows, "peak_rss_mib": peak_rss_mib(),
            "others_cores": clock.others_cores, "own_cpu_s": round(clock.own_cpu_s, 2),
            "ru_maxrss_mib": ru_maxrss_mib(), **extra}


def generate_xpt(xpt: str, staging: str, rows: int, chunksize: int) -> dict:
    """Generate the BRFSS frame and save it as XPORT v5 with the project's dataset."""
    from health_risk.datasets import SasXportDataset
    from health_risk.pipelines.sample_data.brfss_generator import generate_brfss_survey

    spec = load_yaml("sample_data_brfss_spec.yml")["brfss_survey_spec"]
    with StageClock() as clock:
        frame = generate_brfss_survey(rows, SEED, YEAR, spec)
        generated = time.perf_counter()
        SasXportDataset(filepath=xpt, staging_path=staging, chunksize=chunksize).save(frame)
        written = time.perf_counter()
    return _child_result(clock, len(frame), generate_seconds=clock.seconds - (written - generated),
                         write_seconds=written - generated, columns=frame.shape[1])


def pandas_full_read(xpt: str) -> dict:
    import pandas as pd

    rss_before = rss_mib()
    with StageClock() as clock:
        frame = pd.read_sas(xpt, format="xport")
    return _child_result(clock, len(frame), rss_before_read_mib=rss_before,
                         frame_mib=frame.memory_usage(deep=True).sum() / MIB)


def pyreadstat_full_read(xpt: str) -> dict:
    import pyreadstat

    rss_before = rss_mib()
    with StageClock() as clock:
        frame, _meta = pyreadstat.read_xport(xpt)
    return _child_result(clock, len(frame), rss_before_read_mib=rss_before,
                         frame_mib=frame.memory_usage(deep=True).sum() / MIB)


# -- driver-side stages ---------------------------------------------------------------------

def load_yaml(name: str) -> dict:
    return yaml.safe_load((PARAMETERS / name).read_text())


def brfss_ingestion() -> dict[str, Any]:
    """``brfss.ingestion`` as a run on conf/base sees it (the study's folder over the study
    defaults, its identity stamped), through the project's config loader."""
    from health_risk.framework.config_loader import CONFIG_LOADER_ARGS, StudyConfigLoader

    loader = StudyConfigLoader(str(ROOT / "conf"), env="base", **CONFIG_LOADER_ARGS)
    return loader["parameters"]["brfss"]["ingestion"]


def spark_settings(workdir: Path, extra: list[str] | None = None) -> dict[str, Any]:
    settings = {
        "spark.master": os.environ.get("SPARK_MASTER", "local[2]"),
        "spark.driver.memory": os.environ.get("SPARK_DRIVER_MEMORY", "4g"),
        "spark.sql.shuffle.partitions": 8,
        "spark.ui.enabled": False,
        "spark.ui.showConsoleProgress": False,
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.sql.session.timeZone": "UTC",
        "spark.local.dir": str(workdir / "spark-local"),
        "health_risk.log_level": "ERROR",
        "spark.sql.codegen.wholeStage": "false",  # as conf/base/spark.yml
    }
    for item in extra or []:  # --conf KEY=VALUE, to try a Spark setting against the default
        key, _, value = item.partition("=")
        settings[key] = value
    return settings


def start_spark(settings: dict[str, Any]):
    from health_risk.spark.session import build_spark_session

    spark = build_spark_session(settings, app_name="health-risk-bench")
    spark.range(1).count()  # first query: class loading and code generation warm-up
    return spark


def scan_all(df) -> None:
    """One action that reads and decodes every column of every row, writing nothing."""
    df.write.format("noop").mode("overwrite").save()


def write_parquet(df, path: Path) -> None:
    df.write.mode("overwrite").parquet(str(path))  # what spark.SparkDatasetV2 does on save


def staging_layout(staging: Path, raw, rows: int, chunksize: int) -> dict:
    """How the staging came out (measured after the timed call): with ``chunksize`` honoured
    there is one parquet part per chunk, and Spark reads one input partition per part."""
    layout = {"expected_parts": -(-rows // chunksize),
              "staging_parts": len(list((staging / "data").glob("*.parquet"))),
              "spark_input_partitions": raw.rdd.getNumPartitions()}
    print(f"    staging: {layout['staging_parts']} parquet part(s) for {rows:,} rows at chunksize "
          f"{chunksize:,} (expected {layout['expected_parts']}); Spark input partitions: "
          f"{layout['spark_input_partitions']}", flush=True)
    return layout


def bench_loads(rec: Recorder, xpt: Path, staging: Path, chunksize: int, rows: int):
    """Stages a and b; returns the DataFrame of the second load."""
    from health_risk.datasets import SasXportDataset

    def dataset():
        return SasXportDataset(filepath=str(xpt), staging_path=str(staging), chunksize=chunksize)

    first = len(rec.measurements)
    raw = rec.run("a. load(): XPT -> parquet staging", rows, dataset().load)
    rec.last.details.update(staging_layout(staging, raw, rows, chunksize))
    rec.run("a. full scan of staging (noop)", rows, scan_all, raw)
    rec.total("a. staged load TOTAL", rec.measurements[first:], rows)

    marker = staging / "_SOURCE.json"
    before = marker.stat().st_mtime_ns
    raw = rec.run("b. reload: load() reuses staging", rows, dataset().load)
    rec.last.details["staging_reused"] = marker.stat().st_mtime_ns == before
    rec.run("b. reload: full scan (noop)", rows, scan_all, raw)
    return raw


def bench_nodes(rec: Recorder, spark, raw, outdir: Path, rows: int) -> dict:
    """Stage c: the ingestion nodes in pipeline order, each with the save that follows it."""
    from health_risk.pipelines.ingestion import nodes

    params = brfss_ingestion()
    first = len(rec.measurements)
    normalised, audit = rec.run("c1 normalise_columns", rows, nodes.normalise_columns, raw, params)
    flagged = rec.run("c2 flag_invalid_rows (lazy, persist)", rows, nodes.flag_invalid_rows,
                      normalised, params)

    def quarantine_node():
        write_parquet(nodes.extract_quarantine(flagged, params), outdir / "quarantine")
        return spark.read.parquet(str(outdir / "quarantine"))

    quarantine = rec.run("c3 extract_quarantine + write", rows, quarantine_node)
    report = rec.run("c4 build_validation_report", rows, nodes.build_validation_report,
                     normalised, flagged, quarantine, audit, params)

    def publish_node():
        write_parquet(nodes.publish_validated_table(flagged, report, params),
                      outdir / "validated")

    rec.run("c5 publish_validated_table + write", rows, publish_node)
    rec.total("c. ingestion nodes TOTAL", rec.measurements[first:], rows)
    flagged.unpersist()
    (outdir / "validation_report.json").write_text(json.dumps(report, indent=2, default=str))
    return report


def run_spark_stages(rec: Recorder, workdir: Path, xpt: Path, chunksize: int,
                     rows: int, extra: list[str]) -> dict:
    settings = spark_settings(workdir, extra)
    spark = rec.run("spark session start", None, start_spark, settings)
    rec.jvm_pid = find_jvm_pid()
    try:
        raw = bench_loads(rec, xpt, workdir / "xpt-staging", chunksize, rows)
        report = bench_nodes(rec, spark, raw, workdir / "out", rows)
        return {"spark_version": spark.version, "spark_master": settings["spark.master"],
                "spark_driver_memory": settings["spark.driver.memory"], "extra_conf": extra,
                "report": report}
    finally:
        spark.stop()


def run_child(rec: Recorder, stage: str, fn: Callable[..., dict], *args) -> dict:
    print(f"  {stage} ...", flush=True)
    result = in_fresh_process(fn, *args)
    rec.add(Measurement(stage, result.pop("seconds"), result.pop("rows"),
                        result.pop("peak_rss_mib"), None, result.pop("others_cores"), result))
    return result


# -- reporting ------------------------------------------------------------------------------

def _fmt(value: float | None, spec: str) -> str:
    """``format(value, spec)``, or a dash padded to the same width when there is no value."""
    return format("-", spec[:3].rstrip(",.")) if value is None else format(value, spec)


def print_table(measurements: list[Measurement]) -> None:
    width = max(len(m.stage) for m in measurements)
    header = (f"{'stage':<{width}}  {'seconds':>8}  {'rows/s':>10}  {'peak RSS MiB':>12}"
              f"  {'JVM peak MiB':>12}  {'others CPU':>10}")
    print("\n" + header + "\n" + "-" * len(header))
    for m in measurements:
        print(f"{m.stage:<{width}}  {m.seconds:>8.2f}  {_fmt(m.rows_per_s, '>10,.0f')}  "
              f"{_fmt(m.peak_rss_mib, '>12,.0f')}  {_fmt(m.jvm_peak_rss_mib, '>12,.0f')}  "
              f"{_fmt(m.others_cores, '>10.2f')}")
    print(f"(others CPU: cores of {os.cpu_count()} kept busy by other processes meanwhile)")


def ratios(measurements: list[Measurement]) -> list[dict]:
    by_stage = {m.stage: m for m in measurements}
    staged = by_stage["a. staged load TOTAL"]
    out = []
    for m in measurements:
        if m.stage.startswith("baseline"):
            out.append({
                "baseline": m.stage,
                "staged_over_baseline_time": round(staged.seconds / m.seconds, 2),
                "staged_over_baseline_peak_rss": round(staged.peak_rss_mib / m.peak_rss_mib, 2)
                if staged.peak_rss_mib and m.peak_rss_mib else None,
            })
    return out


def print_ratios(items: list[dict]) -> None:
    print("\nstaged loader (stage a) vs baseline, same file, same run:")
    for item in items:
        print(f"  {item['baseline']}: time x{item['staged_over_baseline_time']:.2f}, "
              f"driver peak RSS x{item['staged_over_baseline_peak_rss']}")


def write_json(path: Path, meta: dict, measurements: list[Measurement], ratio_items) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [asdict(m) | {"rows_per_s": m.rows_per_s} for m in measurements]
    path.write_text(json.dumps({"meta": meta, "stages": rows, "ratios": ratio_items},
                               indent=2, default=str))
    print(f"\nwrote {path}")


# -- main -----------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=450_000, help="BRFSS rows to generate")
    parser.add_argument("--chunksize", type=int, default=50_000,
                        help="SasXportDataset chunksize (rows converted at a time)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="work folder (default: a fresh temp dir under /tmp)")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                        help="an extra Spark setting (repeatable)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temp work dir (a --workdir given is always kept)")
    return parser.parse_args(argv)


def machine() -> dict:
    return {"cpus": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(), "python": platform.python_version()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="health-risk-bench-", dir="/tmp"))
    workdir.mkdir(parents=True, exist_ok=True)
    xpt = workdir / "LLCP2023.XPT"
    rec = Recorder()
    print(f"bench: {args.rows:,} rows, chunksize {args.chunksize:,}, work dir {workdir}",
          flush=True)
    try:
        gen = run_child(rec, "generate + write XPORT (subprocess)", generate_xpt, str(xpt),
                        str(workdir / "xpt-staging"), args.rows, args.chunksize)
        size = xpt.stat().st_size
        print(f"  generated in {gen['generate_seconds']:.1f} s, XPORT written in "
              f"{gen['write_seconds']:.1f} s: {size / MIB:,.1f} MiB", flush=True)
        spark_meta = run_spark_stages(rec, workdir, xpt, args.chunksize, args.rows,
                                      args.conf)
        run_child(rec, "baseline pandas.read_sas (subprocess)", pandas_full_read, str(xpt))
        run_child(rec, "baseline pyreadstat.read_xport (subprocess)", pyreadstat_full_read,
                  str(xpt))
    finally:
        if args.workdir is None and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    report = spark_meta.pop("report")
    meta = {
        "rows": args.rows, "chunksize": args.chunksize, "xpt_bytes": size,
        "xpt_mib": round(size / MIB, 1), "peak_scope": rec.peak_scope,
        "date": time.strftime("%Y-%m-%d"), **spark_meta, **machine(),
        "report": {k: report[k] for k in ("rows_read", "rows_passed", "rows_quarantined",
                                          "quarantined_share")},
        "workdir": str(workdir) if (args.workdir or args.keep) else None,
    }
    print_table(rec.measurements)
    ratio_items = ratios(rec.measurements)
    print_ratios(ratio_items)
    print(f"\nXPORT file {size / MIB:,.1f} MiB; rows read {report['rows_read']:,}, passed "
          f"{report['rows_passed']:,}, quarantined {report['rows_quarantined']:,}; peak RSS "
          f"scope: {rec.peak_scope}")
    write_json(RESULTS / f"ingestion-{args.rows}.json", meta, rec.measurements, ratio_items)
    return 0


if __name__ == "__main__":
    sys.exit(main())
