"""A small synthetic feature table in the feature-engineering output layout (the fixtures in
``conftest.py`` add the ``split`` column as feature engineering does)."""

from __future__ import annotations

import numpy as np
import pandas as pd

NUMERIC = ["age", "bmi"]
CATEGORICAL = ["smoking", "region"]
SUBGROUPS = ["sex", "age_group"]


def feature_frame(n: int, task: str, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.uniform(18, 85, n)
    bmi = np.where(rng.random(n) < 0.05, np.nan, rng.normal(28, 5, n))
    smoking = rng.choice(["current", "former", "never", None], n, p=[0.15, 0.25, 0.55, 0.05])
    region = rng.choice(["north", "south", "east", "west"], n)
    margin = (0.05 * (age - 50) + 0.08 * (np.nan_to_num(bmi, nan=28) - 28)
              + 1.2 * (smoking == "current") + 0.4 * (region == "south"))
    if task == "classification":
        label = (rng.random(n) < 1 / (1 + np.exp(-(margin - 1.5)))).astype(float)
    else:
        label = 8000 + 3000 * margin + rng.normal(0, 1500, n)
    return pd.DataFrame({
        "id": [f"p{i:05d}" for i in range(n)],
        "label": label,
        "survey_weight": rng.uniform(50, 500, n),
        "sex": rng.choice(["female", "male"], n),
        "age_group": pd.cut(age, [17, 44, 64, 100], labels=["18-44", "45-64", "65+"]).astype(str),
        "age": age, "bmi": bmi, "smoking": smoking, "region": region,
    })


def feature_spec(task: str) -> dict:
    return {"task": task, "id_column": "id", "label_column": "label",
            "weight_column": "survey_weight", "numeric_features": NUMERIC,
            "categorical_features": CATEGORICAL, "subgroup_columns": SUBGROUPS}


SPLIT = {"seed": 42, "train": 0.6, "validation": 0.2}  # the <study>.split block


def modeling_params(task: str, **overrides) -> dict:
    linear = {"n_trials": 2, "fixed": {"maxIter": 30},
              "search_space": {"regParam": {"low": 0.001, "high": 0.1, "log": True}}}
    params = {
        "study": "toy", "task": task,
        "primary_metric": "roc_auc" if task == "classification" else "rmse",
        "class_weighting": "balanced" if task == "classification" else "none",
        "candidates": {
            "linear": linear,
            "random_forest": {"n_trials": 1, "fixed": {"numTrees": 10, "maxDepth": 3, "seed": 1}},
        },
        "tuning": {"seed": 1},
        "explain": {"sample_rows": 40},
        "quality_gate": {"thresholds": {"roc_auc": 0.6} if task == "classification"
                         else {"r2": 0.3}},
        "subgroup_min_count": 20,
        "cross_validation": {"folds": 2, "repeats": 1},
    }
    params.update(overrides)
    return params


def ingestion_params() -> dict:
    """The toy study's contract (what the registered portable scorer checks a request with)."""
    return {"study": "toy", "columns": {
        "age": {"type": "double", "required": True, "range": [0, 120]},
        "bmi": {"type": "double", "range": [10, 80]},
        "smoking": {"type": "string", "allowed": ["current", "former", "never"]},
        "region": {"type": "string", "required": True},
        "outcome": {"type": "double"},
    }}


def feature_engineering_params() -> dict:
    return {"study": "toy", "task": "classification", "id_column": "region",
            "target": {"column": "outcome"}, "leakage_columns": [],
            "numeric_features": NUMERIC, "categorical_features": CATEGORICAL}
