"""The names of the columns the project itself adds to tables, in one place.

Source columns keep the names their contract gives them; these are the columns the pipelines
create and read across floors (a feature table's key, label and weight; a score; a split; a
batch's identity). Lineage columns (``_source_file``, ``_source_row``) belong to the readers
that add them: ``health_risk.datasets.lineage``.
"""

# Every feature table has these; no derivation, feature or subgroup may take these names.
ID = "id"
LABEL = "label"
WEIGHT = "survey_weight"
EXCLUDED_REASON = "excluded_reason"  # primary-table column: why a row is not modelled
RESERVED_COLUMNS = (ID, LABEL, WEIGHT, EXCLUDED_REASON)

# Model input: the split each row belongs to, the assembled feature vector, class weights.
SPLIT = "split"
FEATURES = "features"
CLASS_WEIGHT = "class_weight"

# Model output.
SCORE = "score"
CALIBRATED = "calibrated_probability"  # isotonic calibrator output (a number)
PLATT_PROBABILITY = "platt_probability"  # Platt calibrator output (a probability vector)
RISK_TIER = "risk_tier"

# A batch of new people (synthetic, or a file that arrived): which batch, made when.
BATCH_ID = "batch_id"
BATCH_CREATED_AT = "batch_created_at"
