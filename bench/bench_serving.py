"""Serving latency: the portable ``python_function`` flavour against the Spark flavour.

Usage::

    python bench/bench_serving.py [--project DIR] [--env ENV] [--studies brfss,stroke]

The claim under test (issue 23 item 6): `make serve` answers a single raw record in at most
10 ms (p50, 2 cores) and at least 20 times faster than serving the same model version's Spark
flavour would. For each study, in one run, the script serves the registered ``champion``
twice, each with MLflow's own server (``mlflow models serve``, one worker, loopback):

* **portable**: exactly what `make serve` runs (``python -m health_risk.framework.serve``),
  fed raw records in the study's raw format, the first valid rows of its raw file;
* **spark**: the same version's Spark ``PipelineModel`` re-saved alone with
  ``mlflow.spark.save_model``, whose ``python_function`` flavour is ``mlflow.spark`` (a local
  SparkSession in the server), fed complete rows of the published feature table (the columns
  the pipeline reads), for the same people where the table has them.

Per server: cold start (launch -> first ``/ping`` 200, launch -> first scored request);
sequential single-record requests over one keep-alive connection; concurrent clients, each on
its own connection; 1,000-record requests (rows/s); and whether a JVM runs in the server's
process group. The Spark server gets fewer requests per phase (``--spark-*`` flags): it
answers in the order of a second. Ratios spark / portable are taken within the run, each
server alone on the machine (the script first waits, up to ``--max-wait`` s, while other
processes keep more than half a core busy, and records what they used). Results go to
``bench/results/serving.json`` and ``bench/results/serving.md``.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import multiprocessing
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil

RESULTS = Path(__file__).resolve().parent / "results"
BIN = Path(sys.executable).parent
READY_TIMEOUT = 300.0  # seconds a server may take to answer /ping (a JVM start included)
REQUEST_TIMEOUT = 300.0
# Raw rows read per study before the contract filters them: enough for one 1,000-record
# request of valid records even when a few are refused.
CANDIDATE_ROWS = 1500


# --------------------------------------------------------------------------- configuration

@dataclass
class Counts:
    """Requests per phase for one server. The Spark flavour gets fewer: at about a second a
    request, 2,000 sequential plus 2,000 concurrent ones would take over an hour per study,
    and its percentiles are already stable at a few hundred."""

    warmup: int
    sequential: int
    per_client: int
    batches: int


@dataclass
class Settings:
    """What one run measures (command-line flags)."""

    project: Path
    env: str | None
    studies: list[str]
    clients: int
    batch_size: int
    batch_warmup: int
    max_wait: float
    counts: dict[str, Counts]


def parse_args(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path.cwd())
    parser.add_argument("--env", default=None, help="Kedro environment (KEDRO_ENV); base if none")
    parser.add_argument("--studies", default="brfss,stroke")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--batch-warmup", type=int, default=2)
    parser.add_argument("--max-wait", type=float, default=600.0,
                        help="seconds to wait for other processes to go quiet before a server")
    for server, default in (("portable", Counts(50, 2000, 250, 20)),
                            ("spark", Counts(20, 200, 25, 5))):
        for name, value in vars(default).items():
            parser.add_argument(f"--{server}-{name.replace('_', '-')}", type=int, default=value)
    args = vars(parser.parse_args(argv))
    counts = {server: Counts(*(args[f"{server}_{n}"] for n in ("warmup", "sequential",
                                                               "per_client", "batches")))
              for server in ("portable", "spark")}
    return Settings(args["project"].resolve(), args["env"], args["studies"].split(","),
                    args["clients"], args["batch_size"], args["batch_warmup"], args["max_wait"],
                    counts)


def _loader(settings: Settings):
    from health_risk.framework.config_loader import CONFIG_LOADER_ARGS, StudyConfigLoader

    return StudyConfigLoader(conf_source=str(settings.project / "conf"), env=settings.env,
                             **CONFIG_LOADER_ARGS)


# --------------------------------------------------------------------------- servers

@dataclass
class Server:
    """A server process in a session of its own: ``mlflow models serve`` leaves its uvicorn
    child alive when only the parent is signalled, so the whole group is stopped."""

    name: str
    port: int
    process: subprocess.Popen
    launched: float
    log: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch(name: str, command: list[str], cwd: Path, env: dict[str, str], port: int,
           log: Path) -> Server:
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    return Server(name, port, process, time.perf_counter(), log)


def stop(server: Server) -> None:
    try:
        os.killpg(server.process.pid, signal.SIGTERM)
        server.process.wait(timeout=30)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=30)


def wait_ready(server: Server) -> float:
    """Seconds from launch to the first ``/ping`` 200 (polled every 50 ms)."""
    deadline = server.launched + READY_TIMEOUT
    while time.perf_counter() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} server exited: {server.log.read_text()[-3000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                return time.perf_counter() - server.launched
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{server.name} server not ready in {READY_TIMEOUT:.0f} s")


def java_in_group(pgid: int) -> list[int]:
    """Pids of the group's processes that run a JVM (``java`` is what spark-submit execs)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            executable = (stat.parent / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if int(fields[2]) == pgid and os.path.basename(executable) == b"java":
            found.append(int(stat.parent.name))
    return found


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


