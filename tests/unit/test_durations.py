"""The duration model: a Kaplan-Meier estimate over finished and still-running operations."""

from __future__ import annotations

import bisect

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.work.durations import MIN_SAMPLES, TARGET_QUANTILE, DurationModel, _kaplan_meier


def test_running_operations_keep_the_model_from_claiming_too_early() -> None:
    """Five quick finishes beside many still running say nothing about the slow majority."""
    model = DurationModel()
    for d in (1.0, 1.1, 1.2, 1.3, 1.4):
        model.observe(d)
    assert model.remaining(0.0) == pytest.approx(1.4)  # without censoring: "all done by 1.4 s"
    for op in range(20):
        model.observe_running(op, 3.0)
    assert model.remaining(0.0) is None


def test_a_finished_operation_is_no_longer_counted_as_running() -> None:
    model = DurationModel()
    for op in range(MIN_SAMPLES):
        model.observe_running(op, 1.0)
    for op in range(MIN_SAMPLES):
        model.observe(2.0, op=op)
    assert model.remaining(0.0) == pytest.approx(2.0)
    assert model.chance_done(2.0) == pytest.approx(1.0)


def test_the_estimate_is_conditional_on_having_run_so_long() -> None:
    model = DurationModel()
    for d in range(1, 11):
        model.observe(float(d))
    assert model.remaining(0.0) == pytest.approx(9.0)  # the 90th percentile of 1..10
    assert model.remaining(8.5) == pytest.approx(1.5)  # of 9 and 10, the later


def test_chance_done_is_a_coin_toss_while_nothing_is_known() -> None:
    assert DurationModel().chance_done(3.0) == 0.5


@given(
    st.lists(st.floats(0.0, 100.0), min_size=MIN_SAMPLES, max_size=60),
    st.lists(st.floats(0.0, 100.0), max_size=60),
    st.floats(0.0, 100.0),
)
def test_an_estimate_reaches_the_target_share_of_what_is_known(
    done: list[float], running: list[float], elapsed: float
) -> None:
    """Whenever it answers, at least TARGET_QUANTILE of comparable finished ones took no longer."""
    model = DurationModel()
    for d in done:
        model.observe(d)
    for op, e in enumerate(running):
        model.observe_running(op, e)
    remaining = model.remaining(elapsed)
    if remaining is None:
        return
    assert remaining >= 0.0
    longer = [d for d in done if d > elapsed]
    assert longer, "an estimate needs a finished operation longer than elapsed"
    assert 0.0 <= model.chance_done(elapsed + remaining) <= 1.0
    if not running:
        within = sum(1 for d in longer if d <= elapsed + remaining)
        assert within >= TARGET_QUANTILE * len(longer) - 1e-9


def linear_remaining(done: list[float], running: list[float], elapsed: float) -> float | None:
    """The answer ``remaining`` gave before it bisected: a scan of the curve, step by step."""
    if len(done) < MIN_SAMPLES:
        return None
    times, curve = _kaplan_meier(done, running)
    index = bisect.bisect_right(times, elapsed)
    base = curve[index - 1] if index else 1.0
    if base <= 0.0:
        return None
    goal = base * (1.0 - TARGET_QUANTILE) + 1e-12
    for step in range(index, len(times)):
        if curve[step] <= goal:
            return max(times[step] - elapsed, 0.0)
    return None


# Few distinct values, so ties between finished and running operations, and queries landing
# exactly on a step, are common.
DURATIONS = st.one_of(st.integers(0, 12).map(lambda n: n / 4), st.floats(0.0, 5.0))


@given(
    st.lists(DURATIONS, max_size=80),
    st.lists(DURATIONS, max_size=80),
    st.lists(DURATIONS, min_size=1, max_size=10),
)
def test_remaining_bisects_to_the_same_answer_as_a_linear_scan(
    done: list[float], running: list[float], queries: list[float]
) -> None:
    model = DurationModel()
    for d in done:
        model.observe(d)
    for op, e in enumerate(running):
        model.observe_running(op, e)
    for elapsed in queries:
        assert model.remaining(elapsed) == linear_remaining(done, running, elapsed)
