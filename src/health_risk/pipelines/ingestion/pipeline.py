"""Ingestion: one generic template, instantiated per study namespace.

Each namespace reads ``<study>.raw_source@spark`` and its own ``<study>.ingestion`` parameters;
what differs between studies (format, columns, codes, rules) is catalog and configuration.
"""

from kedro.pipeline import Node, Pipeline

from health_risk.pipelines.ingestion.nodes import (
    build_validation_report,
    extract_quarantine,
    flag_invalid_rows,
    normalise_columns,
    publish_validated_table,
)

# The raw tables ingested: the three studies plus the census table the BRFSS study joins.
SOURCES = ("brfss", "census", "stroke", "insurance")


def template() -> Pipeline:
    return Pipeline(
        [
            Node(normalise_columns, ["raw_source@spark", "params:ingestion"],
                 ["normalised_source", "column_audit"], name="normalise_columns"),
            Node(flag_invalid_rows, ["normalised_source", "params:ingestion"], "flagged_rows",
                 name="flag_invalid_rows"),
            Node(extract_quarantine, ["flagged_rows", "params:ingestion"], "quarantine",
                 name="extract_quarantine"),
            Node(build_validation_report,
                 ["normalised_source", "flagged_rows", "quarantine", "column_audit",
                  "params:ingestion"],
                 ["validation_report", "ingestion_metrics"], name="build_validation_report"),
            Node(publish_validated_table, ["flagged_rows", "validation_report",
                                           "params:ingestion"],
                 "validated", name="publish_validated_table"),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    return sum(
        (
            Pipeline(template(), namespace=source,
                     parameters={"params:ingestion": f"params:{source}.ingestion"},
                     tags=["ingestion", source])
            for source in SOURCES
        ),
        Pipeline([]),
    )