def _busy_seconds() -> float:
    """Machine-wide CPU seconds not idle (all cores)."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


class CpuWindow:
    """Cores the rest of the machine kept busy during a phase: machine-wide busy CPU minus
    this process's and the server's process tree's. The machine is shared; a latency taken
    while others held the cores says so beside it."""

    def __init__(self, server_pid: int | None = None) -> None:
        self.server_pid = server_pid
        self._start = self._sample()

    def _sample(self) -> tuple[float, float, float]:
        own = [psutil.Process(), *(_tree(self.server_pid) if self.server_pid else [])]
        return time.perf_counter(), _busy_seconds(), _cpu_seconds(own)

    def stop(self) -> dict[str, float]:
        wall, busy, own = (b - a for a, b in zip(self._start, self._sample(), strict=True))
        return {"own_cores": round(own / wall, 2),
                "others_cores": round(max(busy - own, 0.0) / wall, 2)}


def wait_quiet(max_wait: float, threshold: float = 0.5, window: float = 5.0
               ) -> dict[str, float]:
    """Before a server starts: wait (up to ``max_wait`` s) while other processes keep more
    than ``threshold`` cores busy, so the two servers are measured on a comparable machine;
    what was left is recorded either way."""
    began = time.perf_counter()
    while True:
        probe = CpuWindow()
        time.sleep(window)
        others = probe.stop()["others_cores"]
        waited = time.perf_counter() - began
        if others <= threshold or waited >= max_wait:
            return {"waited_s": round(waited, 1), "others_cores_before": others}
        print(f"    others use {others:.2f} cores; waiting ({waited:.0f} s so far)", flush=True)
        time.sleep(20)


def tree_rss_mib(pid: int) -> float:
    """Resident memory of the server and everything it started (JVM included)."""
    total = 0
    for process in _tree(pid):
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return round(total / 2**20, 1)


# --------------------------------------------------------------------------- requests

class Client:
    """One keep-alive HTTP connection; ``post`` times the request up to the last byte of the
    answer (the JSON is parsed after the clock stops: client-side parsing is not serving)."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port,
                                                     timeout=REQUEST_TIMEOUT)

    def post(self, body: bytes) -> tuple[int, bytes, float]:
        started = time.perf_counter()
        self.connection.request("POST", "/invocations", body,
                                {"Content-Type": "application/json"})
        response = self.connection.getresponse()
        payload = response.read()
        return response.status, payload, time.perf_counter() - started

    def close(self) -> None:
        self.connection.close()


def encode(records: list[dict[str, Any]]) -> bytes:
    return json.dumps({"dataframe_records": records}).encode()


def answered(status: int, payload: bytes, rows: int) -> bool:
    """A request counts only if it was scored whole: 200 and one prediction per record."""
    if status != 200:
        return False
    predictions = json.loads(payload).get("predictions")
    return predictions is not None and len(predictions) == rows


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(ms.mean()),
            "max_ms": float(ms.max())}


# --------------------------------------------------------------------------- inputs

