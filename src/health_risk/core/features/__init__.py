"""Derivations and the feature table: one configuration (``config``), one definition of each
derivation step (``derivations``) and the primary / feature tables built from them (``table``),
used by feature engineering, inference and synthetic data."""
