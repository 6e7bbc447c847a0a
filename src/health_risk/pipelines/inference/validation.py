"""The contract a batch of new people must meet: the study's ingestion rules.

A published (e.g. synthetic) batch arrives in the validated table's schema, so the decoding half
of each rule (missing codes, "none" codes, implied decimals, renames) is dropped and the
checking half (type, range, allowed codes, pattern, not-null, unique keys) is kept unchanged. A
raw file dropped into the study's incoming folder is in the study's raw format: the whole rule,
decoding included, applies, as at ingestion. Either way the target may be absent or null (new
people are usually unlabelled) and the id columns may not be null (a prediction must be
traceable to a person).
"""

from __future__ import annotations

from typing import Any

from health_risk.core.contract.config import IngestionConfig
from health_risk.core.features.config import FeatureEngineeringConfig

DECODING = {"missing_codes": [], "zero_codes": [], "implied_decimals": 0}


def batch_contract(ingestion_params: dict[str, Any], fe_params: dict[str, Any],
                   decoded: bool = True) -> dict[str, Any]:
    """The ingestion parameters rewritten for batches of new people, ready for the ingestion
    nodes: for already-decoded batches (``decoded``: same schema, same checks) or for raw
    files (the study's raw format: decoding kept)."""
    ingestion = IngestionConfig.model_validate(ingestion_params)
    features = FeatureEngineeringConfig.model_validate(fe_params)
    columns = {}
    for name, rule in ingestion.columns.items():
        update = dict(DECODING) if decoded else {}
        if name == features.target.column:
            update.update(required=False, nullable=True)
        if name in features.id_columns:
            update.update(nullable=False)
        columns[name] = rule.model_copy(update=update).model_dump()
    contract = ingestion.model_dump()
    contract.update(columns=columns, min_rows=1, **({"rename": {}} if decoded else {}))
    return IngestionConfig.model_validate(contract).model_dump()
