"""``python -m health_risk.spark.record_archive`` (``make spark-archive``): record the driver
JVM's class archive once per JDK and Spark installation (``spark.class_archive`` says what it is
and how a session uses it). In a process of its own: the JVM must exit to write the archive."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from health_risk.spark.class_archive import QUIET, SETTING, archive_path, with_archive
from health_risk.spark.session import build_spark_session, warm_up


def record(spark_conf: dict | None = None) -> Path | None:
    """Record the archive (``spark.class_archive``) unless it exists; its path, or None when
    the JDK cannot write one. Runs in a process of its own: the JVM it starts must exit to write
    the archive."""
    from pyspark import SparkContext

    path = archive_path()
    if path is None:
        print("Spark class archive: the JDK cannot write one (JDK 13+ needed): skipped")
        return None
    if path.is_file():
        print(f"Spark class archive: {path} (present)")
        return path
    if SparkContext._gateway is not None:  # a JVM already runs in this process
        raise RuntimeError("record() needs a process that has not started a JVM yet")
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(path.parent)
    part = path.with_name(f"{path.stem}.{os.getpid()}.part")
    started = time.perf_counter()
    conf = with_archive({**(spark_conf or {}), SETTING: False},
                        f"-XX:ArchiveClassesAtExit={part} {QUIET}")
    session = build_spark_session({"spark.master": "local[*]", "spark.ui.enabled": "false",
                                   "spark.ui.showConsoleProgress": "false",
                                   **conf})
    warm_up(session)
    session.stop()
    process = SparkContext._gateway.proc  # the launched JVM (pyspark keeps its Popen)
    process.stdin.close()  # the gateway exits on end of input: the JVM then writes the archive
    if process.wait(timeout=600) != 0 or not part.is_file() or part.stat().st_size == 0:
        part.unlink(missing_ok=True)
        raise RuntimeError(f"the JVM exited with {process.returncode} before writing {part}")
    os.replace(part, path)
    print(f"Spark class archive: {path} recorded in {time.perf_counter() - started:.0f} s "
          f"({path.stat().st_size / 2**20:.0f} MiB)")
    return path


def _remove_stale_parts(folder: Path, older_than: float = 3600.0) -> None:
    """Parts a recording process left behind (killed before its JVM finished writing)."""
    for part in folder.glob("*.part"):
        if time.time() - part.stat().st_mtime > older_than:
            part.unlink(missing_ok=True)


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    try:
        record()
    except Exception as error:  # noqa: BLE001 - the runs work without it, only slower
        print(f"Spark class archive not recorded: {error}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
