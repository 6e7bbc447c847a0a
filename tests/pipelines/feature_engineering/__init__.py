"""Tests of the feature_engineering pipeline (a package: test module names repeat per pipeline)."""
