"""Outputs that become visible together, or not at all: write beside, then switch.

A *publication* is a set of catalog entries that describe each other (ingestion's validated
table, its quarantine and the validation report that counts both; feature engineering's primary
and feature tables with the spec and report that describe them). Each member is saved into a
version folder of its own, ``<filepath>/<version>/<basename>`` (Kedro's versioned layout), which
no reader looks at yet; when the last member of the publication is saved, one small pointer file
(``publication.filepath``, e.g. ``02_intermediate/<study>/_publication.json``) is replaced in a single
step and names the version of every member. Readers resolve their member through the pointer.

So a run killed at any point leaves the previous pointer, hence the previous complete tables
with their matching report, and a finished run leaves the new ones with theirs. Nothing is
deleted before the switch: version folders older than the previous publication are pruned after
it (the previous one stays for a reader that started before the switch).

The switch is a rename on a local or mounted filesystem (atomic on POSIX, NFS included) and a
single-object write elsewhere (an object store makes a PUT visible whole); see
docs/operations.md.

Within a run, members already saved but not yet published are read from their new version (a
later node of the same run reads what the run produced). A run that saves only some members
(``--nodes``) publishes them when it finishes, beside the other members' previous versions; a
failed run publishes nothing, and says which staged outputs it leaves unpublished.
"""

from __future__ import annotations

import copy
import json
import logging
import posixpath
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import generate_timestamp, parse_dataset_definition

from health_risk.datasets.paths import Location

logger = logging.getLogger(__name__)

# Kedro's version stamp (kedro.io.core.VERSION_FORMAT), e.g. 2026-12-06T04.11.12.580Z: it sorts
# as it ages, which pruning relies on.
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z$")


@dataclass
class _Staging:
    """A publication's members saved by this process and not yet published."""

    version: str
    publication: list[str]  # every member of the publication, as the catalog states them
    members: dict[str, str] = field(default_factory=dict)  # saved member -> its filepath


_LOCK = threading.RLock()
_STAGED: dict[str, _Staging] = {}  # pointer URL -> what this process staged for it


def _read_pointer(pointer: Location) -> dict[str, Any] | None:
    try:
        if not pointer.fs.exists(pointer.path):
            return None
        return json.loads(pointer.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"Cannot read the publication record '{pointer}': {exc}. Delete it "
                           "and run the pipeline that writes it again") from exc


def _versioned(config: dict[str, Any], version: str) -> dict[str, Any]:
    """The member's dataset config with its (innermost) filepath moved into the version."""
    config = copy.deepcopy(config)
    inner = config
    while "filepath" not in inner:
        if not isinstance(inner.get("dataset"), dict):
            raise DatasetError(f"A published dataset needs a 'filepath' (got {config})")
        inner = inner["dataset"]
    base = str(inner["filepath"]).rstrip("/")
    inner["filepath"] = f"{base}/{version}/{posixpath.basename(base)}"
    return config


def _member_root(config: dict[str, Any]) -> str:
    inner = config
    while "filepath" not in inner:
        inner = inner["dataset"]
    return str(inner["filepath"]).rstrip("/")