def _no_nan(record: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN: a missing value is null, as a client would send it."""
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in record.items()}


def raw_records(settings: Settings, study: str, rows: int) -> list[dict[str, Any]]:
    """The first rows of the study's raw file as a client sends them: CSV values as text,
    XPT values as numbers (and text for its character variables), missing as null."""
    source = settings.project / _loader(settings)["catalog"][f"{study}.raw_source@spark"][
        "filepath"]
    if source.suffix.lower() == ".xpt":
        reader = pd.read_sas(source, format="xport", chunksize=rows, encoding="utf-8")
        with reader:
            frame = next(iter(reader))
        return [_no_nan(r) for r in frame.to_dict("records")]
    with open(source, newline="", encoding="utf-8") as handle:
        table = csv.reader(handle)
        header = next(table)
        return [dict(zip(header, row, strict=True)) for row in table
                if len(row) == len(header)][:rows]


def record_ids(settings: Settings, study: str, records: list[dict[str, Any]]) -> list[str]:
    """Each record's row id as feature engineering builds it (id columns joined with '-'),
    so the Spark flavour can be fed the same people's feature rows."""
    spec = _loader(settings)["parameters"][study]["feature_engineering"]["id_column"]
    columns = spec if isinstance(spec, list) else [spec]
    ids = []
    for number, record in enumerate(records):
        lowered = {k.strip().lower(): v for k, v in record.items()}
        parts = [number if c == "_source_row" else lowered.get(c) for c in columns]
        ids.append("-".join(str(int(p)) if isinstance(p, float) else str(p).strip()
                            for p in parts))
    return ids


def valid_raw_records(server: Server, records: list[dict[str, Any]], needed: int
                      ) -> tuple[list[dict[str, Any]], list[int]]:
    """The records the served contract accepts, in file order, and the refused positions:
    one request of all candidates, whose 400 answer names every refused record."""
    client = Client(server.port)
    try:
        status, payload, _ = client.post(encode(records))
    finally:
        client.close()
    answer = json.loads(payload)
    if status not in (200, 400) or (status == 400 and "errors" not in answer):
        raise RuntimeError(f"{server.name}: screening request failed ({status}): "
                           f"{answer.get('message', '')[:500]}")
    refused = sorted({e["record"] for e in answer.get("errors", [])})
    refused_set = set(refused)
    kept = [r for i, r in enumerate(records) if i not in refused_set]
    if len(kept) < needed:
        raise RuntimeError(f"only {len(kept)} valid raw records of {len(records)}")
    return kept[:needed], refused


def feature_rows(settings: Settings, study: str, columns: list[str], ids: list[str]
                 ) -> tuple[list[dict[str, Any]], int]:
    """The published feature table's rows (only the columns the Spark pipeline reads) for
    the given people, in their order, complete rows only; people the table lacks (refused at
    ingestion, no label) or with a missing feature are replaced by the table's other
    complete rows. Returns (rows, how many are the same people).

    Complete rows only: ``mlflow.spark``'s pyfunc builds the Spark frame by type inference,
    so a single record with a null feature becomes a ``void`` column that the Imputer and
    StringIndexer refuse (HTTP 400)."""
    from health_risk.datasets.publication import published_path

    catalog = _loader(settings)["catalog"]["{study}.features"]
    pointer = settings.project / catalog["publication"]["filepath"].replace("{study}", study)
    folder = settings.project / catalog["dataset"]["filepath"].replace("{study}", study)
    table = pd.read_parquet(published_path(str(pointer), "features", str(folder)))
    table = table.drop_duplicates("id").set_index("id")
    table = table[table[columns].notna().all(axis=1)]
    matched = [i for i in ids if i in table.index]
    taken = set(matched)
    others = [i for i in table.index if i not in taken][:len(ids) - len(matched)]
    chosen = table.loc[[*matched, *others], columns]
    return [_no_nan(r) for r in chosen.to_dict("records")], len(matched)


# --------------------------------------------------------------------------- spark flavour

def export_spark_flavour(project: str, store: str, name: str, destination: str,
                         columns_file: str) -> None:
    """In a child process (the bench process itself stays JVM-free): the champion's Spark
    PipelineModel saved alone, so its ``python_function`` flavour is ``mlflow.spark``; and
    the input columns its stages read, written to ``columns_file``."""
    import mlflow
    import mlflow.spark
    from mlflow import MlflowClient
    from pyspark.sql import SparkSession

    os.chdir(project)
    spark = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.host", "127.0.0.1").getOrCreate())
    version = MlflowClient(tracking_uri=store, registry_uri=store).get_model_version_by_alias(
        name, "champion")
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    model = mlflow.spark.load_model(f"models:/{name}/{version.version}")
    mlflow.spark.save_model(model, destination)
    Path(columns_file).write_text(json.dumps({"version": str(version.version),
                                                "columns": pipeline_inputs(model)}))
    spark.stop()


def _param_columns(stage, param: str) -> list[str]:
    if not (stage.hasParam(param) and stage.isDefined(param)):
        return []
    value = stage.getOrDefault(param)
    return value if isinstance(value, list) else [value]


def pipeline_inputs(model) -> list[str]:
    """The columns a PipelineModel reads from its input: every stage's input columns that no
    earlier stage produced (the feature table's numeric and categorical features)."""
    produced, read = set(), []
    for stage in model.stages:
        inputs = (_param_columns(stage, "inputCols") or _param_columns(stage, "inputCol")
                  or _param_columns(stage, "featuresCol"))
        read += [c for c in inputs if c not in produced and c not in read]
        for param in ("outputCols", "outputCol", "predictionCol", "probabilityCol",
                      "rawPredictionCol"):
            produced.update(_param_columns(stage, param))
    return read


def spark_flavour(project: Path, store: str, name: str, workdir: Path) -> tuple[Path, str,
                                                                                 list[str]]:
    """(the re-saved model folder, its version, the feature columns it reads)."""
    destination, columns_file = workdir / f"{name}-spark", workdir / f"{name}-columns.json"
    child = multiprocessing.get_context("spawn").Process(
        target=export_spark_flavour,
        args=(str(project), store, name, str(destination), str(columns_file)))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"exporting the Spark flavour of {name} failed ({child.exitcode})")
    exported = json.loads(columns_file.read_text())
    return destination, exported["version"], exported["columns"]


