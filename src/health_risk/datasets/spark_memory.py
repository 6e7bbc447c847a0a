"""An in-memory hand-over of a Spark DataFrame that frees the DataFrame's cache when released.

The row contract persists the flagged rows (every rule is evaluated once, then the quarantine,
the report and the validated table read the cached result). Nothing unpersisted them, so every
study's flagged table stayed in the JVM's storage memory for the rest of the run: at BRFSS-year
scale a whole wide table held through feature engineering and modeling. Kedro's runner releases
a dataset as soon as no remaining node reads it; releasing this one unpersists the DataFrame.
"""

from __future__ import annotations

import logging

from kedro.io import MemoryDataset

logger = logging.getLogger(__name__)


class CachedSparkMemoryDataset(MemoryDataset):
    """``MemoryDataset`` (assign mode: the DataFrame is handed over as is) whose release
    unpersists a cached DataFrame, without waiting for the blocks to be removed."""

    def __init__(self, metadata: dict | None = None) -> None:
        super().__init__(copy_mode="assign", metadata=metadata)

    def _release(self) -> None:
        if getattr(self._data, "is_cached", False):  # a cached DataFrame (not _EMPTY, not data)
            self._data.unpersist(blocking=False)
            logger.debug("unpersisted a released cached DataFrame")
        super()._release()
