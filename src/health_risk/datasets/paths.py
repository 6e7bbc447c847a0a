"""Paths any Spark understands: a local path or a URL (``s3a://``, ``hdfs://``, ``abfss://``,
``gs://``, ``file://``), opened with fsspec and handed to Spark as written.

fsspec and Hadoop mostly agree on URL schemes (s3fs answers to ``s3a://`` as Spark does), so the
raw-format readers can read a source and write their staging folder where the cluster reads.
They need the fsspec package of the scheme (``s3fs``, ``adlfs``, ``gcsfs``; ``hdfs://`` goes
through pyarrow) next to the connector jar Spark needs (see docs/operations.md).
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem
from kedro.io import DatasetError


@dataclass(frozen=True)
class Location:
    """One file or folder: the filesystem that opens it and the URL Spark reads it by."""

    url: str  # as configured, with its scheme (none for a local path)
    fs: Any
    path: str  # the filesystem's own path (no scheme)

    @classmethod
    def of(cls, url: str) -> Location:
        try:
            fs, path = fsspec.core.url_to_fs(str(url))
        except (ImportError, ValueError) as exc:
            scheme = str(url).split("://")[0]
            raise DatasetError(
                f"Cannot open '{url}': no fsspec filesystem for '{scheme}://' ({exc}). Install "
                "its package (s3fs for s3a://, adlfs for abfss://, gcsfs for gs://) beside "
                "Spark's connector jar; see docs/operations.md") from exc
        return cls(str(url), fs, path)

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    @property
    def name(self) -> str:
        return posixpath.basename(self.path.rstrip("/"))

    def child(self, name: str) -> Location:
        return Location(_join(self.url, name), self.fs, posixpath.join(self.path, name))

    def sibling(self, name: str) -> Location:
        parent = posixpath.dirname(self.path.rstrip("/"))
        url = self.url.rstrip("/")
        return Location(url[: len(url) - len(self.name)] + name, self.fs,
                        posixpath.join(parent, name))

    def with_suffix_space(self) -> Location:
        """The CDC's 2022/2023 zips unpack to 'LLCP2023.XPT ' (a trailing space)."""
        return Location(self.url + " ", self.fs, self.path + " ")

    def spark_path(self) -> str:
        """What to hand Spark: an absolute local path (Spark resolves relative ones against the
        JVM's start directory), or the URL with its scheme as configured."""
        return self.path if self.is_local else self.url

    def is_file(self) -> bool:
        return self.fs.isfile(self.path)

    def size(self) -> int:
        return int(self.fs.size(self.path))

    def version(self) -> dict[str, Any]:
        """Size and modification stamp (or ETag), to tell whether the file changed."""
        info = self.fs.info(self.path)
        stamp = next((info[k] for k in ("mtime", "LastModified", "last_modified", "ETag",
                                        "etag", "md5Hash", "created") if info.get(k)), None)
        return {"size": int(info.get("size") or 0), "modified": str(stamp)}

    def open(self, mode: str = "rb", **kwargs):
        return self.fs.open(self.path, mode, **kwargs)

    def makedirs(self) -> None:
        self.fs.makedirs(self.path, exist_ok=True)

    def make_parent(self) -> None:
        """Create the folder this file goes in (a no-op on object stores without folders)."""
        self.fs.makedirs(posixpath.dirname(self.path.rstrip("/")), exist_ok=True)

    def remove_tree(self) -> None:
        if self.fs.exists(self.path):
            self.fs.rm(self.path, recursive=True)

    def read_text(self) -> str:
        with self.open("rb") as handle:
            return handle.read().decode("utf-8")

    def write_text(self, text: str) -> None:
        with self.open("wb") as handle:
            handle.write(text.encode("utf-8"))

    def replace_text(self, text: str) -> None:
        """Write the file whole or not at all: a reader sees the old text or the new one. A
        temporary file then ``os.replace`` locally (atomic on POSIX, NFS included); one object
        PUT on an object store (visible whole)."""
        self.make_parent()
        if not self.is_local:
            self.write_text(text)
            return
        temporary = f"{self.path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    def __str__(self) -> str:
        return self.url


def _join(url: str, name: str) -> str:
    return url.rstrip("/") + "/" + name
