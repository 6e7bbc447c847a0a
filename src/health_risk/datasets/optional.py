"""A wrapper that lets a pipeline use an upstream output only when it exists.

Reporting depends on ingestion and modeling but uses inference outputs when present: wrapping
those entries makes ``load()`` return ``None`` instead of failing when the producing pipeline
has not run yet. Saving and everything else go to the wrapped dataset unchanged, so the entry
keeps its name, lineage and kedro-viz layer.
"""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset
from kedro.io.core import parse_dataset_definition


class OptionalDataset(AbstractDataset):
    """``load()`` gives ``None`` when the wrapped dataset does not exist yet."""

    def __init__(self, dataset: dict[str, Any] | str,
                 metadata: dict[str, Any] | None = None) -> None:
        config = {"type": dataset} if isinstance(dataset, str) else dict(dataset)
        dataset_class, dataset_args = parse_dataset_definition(config)
        self._dataset = dataset_class(**dataset_args)
        self.metadata = metadata

    @property
    def wrapped(self) -> AbstractDataset:
        return self._dataset

    def load(self) -> Any:
        return self._dataset.load() if self._dataset.exists() else None

    def save(self, data: Any) -> None:
        self._dataset.save(data)

    def _exists(self) -> bool:
        return self._dataset.exists()

    def _release(self) -> None:
        self._dataset.release()

    def _describe(self) -> dict[str, Any]:
        return {"optional": True, "dataset": self._dataset._describe()}
