"""The duration model: a Kaplan-Meier estimate over finished and still-running operations, the
quantile it aims at, and when it is ready."""

from __future__ import annotations

import bisect

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from orchestrator.work.durations import MIN_SAMPLES, TARGET_QUANTILE, DurationModel, _kaplan_meier


def model_of(durations: list[float]) -> DurationModel:
    model = DurationModel()
    for d in durations:
        model.observe(d)
    return model


def test_the_model_gives_no_estimate_before_it_has_enough_samples() -> None:
    assert model_of([10.0] * (MIN_SAMPLES - 1)).remaining(0.0) is None


def test_the_model_estimates_time_left_from_known_durations() -> None:
    model = model_of([30.0, 10.0, 20.0, 50.0, 40.0])  # observed out of order
    assert model.remaining(0.0) == 50.0
    assert model.remaining(35.0) == 15.0  # of those longer than 35 s (40, 50), the slower


def test_the_model_gives_no_estimate_once_past_every_known_duration() -> None:
    assert model_of([10.0] * MIN_SAMPLES).remaining(10.0) is None


def test_the_model_aims_at_the_ninetieth_percentile() -> None:
    # Of ten operations taking 1..10 s, nine (90 %) are done after 9 s.
    assert model_of([float(d) for d in range(1, 11)]).remaining(0.0) == 9.0


@pytest.mark.parametrize(
    ("quantile", "from_start", "after_four"), [(0.5, 5.0, 3.0), (0.8, 8.0, 5.0), (0.95, 10.0, 6.0)]
)
def test_the_model_aims_at_the_quantile_it_is_asked_for(
    quantile: float, from_start: float, after_four: float
) -> None:
    """Of 1..10 s; and of those that ran past 4 s (5..10 s), conditionally."""
    model = model_of([float(d) for d in range(1, 11)])
    assert model.remaining(0.0, quantile) == from_start
    assert model.remaining(4.0, quantile) == after_four


def test_the_model_is_ready_once_enough_operations_finished() -> None:
    model = DurationModel()
    for n in range(MIN_SAMPLES):
        assert model.ready is False
        assert model.finished == n
        model.observe(1.0)
    assert model.ready is True


def test_running_operations_never_make_the_model_ready() -> None:
    model = DurationModel()
    for op in range(50):
        model.observe_running(op, 1.0)
    assert (model.ready, model.finished) == (False, 0)


def test_chance_done_is_the_share_of_known_operations_done_by_then() -> None:
    model = model_of([1.0, 2.0, 3.0, 4.0])
    assert [model.chance_done(t) for t in (0.5, 2.0, 3.5, 9.0)] == [0.0, 0.5, 0.75, 1.0]


def test_a_negative_duration_counts_as_zero() -> None:
    model = model_of([-3.0] + [1.0] * MIN_SAMPLES)
    assert model.chance_done(0.0) == pytest.approx(1 / 6)


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
# elapsed + (d - elapsed) may round one ulp below d: the model answers in seconds *remaining*.
@example(done=[0.0, 0.0, 0.0, 0.0, 65.64553762397547], running=[], elapsed=1.1339831535099236)
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
        within = sum(1 for d in longer if d - elapsed <= remaining)
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
