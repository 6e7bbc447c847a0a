"""The generic pipelines, one package each; ``pipeline_registry`` finds them by name.

Each package exposes ``create_pipeline`` lazily (``lazy_create_pipeline``): shared modules such
as ``health_risk.feature_table`` and ``health_risk.row_contract`` read a pipeline package's
``config`` or ``rules`` module, and an eager ``from .pipeline import create_pipeline`` in the
package would import the node module, which imports the shared module back while it is half
initialised. Importing, say, ``health_risk.row_contract`` first then failed.
"""

from collections.abc import Callable
from importlib import import_module


def lazy_create_pipeline(package: str) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package`` that imports ``.pipeline`` on first use of
    ``create_pipeline``."""

    def __getattr__(name: str) -> object:
        if name == "create_pipeline":
            return import_module(f"{package}.pipeline").create_pipeline
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
