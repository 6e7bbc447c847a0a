"""A class-data-sharing archive for the driver JVM: Spark's classes mapped from one file instead
of loaded and verified class by class at every start.

A classic session's JVM loads ~20,000 classes before and during its first queries. With the
JDK's dynamic class-data-sharing archive (JDK 13+) of them, measured on 2 cores
(docs/performance.md, "Fixed cost of a run"): the session starts in 2.4 s instead of 4.2 s, the
first queries of a run take 2.7 s instead of 4.5 s, and the JVM burns 9 s of CPU instead of
14.5 s over both. Nothing changes once classes are loaded: the JIT compilers and the heap are
the same.

``python -m health_risk.spark.record_archive`` (``make spark-archive``, which ``make run`` and
``make test`` run first) records the archive once per JDK and Spark installation: a JVM started
with ``-XX:ArchiveClassesAtExit`` runs one small query of each kind a run starts with
(``session.warm_up``) and writes the classes it loaded when it exits (~10 s, 190 MB, in
``$XDG_CACHE_HOME/health-risk/spark/``, else ``~/.cache/...``). Its name is a hash of the JDK
(the ``java`` Spark will start and its ``release`` file) and of Spark's jars, so another JDK or
Spark version simply finds no archive. A JVM mapping a truncated archive crashes, so the archive
is written under a temporary name and renamed only once its JVM has exited cleanly, and a
session that fails to start with it is started again without it, the archive removed.

``build_spark_session`` passes ``-XX:SharedArchiveFile`` (in ``spark.driver.defaultJavaOptions``,
so a configured ``spark.driver.extraJavaOptions`` still applies) when the archive exists and
``health_risk.class_archive`` (``spark.yml``, ``SPARK_CLASS_ARCHIVE``) is not false.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)

SETTING = "health_risk.class_archive"
JAVA_OPTIONS = "spark.driver.defaultJavaOptions"
# The JVM lists every class it cannot archive (signed jars, old class versions) as a warning.
QUIET = "-Xlog:cds*=off"
MINIMUM_JAVA = 13  # dynamic archives (-XX:ArchiveClassesAtExit)


def enabled(spark_conf: dict) -> bool:
    return str(spark_conf.get(SETTING, True)).strip().lower() not in ("false", "0", "no", "off")


def cache_folder() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "health-risk" / "spark"


def _java() -> Path | None:
    """The ``java`` Spark's launcher starts (``$JAVA_HOME/bin/java``, else the one on PATH)."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    return Path(found).resolve() if found and Path(found).exists() else None


def _java_release(java: Path) -> str | None:
    """The JDK's ``release`` file, when its ``JAVA_VERSION`` is one that writes dynamic
    archives."""
    release = java.parent.parent / "release"
    if not release.is_file():
        return None
    text = release.read_text(errors="replace")
    for line in text.splitlines():
        if line.startswith("JAVA_VERSION="):
            version = line.split("=", 1)[1].strip().strip('"')
            major = version.split(".")[0]
            if major.isdigit() and int(major) >= MINIMUM_JAVA:
                return text
    return None


def _spark_jars() -> list[str]:
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    return sorted(f"{p.name}:{p.stat().st_size}" for p in jars.glob("*.jar")) if jars.is_dir() \
        else []


def archive_path() -> Path | None:
    """Where the archive of this JDK and Spark installation is (or would be); None when the JDK
    cannot write one."""
    java = _java()
    release = _java_release(java) if java else None
    if release is None:
        return None
    digest = hashlib.sha256("\n".join([str(java), release, *_spark_jars()]).encode())
    return cache_folder() / f"{digest.hexdigest()[:20]}.jsa"


def java_options(spark_conf: dict) -> str | None:
    """The driver's JVM options that map the archive, or None (none recorded, or disabled)."""
    if not enabled(spark_conf):
        return None
    path = archive_path()
    if path is None or not path.is_file():
        return None
    return f"-XX:SharedArchiveFile={path} {QUIET}"


def with_archive(spark_conf: dict, options: str) -> dict:
    """``spark_conf`` whose driver JVM also gets ``options`` (after any configured defaults)."""
    existing = str(spark_conf.get(JAVA_OPTIONS) or "").strip()
    return {**spark_conf, JAVA_OPTIONS: f"{existing} {options}".strip()}


def discard(reason: BaseException) -> None:
    """Remove the archive a JVM could not start with (the next record writes a new one)."""
    path = archive_path()
    logger.warning("The Spark class archive %s stopped the JVM from starting (%s): removed, "
                   "started without it; `make spark-archive` records it again", path, reason)
    if path is not None:
        path.unlink(missing_ok=True)
