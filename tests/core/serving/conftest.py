"""The toy feature tables of the modeling tests, for the serving tests' fitted models."""

from tests.pipelines.modeling.conftest import classification_features  # noqa: F401
