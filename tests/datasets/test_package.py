"""The datasets package imports each dataset's module when the class is first asked for."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from health_risk import datasets


def test_every_listed_class_resolves_from_its_module():
    assert sorted(datasets.__all__) == sorted(datasets._MODULE_OF)
    for name, module in datasets._MODULE_OF.items():
        cls = getattr(datasets, name)
        assert cls is getattr(importlib.import_module(f"health_risk.datasets.{module}"), name)
    with pytest.raises(AttributeError, match="NoSuchDataset"):
        datasets.NoSuchDataset  # noqa: B018


def test_a_run_that_reads_a_table_does_not_import_the_plotting_libraries():
    code = ("import sys, health_risk.datasets as d; d.SaipeDataset; "
            "print('matplotlib' in sys.modules, 'plotly' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    assert done.stdout.split() == ["False", "False"]