def _publish(pointer_url: str, staging: _Staging, members: list[str]) -> dict[str, Any]:
    pointer = Location.of(pointer_url)
    previous = _read_pointer(pointer) or {"members": {}}
    versions = {**previous.get("members", {}), **{m: staging.version for m in staging.members}}
    record = {"members": {m: versions[m] for m in members if m in versions},
              "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "previous": previous.get("members", {})}
    pointer.replace_text(json.dumps(record, indent=2, sort_keys=True))
    for member, root in staging.members.items():
        _prune(Location.of(root), keep={versions[member],
                                        previous.get("members", {}).get(member)})
    return record


def _prune(root: Location, keep: set[str | None]) -> None:
    """Remove version folders older than every kept one (a killed run's, superseded ones).
    Newer unknown versions stay: another run may be staging them."""
    try:
        names = [posixpath.basename(p.rstrip("/")) for p in root.fs.ls(root.path, detail=False)]
    except FileNotFoundError:
        return
    oldest_kept = min((v for v in keep if v), default=None)
    for name in names:
        if _VERSION.match(name) and name not in keep and oldest_kept and name < oldest_kept:
            root.child(name).remove_tree()


def publish_pending() -> list[str]:
    """Publish what this process staged and has not published (a run that saved only some
    members of a publication): the other members keep their published versions."""
    published = []
    with _LOCK:
        for pointer_url, staging in list(_STAGED.items()):
            _publish(pointer_url, staging, staging.publication)
            published.extend(staging.members)
            del _STAGED[pointer_url]
    return published


def discard_pending() -> list[str]:
    """Forget what this process staged (a failed run): the previous publications stand. The
    staged folders stay on disk until a later publication prunes them; the message says where."""
    with _LOCK:
        left = [f"{member} ({root}/{staging.version})" for staging in _STAGED.values()
                for member, root in staging.members.items()]
        _STAGED.clear()
    return left


def published_path(publication: str, member: str, filepath: str) -> str:
    """Where ``member``'s published version lives (for a reader outside the catalog: a test,
    a bench script, a notebook): ``<filepath>/<version>/<basename>``."""
    record = _read_pointer(Location.of(publication))
    if record is None or member not in record.get("members", {}):
        raise DatasetError(f"'{member}' is not published yet (no record in {publication})")
    base = filepath.rstrip("/")
    return f"{base}/{record['members'][member]}/{posixpath.basename(base)}"


class PublishedDataset(AbstractDataset):
    """One member of a publication (see the module docstring).

    ``dataset``: the member's own dataset config (any dataset with a ``filepath``, possibly
    wrapped, e.g. by kedro-mlflow's artifact dataset); ``publication``: ``{filepath, members}``,
    the record file the members share and every member's name (a ``filepath`` key, so Kedro
    makes a relative one absolute as it does the members' own, e.g. in a notebook);
    ``member``: this one's name.
    """

    def __init__(self, dataset: dict[str, Any], publication: dict[str, Any], member: str,
                 metadata: dict[str, Any] | None = None) -> None:
        pointer, members = str(publication["filepath"]), list(publication["members"])
        if member not in members:
            raise DatasetError(f"Publication {pointer}: member '{member}' is not one of "
                               f"its members {members}")
        self._config = dict(dataset)
        self._pointer = pointer
        self._members = members
        self._member = member
        self._root = _member_root(self._config)
        self.metadata = metadata

    def _dataset(self, version: str) -> AbstractDataset:
        dataset_class, arguments = parse_dataset_definition(_versioned(self._config, version))
        return dataset_class(**arguments)

    def _staged_version(self) -> str | None:
        with _LOCK:
            staging = _STAGED.get(self._pointer)
            return staging.version if staging and self._member in staging.members else None

    def _published_version(self) -> str | None:
        record = _read_pointer(Location.of(self._pointer))
        return (record or {}).get("members", {}).get(self._member)

    def save(self, data: Any) -> None:
        with _LOCK:
            staging = _STAGED.setdefault(self._pointer,
                                         _Staging(generate_timestamp(), self._members))
            version = staging.version
        self._dataset(version).save(data)
        with _LOCK:
            staging.members[self._member] = self._root
            complete = set(self._members) <= set(staging.members)
            if complete:
                _publish(self._pointer, staging, self._members)
                del _STAGED[self._pointer]
        if complete:
            logger.info("Published %s (version %s)", ", ".join(self._members), version)

    def load(self) -> Any:
        version = self._staged_version() or self._published_version()
        if version is None:
            raise DatasetError(
                f"'{self._member}' ({self._root}) is not published: no run has finished the "
                f"pipeline that writes it (record {self._pointer}). Run that pipeline first")
        return self._dataset(version).load()

    def _exists(self) -> bool:
        version = self._staged_version() or self._published_version()
        return version is not None and self._dataset(version).exists()

    def _describe(self) -> dict[str, Any]:
        return {"publication": self._pointer, "member": self._member, "filepath": self._root}
