"""The core domain two or more pipelines share: column names, the row contract, derivations
and the feature table, the split, estimators, scoring, risk tiers, metrics, drift and survey
design. It imports only the infrastructure below it (``datasets``, ``spark``), never a pipeline."""
