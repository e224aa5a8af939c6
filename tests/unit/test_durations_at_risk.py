"""The duration model's guards for the poller: how many were seen past a time, the longest seen."""

from __future__ import annotations

import pytest

from orchestrator.work.durations import MIN_SAMPLES, DurationModel


def model_of(done: list[float], running: dict[int, float] | None = None) -> DurationModel:
    model = DurationModel()
    for duration in done:
        model.observe(duration)
    for op, elapsed in (running or {}).items():
        model.observe_running(op, elapsed)
    return model


def test_an_estimate_past_where_few_were_seen_is_withheld() -> None:
    """Ten finished by 3 s, two seen past it: what they say of the rest after 3 s is thin."""
    model = model_of([1.0] * 10 + [3.5, 4.0])
    assert model.remaining(3.0) == pytest.approx(1.0)  # the curve itself answers...
    assert model.remaining(3.0, min_at_risk=MIN_SAMPLES) is None  # ...from two operations


def test_running_operations_count_as_seen_past_a_time() -> None:
    running = {op: 5.0 for op in range(MIN_SAMPLES)}
    model = model_of([1.0] * 10 + [4.0], running)
    assert model.remaining(3.0, 0.1, min_at_risk=MIN_SAMPLES) == pytest.approx(1.0)


def test_at_the_start_everything_observed_is_at_risk() -> None:
    model = model_of([float(d) for d in range(1, MIN_SAMPLES + 1)])
    assert model.remaining(0.0, 0.9, min_at_risk=MIN_SAMPLES) == pytest.approx(MIN_SAMPLES)
    assert model.remaining(0.0, 0.9, min_at_risk=MIN_SAMPLES + 1) is None


def test_the_longest_counts_finished_and_running_operations() -> None:
    model = DurationModel()
    assert model.longest() == 0.0
    model.observe(3.0)
    model.observe_running("slow", 7.5)
    model.observe(2.0)
    assert model.longest() == 7.5
    model.observe(9.0, op="slow")
    assert model.longest() == 9.0
