"""Spark infrastructure: building the session (``session``), classic vs Spark Connect
(``mode``) and Spark SQL text helpers (``sql``)."""
