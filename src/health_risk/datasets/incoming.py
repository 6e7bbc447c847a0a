"""Raw files of new people, dropped into a study's ``incoming`` folder, each scored once.

A care team or a feed drops files in the study's own raw format (the stroke CSV's columns,
BRFSS's XPT) into ``01_raw/<study>/incoming/``. ``load()`` gives every file not scored yet, read
by the reader of its format (``formats``: by suffix), as ``{file name: Spark DataFrame}``;
``confirm()`` (Kedro calls it after the node that ``confirms`` this dataset has run, i.e. once the
batch's scores are written) adds exactly those files to a ledger. So a file is scored by one run
only, and a run that fails before its scores are written leaves its files to the next run.

Unlike Kedro's ``IncrementalDataset``, whose checkpoint is the greatest file name seen, the
ledger holds each scored file (name, size, modification stamp): a file dropped later under a
name that sorts before one already scored is still new, and a file replaced by another of the
same name (different size or stamp) is scored again. The ledger lives outside the raw folder
(raw data stays as delivered) and is replaced in one step (temporary file, then rename).
"""

from __future__ import annotations

import json
import posixpath
from datetime import UTC, datetime
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import parse_dataset_definition

from health_risk.datasets.paths import Location

LEDGER_VERSION = 1


class IncomingFilesDataset(AbstractDataset):
    """``path``: the incoming folder; ``ledger``: ``{filepath}`` of the JSON ledger of scored
    files; ``formats``: ``{suffix: dataset config}`` (the reader of each raw format, given each
    file's ``filepath``; a ``staging_path`` is made per file). Files of another suffix, and
    hidden or ``_``-prefixed ones (partial uploads by convention), are not batches."""

    def __init__(self, path: str, ledger: dict[str, Any], formats: dict[str, dict[str, Any]],
                 metadata: dict[str, Any] | None = None) -> None:
        self._folder = Location.of(path)
        self._ledger = Location.of(ledger["filepath"])
        self._formats = {suffix.lower().lstrip("."): dict(config)
                         for suffix, config in formats.items()}
        self._loaded: list[dict[str, Any]] = []
        self.metadata = metadata

    def _files(self) -> list[dict[str, Any]]:
        if not self._folder.fs.exists(self._folder.path):
            return []
        files = []
        for entry in self._folder.fs.ls(self._folder.path, detail=True):
            name = posixpath.basename(entry["name"].rstrip("/"))
            suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
            if entry.get("type") != "file" or name.startswith((".", "_")) \
                    or suffix not in self._formats:
                continue
            version = self._folder.child(name).version()
            files.append({"file": name, **version})
        return sorted(files, key=lambda f: f["file"])

    def scored(self) -> list[dict[str, Any]]:
        """The ledger: every file scored so far, in the order it was scored."""
        if not self._ledger.fs.exists(self._ledger.path):
            return []
        try:
            return json.loads(self._ledger.read_text())["scored"]
        except (ValueError, KeyError) as exc:
            raise DatasetError(f"The ledger of scored incoming files '{self._ledger}' is not "
                               f"readable ({exc}); restore it or move it away (every file in "
                               f"{self._folder} would then be scored again)") from exc

    def new_files(self) -> list[dict[str, Any]]:
        seen = {(f["file"], f["size"], f["modified"]) for f in self.scored()}
        return [f for f in self._files() if (f["file"], f["size"], f["modified"]) not in seen]

    def _reader(self, name: str) -> AbstractDataset:
        suffix = name.rsplit(".", 1)[-1].lower()
        config = dict(self._formats[suffix], filepath=self._folder.child(name).url)
        if "staging_path" in config:  # one staging folder per file
            config["staging_path"] = posixpath.join(str(config["staging_path"]),
                                                    name.replace(".", "_"))
        dataset_class, arguments = parse_dataset_definition(config)
        return dataset_class(**arguments)

    def load(self) -> dict[str, Any]:
        self._loaded = self.new_files()
        return {f["file"]: self._reader(f["file"]).load() for f in self._loaded}

    def save(self, data: Any) -> None:
        raise DatasetError(f"{self._folder} is where raw files arrive; the project never writes "
                           "into it")

    def confirm(self) -> None:
        """Record the files this run loaded as scored (none loaded: nothing to record)."""
        if not self._loaded:
            return
        now = datetime.now(UTC).isoformat(timespec="seconds")
        ledger = [*self.scored(), *[{**f, "scored_at": now} for f in self._loaded]]
        text = json.dumps({"version": LEDGER_VERSION, "folder": self._folder.url,
                           "scored": ledger}, indent=2)
        self._ledger.replace_text(text)
        self._loaded = []

    def _exists(self) -> bool:
        return True  # an empty or absent folder is "no new file", not a missing dataset

    def _describe(self) -> dict[str, Any]:
        return {"path": self._folder.url, "ledger": self._ledger.url,
                "formats": sorted(self._formats)}
