"""A fourth study added by configuration alone, for the end-to-end test: one folder in a conf
environment (registry entry, raw catalog entry, parameter blocks) and a CSV in a shape the
project has no code for: integer-coded 0/1 and 1-5 survey answers, a binary target with real
signal, and no id column (the reader's row number becomes the key). Its contract also declares
an optional question the file does not have (``commute``), with a feature made from it: the run
drops that feature and says so (issue 25)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

NAME = "wellbeing"
ANSWERS_0_1 = ["exercises", "smokes", "lives_alone"]
# Enough answers that a synthetic respondent rarely repeats a real one by chance (the privacy
# gate refuses any exact copy).
ANSWERS_1_5 = ["sleep_quality", "stress", "diet_quality", "age_band", "loneliness",
               "work_strain", "screen_time", "alcohol"]

# The study's folder conf/<env>/studies/wellbeing/: registry entry, raw catalog entry and the
# parameter blocks, which state only what is the study's own. Everything else (candidates,
# tuning, quality gate, split, synthetic data, inference) comes from the classification
# defaults in conf/base/study_defaults/.
REGISTRY = {NAME: {"task": "classification"}}

CATALOG = {f"{NAME}.raw_source@spark": {
    "type": "health_risk.datasets.SparkSourceDataset",
    "filepath": "${globals:data_root}/01_raw/" + f"{NAME}/{NAME}_survey.csv",
    "metadata": {"kedro-viz": {"layer": "raw", "preview": False}},
}}

_yes_no = {0: "no", 1: "yes"}
PARAMETERS = {NAME: {
    "ingestion": {  # the row contract
        "columns": {
            **{c: {"type": "int", "required": True, "allowed": [0, 1]} for c in ANSWERS_0_1},
            **{c: {"type": "int", "required": True, "missing_codes": [9],
                   "allowed": [1, 2, 3, 4, 5]} for c in ANSWERS_1_5},
            "age": {"type": "int", "required": True, "range": [18, 90]},
            "high_risk": {"type": "int", "required": True, "nullable": False,
                          "allowed": [0, 1]},
            # A question later releases ask: optional, absent from this file.
            "commute": {"type": "int", "allowed": [1, 2, 3]},
        },
    },
    "feature_engineering": {  # target and features
        "id_column": "_source_row", "target": {"column": "high_risk"},
        "derivations": [
            {"step": "recode", "columns": {"exercises": "exercise", "smokes": "smoker"},
             "mapping": _yes_no},
            {"step": "bin", "input": "age_band", "output": "age_group", "edges": [3],
             "labels": ["younger", "older"]},
            {"step": "recode", "input": "commute", "output": "commute_mode",
             "mapping": {1: "car", 2: "transit", 3: "active"}},
        ],
        "numeric_features": ["age", "sleep_quality", "stress", "diet_quality", "loneliness",
                             "work_strain", "screen_time", "alcohol", "lives_alone"],
        "categorical_features": ["exercise", "smoker", "age_group", "commute_mode"],
        "subgroup_columns": ["age_group"],
        "leakage_columns": ["high_risk"],
    },
    # Its budgets are the test environment's classification defaults (conf/test/
    # study_defaults), as for brfss and stroke; only its gate is its own: a small validation
    # split.
    "modeling": {"quality_gate": {"thresholds": {"roc_auc": 0.6}}},
    "synthetic_data": {"fit_rows": 600, "batch_rows": 200, "utility": {"enabled": False}},
    # The report's title; its tables and charts are the classification default (rows by
    # outcome).
    "reporting": {"title": "Wellbeing survey: high-risk respondents"},
}}


def survey_frame(n_rows: int = 3000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.integers(0, 2, n_rows) for c in ANSWERS_0_1})
    for column in ANSWERS_1_5:
        frame[column] = rng.integers(1, 6, n_rows)
    frame["age"] = rng.integers(18, 91, n_rows)
    logit = (-1.0 + 0.7 * frame["stress"] - 0.5 * frame["sleep_quality"]
             + 1.1 * frame["smokes"] - 0.8 * frame["exercises"] + 0.3 * frame["age_band"])
    frame["high_risk"] = (rng.random(n_rows) < 1 / (1 + np.exp(-(logit - 0.5)))).astype(int)
    return frame


def add_to_project(root: Path, env: str = "test", n_rows: int = 3000) -> None:
    """Write the study's one folder, conf/<env>/studies/wellbeing/, and the raw CSV into a
    scratch project copy."""
    folder = root / "conf" / env / "studies" / NAME
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in (("study", REGISTRY), ("catalog", CATALOG),
                          ("parameters", PARAMETERS)):
        (folder / f"{name}.yml").write_text(yaml.safe_dump(content, sort_keys=False))
    raw = root / "data" / "01_raw" / NAME
    raw.mkdir(parents=True, exist_ok=True)
    survey_frame(n_rows).to_csv(raw / f"{NAME}_survey.csv", index=False)
