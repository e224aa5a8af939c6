"""SlidingWindow: the server-side limit is exact over every sliding window, and honest."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.emulator.windows import SlidingWindow


def test_calls_requests_are_admitted_then_the_next_is_refused() -> None:
    window = SlidingWindow(3, 60)
    assert [window.admit(t) for t in (0.0, 10.0, 20.0)] == [None, None, None]
    assert window.admit(25.0) == 35  # the request at 0 leaves the window at 60


def test_the_wait_is_rounded_up_and_at_least_one_second() -> None:
    window = SlidingWindow(1, 60)
    window.admit(0.0)
    assert window.admit(0.5) == 60  # 59.5 rounds up
    assert window.admit(59.9) == 1  # 0.1 rounds up to 1


def test_a_request_is_admitted_once_the_oldest_left_the_window() -> None:
    window = SlidingWindow(2, 10)
    window.admit(0.0)
    window.admit(1.0)
    assert window.admit(9.999) == 1
    assert window.admit(10.0) is None  # the window is (t - 10, t]: the start at 0 is out


def test_a_refused_request_does_not_count_against_the_limit() -> None:
    window = SlidingWindow(1, 10)
    window.admit(0.0)
    for t in (1.0, 2.0, 3.0):
        assert window.admit(t) is not None
    assert window.admit(10.0) is None


def test_peak_counts_arrivals_whether_admitted_or_not() -> None:
    window = SlidingWindow(2, 10)
    for t in (0.0, 1.0, 2.0, 3.0):
        window.arrive(t)
    window.arrive(30.0)
    assert window.peak == 4


@settings(max_examples=200, deadline=None)
@given(
    calls=st.integers(1, 8),
    per=st.sampled_from([1.0, 2.5, 10.0, 60.0]),
    gaps=st.lists(st.floats(0.0, 20.0, allow_nan=False), min_size=1, max_size=60),
)
def test_admissions_never_exceed_the_limit_and_refusals_happen_only_when_full(
    calls: int, per: float, gaps: list[float]
) -> None:

    window = SlidingWindow(calls, per)
    admitted: list[float] = []
    now = 0.0
    for gap in gaps:
        now += gap
        in_window = [t for t in admitted if t > now - per]
        wait = window.admit(now)
        if wait is None:
            assert len(in_window) < calls
            admitted.append(now)
        else:
            assert len(in_window) == calls
            assert wait >= 1
            assert now + wait >= min(in_window) + per  # honest: the oldest has left by then
            assert wait == max(1, math.ceil(min(in_window) + per - now))
    for start in admitted:
        assert sum(1 for t in admitted if start <= t < start + per) <= calls
