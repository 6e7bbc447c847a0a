"""One run per study at a time: a per-study lock file under the data root.

Two runs of one study started together overwrite each other's datasets (one overwrites
``<study>.model_input`` while the other's Spark job reads it, and the reader dies with
``FILE_NOT_EXIST``). So a run takes, for every study its nodes write, an exclusive
``flock`` on ``<data_root>/.locks/<study>.lock`` before anything starts, and a second run is
refused at its start with a ``StudyBusyError`` naming the run that holds the lock.

- ``flock`` is held by an open file and released by the kernel when the process ends however it
  ends (``kill -9`` included), so a dead run never leaves a stale lock. What the file contains
  (the holder: pid, host, start time, command, pipelines) is information for the message only;
  the lock is the ``flock``, not the file's existence. The file is emptied when the lock is
  released normally, and left in place (removing a lock file another process may be opening
  would let two runs lock two different files).
- Locks are taken in study-name order and all or none: when one study is busy, those already
  taken are released before the error is raised.
- The folder follows ``globals:data_root`` (``HEALTH_RISK_DATA_ROOT``): a relative root is
  relative to the project, as the catalog's paths are, and ``file://`` is a local path. A remote
  root (``s3a://``, ``hdfs://``, ...) cannot be ``flock``-ed: the locks then live in the
  project's local ``data/.locks/`` and guard the runs started from this project folder only.
- Where the file system refuses ``flock`` (some network mounts), the run goes on unguarded with a
  warning rather than failing every run.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shlex
import socket
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from health_risk.core.errors import StudyBusyError

logger = logging.getLogger(__name__)

LOCK_FOLDER = ".locks"
DEFAULT_DATA_ROOT = "data"


def lock_folder(data_root: str | None, project_path: str | Path) -> Path:
    """Where the study locks live for the data root ``data_root`` (``globals:data_root``) of the
    project at ``project_path``: ``<data_root>/.locks``."""
    root = str(data_root or DEFAULT_DATA_ROOT)
    parsed = urlparse(root)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path)) / LOCK_FOLDER
    if parsed.scheme:
        local = Path(project_path) / DEFAULT_DATA_ROOT / LOCK_FOLDER
        logger.info("Data root %s is not a local folder: study locks live in %s and guard the "
                    "runs started from this project folder only", root, local)
        return local
    path = Path(root).expanduser()
    return (path if path.is_absolute() else Path(project_path) / path) / LOCK_FOLDER


def run_studies(nodes: Iterable[Any]) -> list[str]:
    """The studies whose nodes are about to run: the first component of each node's namespace
    (nodes outside a namespace, such as ``sample_data``'s, belong to no study), sorted."""
    return sorted({node.namespace.split(".")[0] for node in nodes if node.namespace})


def holder_info(run_params: Mapping[str, Any] | None, studies: Iterable[str]) -> dict[str, Any]:
    """Who holds the locks: written into each lock file, read back into the message a refused
    run shows."""
    run_params = run_params or {}
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join(sys.argv),
        "pipelines": list(run_params.get("pipeline_names") or ["__default__"]),
        "namespaces": list(run_params.get("namespaces") or []),
        "studies": list(studies),
        "run_id": run_params.get("run_id"),
    }


def read_holder(path: Path) -> dict[str, Any]:
    """The holder a lock file names, or ``{}`` when it names none yet (the holder has taken the
    lock and not yet written itself) or cannot be read."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def busy_message(study: str, path: Path, holder: Mapping[str, Any]) -> str:
    """The refusal: which study, which run holds it, and what to do."""
    if not holder.get("pid"):
        return (f"Study '{study}' is busy: another run holds its lock ({path}) and has not "
                f"written who it is yet (it is starting). Wait for it to finish, or stop it, "
                f"then run again.")
    pid, host = holder["pid"], holder.get("host") or "?"
    here = host == socket.gethostname()
    scope = []
    if holder.get("pipelines"):
        scope.append(f"pipelines: {', '.join(map(str, holder['pipelines']))}")
    if holder.get("namespaces"):
        scope.append(f"namespaces: {', '.join(map(str, holder['namespaces']))}")
    return (
        f"Study '{study}' is busy: another run holds its lock ({path}): pid {pid} on "
        f"{host}{' (this host)' if here else ''}, started {holder.get('started', '?')}, "
        f"command: {holder.get('command', '?')}"
        + (f" ({'; '.join(scope)})" if scope else "") + ".\n"
        f"Two runs of one study overwrite each other's datasets. Wait for that run to finish, "
        f"or stop it (kill {pid}{'' if here else f' on {host}'}), then run again."
    )


class StudyLock:
    """The exclusive lock of one study, held through an open file of this object's own (two
    objects conflict even in one process: ``flock`` belongs to the open file description)."""

    def __init__(self, study: str, folder: Path) -> None:
        self.study = study
        self.path = Path(folder) / f"{study}.lock"
        self._file = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self, holder: Mapping[str, Any]) -> bool:
        """Take the lock and write ``holder`` into the file. Raises ``StudyBusyError`` when
        another open file holds it; returns False (with a warning) when the file system cannot
        lock at all, so the run goes on unguarded."""
        if self._file is not None:
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Created if missing, never truncated before the lock is ours.
            file = os.fdopen(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666), "r+",
                             encoding="utf-8")
        except OSError as error:
            logger.warning("Cannot open the lock file of study '%s' (%s): this run is not "
                           "guarded against another run of the study", self.study, error)
            return False
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            raise StudyBusyError(busy_message(self.study, self.path,
                                              read_holder(self.path))) from None
        except OSError as error:
            file.close()
            logger.warning("The file system refuses to lock %s (%s): this run is not guarded "
                           "against another run of study '%s'", self.path, error, self.study)
            return False
        self._file = file
        file.seek(0)
        file.truncate()
        file.write(json.dumps(dict(holder), indent=1) + "\n")
        file.flush()
        return True

    def release(self) -> None:
        """Empty the file (it names no holder any more) and release the lock."""
        file, self._file = self._file, None
        if file is None:
            return
        try:
            file.seek(0)
            file.truncate()
            file.flush()
        except OSError:
            pass  # the lock is released below all the same
        finally:
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)
            file.close()


class StudyRunLock:
    """The locks of every study of one run, taken all or none, in study-name order."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._locks: list[StudyLock] = []

    @property
    def studies(self) -> list[str]:
        """The studies this object holds locked."""
        return [lock.study for lock in self._locks]

    def acquire(self, studies: Iterable[str], holder: Mapping[str, Any]) -> list[str]:
        """Lock each study (sorted); if one is busy, release those taken and raise its
        ``StudyBusyError``. Returns the studies locked."""
        for study in sorted(set(studies)):
            if study in self.studies:
                continue
            lock = StudyLock(study, self.folder)
            try:
                taken = lock.acquire(holder)
            except StudyBusyError:
                self.release()
                raise
            if taken:
                self._locks.append(lock)
        return self.studies

    def release(self) -> None:
        """Release every lock held (in reverse order of taking)."""
        while self._locks:
            self._locks.pop().release()
