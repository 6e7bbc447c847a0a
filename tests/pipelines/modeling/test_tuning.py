"""The study's tuning time budget (modeling.tuning.TuningBudget)."""

from __future__ import annotations

import pytest

from health_risk.pipelines.modeling import tuning


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_unused_time_passes_to_the_next_candidates(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(tuning.time, "perf_counter", clock)
    budget = tuning.TuningBudget(total=90.0, per_candidate_cap=60.0, candidates=3)
    with budget.candidate() as first:
        clock.now += 10.0  # the linear model needed 10 of its 30 s
    with budget.candidate() as second:
        clock.now += 50.0  # overran its share by the trial it had started
    with budget.candidate() as third:
        pass
    assert first == pytest.approx(30.0)
    assert second == pytest.approx(40.0)  # (90 - 10) / 2
    assert third == pytest.approx(30.0)  # 90 - 60
    assert budget.summary()["seconds_spent"] == pytest.approx(60.0)


def test_without_a_budget_each_candidate_gets_its_timeout(monkeypatch):
    budget = tuning.TuningBudget(total=None, per_candidate_cap=25.0, candidates=2)
    with budget.candidate() as share:
        assert share == 25.0


def test_a_spent_budget_gives_zero_seconds(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(tuning.time, "perf_counter", clock)
    budget = tuning.TuningBudget(total=5.0, per_candidate_cap=60.0, candidates=2)
    with budget.candidate():
        clock.now += 8.0
    with budget.candidate() as share:
        assert share == 0.0
