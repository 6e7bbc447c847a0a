"""A wrapper that lets a pipeline use an upstream output only when it exists.

Reporting depends on ingestion and modeling but uses inference outputs when present: wrapping
those entries makes ``load()`` return ``None`` instead of failing when the producing pipeline
has not run yet. Saving and everything else go to the wrapped dataset unchanged, so the entry
keeps its name, lineage and kedro-viz layer.
"""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import parse_dataset_definition


class OptionalDataset(AbstractDataset):
    """``load()`` gives ``None`` when the wrapped dataset does not exist yet.

    ``empty_folder_is_missing``: a partitioned Spark table whose writes so far were all empty is
    a folder without data files, which Spark cannot read (it has no schema to infer); that folder
    counts as missing too.
    """

    def __init__(self, dataset: dict[str, Any] | str, empty_folder_is_missing: bool = False,
                 metadata: dict[str, Any] | None = None) -> None:
        config = {"type": dataset} if isinstance(dataset, str) else dict(dataset)
        dataset_class, dataset_args = parse_dataset_definition(config)
        self._dataset = dataset_class(**dataset_args)
        self._empty_folder_is_missing = empty_folder_is_missing
        self.metadata = metadata

    @property
    def wrapped(self) -> AbstractDataset:
        return self._dataset

    def _no_data(self, exc: DatasetError) -> bool:
        return self._empty_folder_is_missing and "UNABLE_TO_INFER_SCHEMA" in str(exc)

    def load(self) -> Any:
        if not self._exists():
            return None
        try:
            return self._dataset.load()
        except DatasetError as exc:
            if self._no_data(exc):
                return None
            raise

    def save(self, data: Any) -> None:
        self._dataset.save(data)

    def _exists(self) -> bool:
        try:
            return self._dataset.exists()
        except DatasetError as exc:  # Spark's exists check reads the schema
            if self._no_data(exc):
                return False
            raise

    def _release(self) -> None:
        self._dataset.release()

    def _describe(self) -> dict[str, Any]:
        return {"optional": True, "dataset": self._dataset._describe()}
