"""QuickSight manifests for the reporting CSVs.

A QuickSight S3 manifest describes ONE dataset: every file it lists is appended into the same
table, so files listed together must share their columns. Each aggregate table therefore gets
its own ``<table>.manifest.json`` beside the CSVs.

Nodes build manifests with URIs relative to ``tables_path`` (they know no paths); ``save``
resolves them to absolute URIs of the filesystem the tables live on (``file:///...`` locally,
``s3://...`` on a cluster). ``load`` returns each manifest with a probe of every file it names
(exists, size, header line), which the validation node checks.
"""

from __future__ import annotations

import json
from copy import deepcopy
from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import get_protocol_and_path

SUFFIX = ".manifest.json"


def _has_scheme(uri: str) -> bool:
    return "://" in uri


class QuickSightManifestDataset(AbstractDataset):
    """One QuickSight manifest JSON per table, saved as ``<path>/<table>.manifest.json``.

    ``save({table: manifest})``: relative ``fileLocations[*].URIs`` are resolved against
    ``tables_path``. ``load() -> {table: {"manifest": ..., "files": [probe, ...]}}``.
    """

    def __init__(self, path: str, tables_path: str | None = None,
                 fs_args: dict[str, Any] | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        protocol, stripped = get_protocol_and_path(path)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(fs_args or {}))
        self._path = PurePosixPath(stripped)
        _, tables = get_protocol_and_path(tables_path or path)
        self._tables_path = PurePosixPath(tables)
        self.metadata = metadata

    def _uri(self, relative: str) -> str:
        if _has_scheme(relative):
            return relative
        full = str(self._tables_path / relative)
        if self._protocol == "file":
            # fsspec's local paths are absolute after stripping; make the URI absolute too.
            return "file://" + self._fs._strip_protocol(full)
        return self._fs.unstrip_protocol(full)

    def _manifest_path(self, table: str) -> str:
        return str(self._path / f"{table}{SUFFIX}")

    def save(self, data: dict[str, dict[str, Any]]) -> None:
        self._fs.makedirs(str(self._path), exist_ok=True)
        for table in self._fs.glob(str(self._path / f"*{SUFFIX}")):
            self._fs.rm(table)  # a table dropped from the configuration loses its manifest too
        for table, manifest in data.items():
            resolved = deepcopy(manifest)
            for location in resolved.get("fileLocations", []):
                location["URIs"] = [self._uri(uri) for uri in location.get("URIs", [])]
            with self._fs.open(self._manifest_path(table), "w") as handle:
                json.dump(resolved, handle, indent=2)

    def _probe(self, uri: str) -> dict[str, Any]:
        probe: dict[str, Any] = {"uri": uri, "exists": False, "bytes": 0, "header": None}
        try:
            fs, path = fsspec.core.url_to_fs(uri)
            probe["exists"] = bool(fs.exists(path))
        except (ImportError, ValueError, OSError) as error:  # e.g. s3:// without s3fs
            probe["error"] = f"{type(error).__name__}: {error}"
            return probe
        if probe["exists"]:
            probe["bytes"] = int(fs.size(path) or 0)
            with fs.open(path, "r", encoding="utf-8") as handle:
                probe["header"] = handle.readline().rstrip("\r\n")
        return probe

    def load(self) -> dict[str, dict[str, Any]]:
        found = sorted(self._fs.glob(str(self._path / f"*{SUFFIX}")))
        if not found:
            raise DatasetError(f"{self._path}: no '*{SUFFIX}' manifest found")
        manifests = {}
        for path in found:
            with self._fs.open(path, "r") as handle:
                try:
                    manifest = json.load(handle)
                except json.JSONDecodeError as error:
                    raise DatasetError(f"{path}: not valid JSON ({error})") from error
            uris = [uri for location in manifest.get("fileLocations", [])
                    for uri in location.get("URIs", [])]
            name = PurePosixPath(path).name[: -len(SUFFIX)]
            manifests[name] = {"manifest": manifest, "path": path,
                               "files": [self._probe(uri) for uri in uris]}
        return manifests

    def _exists(self) -> bool:
        return bool(self._fs.glob(str(self._path / f"*{SUFFIX}")))

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "tables_path": str(self._tables_path),
                "protocol": self._protocol}
