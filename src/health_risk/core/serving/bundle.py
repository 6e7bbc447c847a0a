"""The portable scorer's artefacts as one folder: a YAML description plus binary model files.

Written by the modeling registration into the model version (``<model>/portable/``) and read
by the served ``python_function`` flavour. YAML, not JSON: the study configurations frozen
into it keep their integer survey codes as integers (JSON turns mapping keys into text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DESCRIPTION = "scorer.yml"
FORMAT = 1


@dataclass
class PortableModel:
    """``spec``: what the scorer needs (study, task, frozen contract and derivations, lookup
    tables, preprocessing parameters, estimator, calibration, tiers); ``files``: binary model
    files by name (``estimator.onnx``, ``booster.json``)."""

    spec: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / DESCRIPTION).write_text(
            yaml.safe_dump({"format": FORMAT, **self.spec}, sort_keys=False))
        for name, content in self.files.items():
            (folder / name).write_bytes(content)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> PortableModel:
        folder = Path(folder)
        spec = yaml.safe_load((folder / DESCRIPTION).read_text())
        if spec.pop("format", None) != FORMAT:
            raise ValueError(f"{folder / DESCRIPTION}: not a portable scorer of format {FORMAT}")
        files = {path.name: path.read_bytes() for path in folder.iterdir()
                 if path.is_file() and path.name != DESCRIPTION}
        return cls(spec, files)