# --------------------------------------------------------------------------- measurement

def cold_start(server: Server, first: bytes, rows: int) -> dict[str, float]:
    """Launch -> /ping 200, and launch -> the first request scored (model load, JIT, a
    Spark session's first job: what a restarted server's first caller waits)."""
    ready = wait_ready(server)
    client = Client(server.port)
    try:
        status, payload, _ = client.post(first)
    finally:
        client.close()
    if not answered(status, payload, rows):
        raise RuntimeError(f"{server.name}: first request failed ({status}): {payload[:500]!r}")
    return {"ping_s": ready, "first_scored_s": time.perf_counter() - server.launched}


def sequential(server: Server, bodies: list[bytes], count: int, warmup: int) -> dict[str, Any]:
    """Single-record requests one after another over one keep-alive connection."""
    client, seconds, failed = Client(server.port), [], 0
    try:
        for i in range(warmup):
            client.post(bodies[i % len(bodies)])
        cpu = CpuWindow(server.process.pid)
        for i in range(count):
            status, payload, elapsed = client.post(bodies[i % len(bodies)])
            seconds.append(elapsed)
            failed += not answered(status, payload, 1)
    finally:
        client.close()
    return {"requests": count, "warmup": warmup, "failed": failed, **percentiles(seconds),
            **cpu.stop()}


def concurrent(server: Server, bodies: list[bytes], clients: int, each: int) -> dict[str, Any]:
    """``clients`` threads, each on its own connection, each sending ``each`` single-record
    requests as fast as answers come; requests/s over the whole phase's wall time."""
    seconds: list[list[float]] = [[] for _ in range(clients)]
    failures = [0] * clients
    start = threading.Barrier(clients + 1)

    def run(n: int) -> None:
        client = Client(server.port)
        try:
            start.wait()
            for i in range(each):
                status, payload, elapsed = client.post(bodies[(n * each + i) % len(bodies)])
                seconds[n].append(elapsed)
                failures[n] += not answered(status, payload, 1)
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began, cpu = time.perf_counter(), CpuWindow(server.process.pid)
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    flat = [s for per in seconds for s in per]
    return {"clients": clients, "requests": len(flat), "failed": sum(failures),
            "wall_s": wall, "requests_per_s": len(flat) / wall, **percentiles(flat),
            **cpu.stop()}


