"""The privacy gate judges disclosure, not coincidence, on a generated low-cardinality study
(a survey of a few 2-5 level answers, no continuous column): a synthetic row equal to a real
profile that many real people share is published; one that copies a rare real record (fewer
than ``privacy.rare_record_k`` real rows share it) refuses the batch, which is then not
published while the report and metrics are still written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from health_risk.core.columns import BATCH_CREATED_AT, BATCH_ID
from health_risk.pipelines.synthetic_data.assessment import distance_to_closest_record
from health_risk.pipelines.synthetic_data.config import PrivacyConfig
from health_risk.pipelines.synthetic_data.nodes import (
    assess_synthetic_batch,
    count_real_copies,
    fit_synthesizer,
    publish_synthetic_batch,
    report_synthetic_batch,
    sample_synthetic_batch,
)
from health_risk.pipelines.synthetic_data.schema import batch_schema

NO_UTILITY = {"performed": False, "reason": "not measured in this test"}


def _blocks(levels: list[int], **privacy):
    """(synthetic_data, ingestion, feature_engineering) blocks of a survey study: an id, one
    answer column per entry of ``levels`` (1..L) and a 0/1 outcome."""
    questions = [f"q{i:02d}" for i in range(1, len(levels) + 1)]
    columns = {"id": {"type": "int", "required": True, "nullable": False},
               **{q: {"type": "int", "allowed": list(range(1, n + 1))}
                  for q, n in zip(questions, levels, strict=True)},
               "outcome": {"type": "int", "required": True, "allowed": [0, 1]}}
    ingestion = {"study": "survey", "columns": columns}
    fe = {"study": "survey", "task": "classification", "id_column": "id",
          "target": {"column": "outcome"}, "categorical_features": questions,
          "leakage_columns": []}
    sd = {"study": "survey", "sequence_columns": ["id"], "fit_rows": 3000, "batch_rows": 600,
          "report_rows": 600, "privacy": {"dcr_rows": 300, **privacy}}
    return sd, ingestion, fe


def _survey(rows: int, levels: list[int], seed: int, types: int = 0, noise: float = 0.03,
            outcome: tuple[float, float] = (0.3, 0.1)) -> pd.DataFrame:
    """Survey answers and a 0/1 outcome that depends on the first answer. With ``types``,
    each person is one of that many types (a typical answer per question) and gives another
    answer with probability ``noise`` per question: a few very common profiles and a tail of
    rare ones, as on a real questionnaire. Without, answers are independent and uniform."""
    rng = np.random.default_rng(seed)
    typical = np.random.default_rng(0).integers(0, 60, (max(types, 1), len(levels)))
    kind = rng.integers(0, max(types, 1), rows)
    frame = pd.DataFrame({"id": np.arange(1, rows + 1)})
    for i, n in enumerate(levels):
        drawn = rng.integers(0, n, rows)
        answer = np.where(rng.random(rows) < noise, drawn, typical[kind, i] % n) if types \
            else drawn
        frame[f"q{i + 1:02d}"] = answer + 1
    rate = np.where(frame["q01"] == 1, *outcome)  # the outcome's rate by the first answer
    frame["outcome"] = (rng.random(rows) < rate).astype(int)
    return frame


def _spark(spark, frame: pd.DataFrame):
    return spark.createDataFrame(frame.astype(object).where(frame.notna(), None))


def _candidate(spark, rows: pd.DataFrame, batch_id: str = "survey-20270101T000000000000"):
    """A sampled batch as sample_synthetic_batch writes it: renumbered ids, lineage, batch id
    and creation time."""
    batch = rows.reset_index(drop=True).copy()
    batch["id"] = np.arange(1, len(batch) + 1)
    batch["_source_file"] = f"synthetic://survey/{batch_id}"
    batch["_source_row"] = np.arange(len(batch))
    batch[BATCH_ID] = batch_id
    batch[BATCH_CREATED_AT] = "2027-01-01T00:00:00+00:00"
    return _spark(spark, batch)


def _assessment(real: pd.DataFrame, synthetic: pd.DataFrame, columns: list[str]) -> dict:
    half = len(real) // 2
    metadata = {"columns": {c: {"sdtype": "categorical"} for c in columns}}
    dcr = distance_to_closest_record(real[columns].iloc[:half], real[columns].iloc[half:],
                                     synthetic[columns], metadata, rows=300, seed=7)
    quality = {"score": None, "diagnostic_score": None, "properties": {}}
    return {"quality": quality, "distance_to_closest_record": dcr, "strata": None}


@pytest.fixture(scope="module")
def survey(spark):
    """2,000 real people on 12 answers of 2-5 levels, plus two planted profiles: one shared by
    4 people (rare at k = 5), one by 5 (not rare)."""
    levels = [2, 3, 4, 5] * 3
    real = _survey(2000, levels, seed=11, types=6)
    planted = {4: [2, 3, 4, 5] * 3, 5: [1, 3, 4, 4] * 3}  # no type's typical answers
    extra = [dict(zip([f"q{i:02d}" for i in range(1, 13)], answers, strict=True), outcome=1)
             for count, answers in planted.items() for _ in range(count)]
    real = pd.concat([real, pd.DataFrame(extra)], ignore_index=True)
    real["id"] = np.arange(1, len(real) + 1)
    blocks = _blocks(levels)
    _, schema = batch_schema(*blocks)
    return {"real": real, "primary": _spark(spark, real).localCheckpoint(), "blocks": blocks,
            "columns": schema.synthesised, "planted": planted}


def test_copies_are_counted_and_rare_ones_told_apart(spark, survey):
    real, columns = survey["real"], survey["columns"]
    profile = real.groupby(columns).size()
    common = profile[profile >= 6].index.to_frame(index=False)
    questions = [c for c in columns if c.startswith("q")]
    planted = {count: pd.DataFrame([dict(zip(questions, answers, strict=True), outcome=1)])
               for count, answers in survey["planted"].items()}
    for count, row in planted.items():  # shared by exactly 4 and 5 real people
        assert profile[tuple(row[columns].iloc[0])] == count
    assert len(common) >= 10
    rows = pd.concat([common.head(10), planted[5], planted[4]], ignore_index=True)
    candidate = _candidate(spark, rows)
    counts = count_real_copies(candidate, survey["primary"], columns, rare_record_k=5)
    # 10 common profiles and the one 5 people share are copies, not disclosures; the profile
    # 4 people share is a rare record.
    assert counts == {"exact_copies": 12, "rare_record_copies": 1}
    assert count_real_copies(candidate, survey["primary"], columns, rare_record_k=6) == {
        "exact_copies": 12, "rare_record_copies": 2}


def test_a_batch_of_common_profiles_is_published_with_both_counts_and_dcr(spark, survey):
    """Hundreds of synthetic rows equal some real row (the old rule refused them all); none
    copies a rare record, so the batch is published."""
    real, columns, blocks = survey["real"], survey["columns"], survey["blocks"]
    profile = real.groupby(columns).size()
    common = profile[profile >= 5].index.to_frame(index=False)
    novel = _survey(300, [2, 3, 4, 5] * 3, seed=99).drop(columns="id")  # independent answers
    novel = novel.merge(real[columns].drop_duplicates(), how="left", indicator=True)
    novel = novel[novel["_merge"] == "left_only"].drop(columns="_merge")
    rows = pd.concat([common.sample(400, replace=True, random_state=3), novel],
                     ignore_index=True)
    candidate = _candidate(spark, rows)
    assessment = _assessment(real, rows, columns)
    batch_report, published = publish_synthetic_batch(candidate, survey["primary"], assessment,
                                                      *blocks)
    assert batch_report["accepted"] and batch_report["published_rows"] == len(rows)
    assert batch_report["decision"].startswith(f"published: {len(rows)} rows")
    privacy = batch_report["privacy"]
    assert privacy["exact_copies"] == 400 and privacy["rare_record_copies"] == 0
    assert (privacy["rare_record_k"], privacy["max_rare_record_copies"]) == (5, 0)
    assert privacy["compared_with_rows"] == len(real)
    assert privacy["distance_to_closest_record"]["computed"]
    assert published.count() == len(rows)
    report, metrics = report_synthetic_batch(batch_report, NO_UTILITY)
    assert report["accepted"] and metrics["accepted"] == {"value": 1.0, "step": 0}
    assert metrics["exact_copies"]["value"] == 400.0
    assert metrics["rare_record_copies"]["value"] == 0.0
    assert "dcr_closer_to_training_share" in metrics and "dcr_zero_distance_share" in metrics
    # The old rule, kept as an option, still refuses it.
    strict = (dict(blocks[0], privacy={"dcr_rows": 300, "max_exact_copies": 0}), *blocks[1:])
    refused, _ = publish_synthetic_batch(candidate, survey["primary"], assessment, *strict)
    assert not refused["accepted"] and "privacy.max_exact_copies = 0" in refused["decision"]


def test_a_batch_that_copies_a_rare_record_is_refused_and_nothing_published(spark, survey,
                                                                            caplog):
    real, columns, blocks = survey["real"], survey["columns"], survey["blocks"]
    profile = real.groupby(columns).size()
    common = profile[profile >= 5].index.to_frame(index=False)
    rare = profile[profile < 5].index.to_frame(index=False)
    rows = pd.concat([common.sample(100, replace=True, random_state=4), rare.head(1)],
                     ignore_index=True)
    candidate = _candidate(spark, rows, batch_id="survey-20270102T000000000000")
    with caplog.at_level("ERROR"):
        batch_report, published = publish_synthetic_batch(
            candidate, survey["primary"], _assessment(real, rows, columns), *blocks)
    assert not batch_report["accepted"] and batch_report["published_rows"] == 0
    assert batch_report["privacy"]["rare_record_copies"] == 1
    assert batch_report["privacy"]["exact_copies"] == 101
    decision = batch_report["decision"]
    assert "1 rows copy a rare real record" in decision
    assert "privacy.max_rare_record_copies = 0" in decision
    assert "Nothing of batch survey-20270102T000000000000 was published" in decision
    # Loud: an error in the log names the batch and the rule ...
    assert any(r.levelname == "ERROR" and "survey-20270102T000000000000" in r.getMessage()
               and "max_rare_record_copies" in r.getMessage() for r in caplog.records)
    # ... and the batch output is empty (the batches dataset writes nothing for it), with the
    # published schema; the report and metrics are still made.
    assert published.count() == 0 and BATCH_ID in published.columns
    report, metrics = report_synthetic_batch(batch_report, NO_UTILITY)
    assert metrics["accepted"] == {"value": 0.0, "step": 0}
    assert metrics["published_rows"] == {"value": 0.0, "step": 0}
    assert report["privacy"]["distance_to_closest_record"]["computed"]


def test_a_fitted_synthesizer_on_a_low_cardinality_study_publishes(spark):
    """Five answers of 2-3 levels and the outcome (144 profiles, each shared by about 20 of
    3,000 people): nearly every row of the fitted copula equals some real row, and none copies
    a rare record."""
    levels = [2, 2, 2, 3, 3]
    real = _survey(3000, levels, seed=5, outcome=(0.6, 0.4))
    sd, ingestion, fe = _blocks(levels)
    _, schema = batch_schema(sd, ingestion, fe)
    training = schema.typed(real[schema.synthesised].iloc[:2400])
    holdout = schema.typed(real[schema.synthesised].iloc[2400:])
    synthesizer = fit_synthesizer(training, sd, ingestion, fe)
    batch = sample_synthetic_batch(synthesizer, sd, ingestion, fe)
    assessment = assess_synthetic_batch(synthesizer, training, holdout, batch, sd, ingestion, fe)
    candidate = _spark(spark, batch)
    report, published = publish_synthetic_batch(candidate, _spark(spark, real), assessment, sd,
                                                ingestion, fe)
    assert report["accepted"] and published.count() == sd["batch_rows"]
    assert report["privacy"]["rare_record_copies"] == 0
    assert report["privacy"]["exact_copies"] > 0.9 * sd["batch_rows"]
    assert published.filter(F.col(BATCH_ID) != batch[BATCH_ID].iloc[0]).count() == 0


def test_privacy_defaults():
    assert PrivacyConfig().model_dump() == {"rare_record_k": 5, "max_rare_record_copies": 0,
                                            "max_exact_copies": None, "dcr_rows": 500}
    with pytest.raises(ValueError, match="rare_record_k"):
        PrivacyConfig(rare_record_k=1)
