"""Ingestion: one generic template, instantiated per study namespace.

Each namespace (every study and reference table of the registry, ``conf/<env>/studies/*/study.yml``)
reads ``<study>.raw_source@spark`` and its own ``<study>.ingestion`` parameters; what differs
between studies (format, columns, codes, rules) is catalog and configuration.
"""

from kedro.pipeline import Node, Pipeline

from health_risk.core.contract.rows import extract_quarantine, flag_invalid_rows, normalise_columns
from health_risk.core.studies import Study, StudyRegistry, per_study
from health_risk.pipelines.ingestion.nodes import build_validation_report, publish_validated_table


def template(study: Study | None = None) -> Pipeline:
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
                 "validation_report", name="build_validation_report"),
            Node(publish_validated_table, ["flagged_rows", "validation_report",
                                           "params:ingestion"],
                 "validated", name="publish_validated_table"),
        ]
    )


def create_pipeline(studies: StudyRegistry, **kwargs) -> Pipeline:
    return per_study(studies, "ingestion", template)