def batches(server: Server, body: bytes, rows: int, count: int, warmup: int
            ) -> dict[str, Any]:
    """Requests of ``rows`` records each: throughput of the scorer itself."""
    client, seconds, failed = Client(server.port), [], 0
    try:
        for _ in range(warmup):
            client.post(body)
        cpu = CpuWindow(server.process.pid)
        for _ in range(count):
            status, payload, elapsed = client.post(body)
            seconds.append(elapsed)
            failed += not answered(status, payload, rows)
    finally:
        client.close()
    return {"rows_per_request": rows, "requests": count, "warmup": warmup, "failed": failed,
            "rows_per_s": rows * count / sum(seconds), **percentiles(seconds), **cpu.stop()}


def measure(server: Server, records: list[dict[str, Any]], settings: Settings,
            quiet: dict[str, float]) -> dict[str, Any]:
    """Every phase against one running server, in order; the server is stopped after."""
    counts = settings.counts[server.name]
    singles = [encode([r]) for r in records]
    batch = encode([records[i % len(records)] for i in range(settings.batch_size)])
    try:
        result: dict[str, Any] = {"machine_before": quiet,
                                  "cold_start": cold_start(server, singles[0], 1)}
        result["jvm_pids"] = java_in_group(server.process.pid)
        result["jvm"] = bool(result["jvm_pids"])
        result["sequential"] = sequential(server, singles, counts.sequential, counts.warmup)
        result["concurrent"] = concurrent(server, singles, settings.clients, counts.per_client)
        result["batch"] = batches(server, batch, settings.batch_size, counts.batches,
                                  settings.batch_warmup)
        result["rss_mib_after"] = tree_rss_mib(server.process.pid)
        print(f"  {server.name}: p50 {result['sequential']['p50_ms']:.2f} ms, "
              f"{result['batch']['rows_per_s']:.0f} rows/s, jvm={result['jvm']}", flush=True)
        return result
    finally:
        stop(server)


def launch_portable(settings: Settings, study: str, env: dict[str, str], workdir: Path
                    ) -> Server:
    """Exactly what `make serve STUDY=<study>` runs."""
    port = free_port()
    return launch("portable", [sys.executable, "-m", "health_risk.framework.serve", study,
                               "--port", str(port)], settings.project, env, port,
                  workdir / f"{study}-portable.log")


def bench_study(settings: Settings, study: str, workdir: Path) -> dict[str, Any]:
    """Portable then Spark, each served alone (two servers at once would share the cores)."""
    from health_risk.framework.serve import serve_command

    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    if settings.env:
        env["KEDRO_ENV"] = settings.env
    _, served_env = serve_command(settings.project, study, 0, settings.env)
    store = served_env["MLFLOW_TRACKING_URI"]
    name = _registered_name(settings, study)

    portable = launch_portable(settings, study, env, workdir)
    try:
        wait_ready(portable)
        candidates = raw_records(settings, study, CANDIDATE_ROWS)
        records, refused = valid_raw_records(portable, candidates, settings.batch_size)
    except BaseException:
        stop(portable)
        raise
    # The screening request warmed this server: measure a fresh one.
    stop(portable)
    print(f"{study}: portable server (v{served_env['HEALTH_RISK_MODEL_VERSION']})", flush=True)
    quiet = wait_quiet(settings.max_wait)
    portable = launch_portable(settings, study, env, workdir)
    portable_result = measure(portable, records, settings, quiet)

    folder, version, columns = spark_flavour(settings.project, store, name, workdir)
    if version != served_env["HEALTH_RISK_MODEL_VERSION"]:
        raise RuntimeError(f"the champion moved during the run ({version})")
    rows, matched = feature_rows(settings, study, columns, record_ids(settings, study,
                                                                      records))
    print(f"{study}: spark server (v{version})", flush=True)
    quiet = wait_quiet(settings.max_wait)
    port = free_port()
    spark = launch("spark", [sys.executable, "-m", "mlflow", "models", "serve", "-m",
                             str(folder), "--env-manager", "local", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "1"],
                   settings.project, env, port, workdir / f"{study}-spark.log")
    spark_result = measure(spark, rows, settings, quiet)
    return {
        "model": f"{name}/{version}",
        "inputs": {"raw_candidates": len(candidates), "raw_refused": len(refused),
                   "raw_records": len(records), "feature_columns": columns,
                   "feature_rows_same_people": matched, "feature_rows": len(rows)},
        "portable": portable_result, "spark": spark_result,
        "ratios_spark_over_portable": ratios(portable_result, spark_result),
    }


