"""The row contract: a raw table's column rules (``config``), their Spark SQL (``rules``) and
the normalise / flag / quarantine steps (``rows``) that ingestion and inference share."""
