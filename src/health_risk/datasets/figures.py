"""A matplotlib PNG dataset that can be read back, so the HTML report can embed the modeling
plots. kedro-datasets' ``MatplotlibDataset`` is save-only; this keeps its saving, MLflow
wrapping and kedro-viz image preview and adds ``load() -> bytes``."""

from __future__ import annotations

from kedro.io.core import DatasetError, get_filepath_str
from kedro_datasets.matplotlib import MatplotlibDataset


class PngFigureDataset(MatplotlibDataset):
    """Save a matplotlib figure as PNG; load the PNG bytes."""

    def load(self) -> bytes:  # type: ignore[override]
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        if not self._fs.exists(load_path):
            raise DatasetError(f"{load_path}: no PNG written yet (run the pipeline that makes it)")
        with self._fs.open(load_path, mode="rb") as image:
            return image.read()