def _registered_name(settings: Settings, study: str) -> str:
    from health_risk.core.modeling_config import ModelingConfig

    block = _loader(settings)["parameters"][study]["modeling"]
    return ModelingConfig.model_validate(block).registered_model_name


def ratios(portable: dict[str, Any], spark: dict[str, Any]) -> dict[str, float]:
    """Latency ratios > 1 and throughput ratios < 1 both mean the portable server wins."""
    return {
        "sequential_p50": spark["sequential"]["p50_ms"] / portable["sequential"]["p50_ms"],
        "sequential_p99": spark["sequential"]["p99_ms"] / portable["sequential"]["p99_ms"],
        "concurrent_p50": spark["concurrent"]["p50_ms"] / portable["concurrent"]["p50_ms"],
        "concurrent_requests_per_s": (spark["concurrent"]["requests_per_s"]
                                      / portable["concurrent"]["requests_per_s"]),
        "batch_rows_per_s": spark["batch"]["rows_per_s"] / portable["batch"]["rows_per_s"],
        "first_scored_s": (spark["cold_start"]["first_scored_s"]
                           / portable["cold_start"]["first_scored_s"]),
    }


# --------------------------------------------------------------------------- reporting

def _version(*names: str) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _java_version() -> str | None:
    try:
        done = subprocess.run(["java", "-version"], capture_output=True, text=True,
                              timeout=30, check=False)
    except OSError:
        return None
    return done.stderr.splitlines()[0] if done.stderr else None


def machine() -> dict[str, Any]:
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "0")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "cores": os.cpu_count(),
        "memory_gib": round(int(memory) / 2**20, 1), "python": platform.python_version(),
        "platform": platform.platform(), "java": _java_version(),
        "versions": {p: _version(*n) for p, n in {
            "mlflow": ("mlflow",), "onnxruntime": ("onnxruntime",),
            "xgboost": ("xgboost", "xgboost-cpu"), "pyspark": ("pyspark",),
            "uvicorn": ("uvicorn",), "pandas": ("pandas",), "numpy": ("numpy",)}.items()},
        "load_average_start": os.getloadavg(),
    }


# (label, where the figure is in a server's result, format, ratio key or None)
TABLE = [
    ("cold start: launch -> /ping 200 (s)", ("cold_start", "ping_s"), ".1f", None),
    ("cold start: launch -> first scored (s)", ("cold_start", "first_scored_s"), ".1f",
     "first_scored_s"),
    ("JVM in the server's process group", ("jvm",), "", None),
    ("server RSS after the run (MiB)", ("rss_mib_after",), ".0f", None),
    ("sequential, 1 record: p50 (ms)", ("sequential", "p50_ms"), ".2f", "sequential_p50"),
    ("sequential, 1 record: p95 (ms)", ("sequential", "p95_ms"), ".2f", None),
    ("sequential, 1 record: p99 (ms)", ("sequential", "p99_ms"), ".2f", "sequential_p99"),
    ("sequential: others' cores", ("sequential", "others_cores"), ".2f", None),
    ("concurrent clients, 1 record: p50 (ms)", ("concurrent", "p50_ms"), ".2f",
     "concurrent_p50"),
    ("concurrent clients, 1 record: p95 (ms)", ("concurrent", "p95_ms"), ".2f", None),
    ("concurrent clients, 1 record: p99 (ms)", ("concurrent", "p99_ms"), ".2f", None),
    ("concurrent clients: requests/s", ("concurrent", "requests_per_s"), ".1f",
     "concurrent_requests_per_s"),
    ("concurrent: others' cores", ("concurrent", "others_cores"), ".2f", None),
    ("batch requests: p50 (ms)", ("batch", "p50_ms"), ".0f", None),
    ("batch requests: rows/s", ("batch", "rows_per_s"), ".0f", "batch_rows_per_s"),
    ("batch: others' cores", ("batch", "others_cores"), ".2f", None),
]


def _cell(result: dict[str, Any], path: tuple[str, ...], fmt: str) -> str:
    value: Any = result
    for key in path:
        value = value[key]
    return f"{value:{fmt}}" if fmt else str(value).lower()


def _counts(result: dict[str, Any]) -> str:
    return (f"{result['sequential']['requests']} / {result['concurrent']['clients']} x "
            f"{result['concurrent']['requests'] // result['concurrent']['clients']} / "
            f"{result['batch']['requests']} x {result['batch']['rows_per_request']}")


def study_table(study: str, res: dict[str, Any]) -> list[str]:
    portable, spark, ratio = res["portable"], res["spark"], res["ratios_spark_over_portable"]
    counts = (f"| requests: sequential / concurrent / batch | {_counts(portable)} | "
              f"{_counts(spark)} | |")
    lines = [f"## {study} ({res['model']})", "",
             "| | portable | spark | spark / portable |", "|---|---:|---:|---:|", counts]
    for label, path, fmt, key in TABLE:
        lines.append(f"| {label} | {_cell(portable, path, fmt)} | {_cell(spark, path, fmt)} | "
                     f"{'' if key is None else f'{ratio[key]:.2f}'} |")
    failed = sum(res[server][phase]["failed"] for server in ("portable", "spark")
                 for phase in ("sequential", "concurrent", "batch"))
    inputs = res["inputs"]
    note = (f"Inputs: portable {inputs['raw_records']} raw records, the first valid rows of "
            f"the raw file ({inputs['raw_refused']} of the first {inputs['raw_candidates']} "
            f"refused by the contract); spark {inputs['feature_rows']} complete rows of the "
            f"published feature table, {inputs['feature_rows_same_people']} of them the same "
            f"people. Failed requests: {failed}.")
    return [*lines, "", note, ""]


def verdicts(results: dict[str, Any]) -> list[str]:
    lines = []
    for study, res in results["studies"].items():
        p50 = res["portable"]["sequential"]["p50_ms"]
        speedup = res["ratios_spark_over_portable"]["sequential_p50"]
        lines.append(f"- {study}: portable p50 {p50:.2f} ms (target <= 10 ms: "
                     f"{'met' if p50 <= 10 else 'NOT met'}); spark / portable p50 "
                     f"{speedup:.1f}x (target >= 20x: {'met' if speedup >= 20 else 'NOT met'})")
    return lines


def render(results: dict[str, Any]) -> str:
    info = results["machine"]
    header = (f"{info['date']}, {info['cores']} cores, {info['memory_gib']} GiB, Python "
              f"{info['python']}, mlflow {info['versions']['mlflow']}, onnxruntime "
              f"{info['versions']['onnxruntime']}, xgboost {info['versions']['xgboost']}, "
              f"pyspark {info['versions']['pyspark']}. Command: `{results['command']}` "
              f"({results['seconds']:.0f} s).")
    how = ("Latencies measured by the client (request sent -> whole answer read) over "
           "loopback, one server worker; batch requests of "
           f"{results['settings']['batch_size']} records; \"others' cores\": cores other "
           "processes on the machine kept busy during the phase.")
    lines = ["# Serving benchmark (`bench/bench_serving.py`)", "", header, "", how, ""]
    for study, res in results["studies"].items():
        lines += study_table(study, res)
    return "\n".join([*lines, *verdicts(results)]) + "\n"


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    os.chdir(settings.project)  # the MLflow store in mlflow.yml is relative to the project
    began = time.perf_counter()
    results: dict[str, Any] = {
        "command": " ".join(["python", "bench/bench_serving.py", *(argv or sys.argv[1:])]),
        "machine": machine(),
        "settings": {**asdict(settings), "project": str(settings.project)},
        "studies": {}}
    with tempfile.TemporaryDirectory(prefix="health-risk-serving-") as workdir:
        for study in settings.studies:
            results["studies"][study] = bench_study(settings, study, Path(workdir))
    results["seconds"] = time.perf_counter() - began
    results["machine"]["load_average_end"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "serving.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "serving.md").write_text(render(results))
    print(render(results))


if __name__ == "__main__":
    main()
