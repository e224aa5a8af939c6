"""The sliding window's arithmetic (orchestrator.arm.window): plain floats, no event loop."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.arm.window import SlidingWindow


def reference_next_allowed(
    ends: list[float], open_calls: int, calls: int, seconds: float, now: float, reserve: int = 0
) -> float:
    """Brute force: the first candidate time >= now at which fewer than `calls - reserve` slots
    are taken, an open call taking one for good and an ended one until `seconds` after its end."""
    usable = calls - reserve
    if open_calls >= usable:
        return math.inf
    candidates = sorted({now, *(e + seconds for e in ends if e + seconds >= now)})
    for t in candidates:
        if open_calls + sum(1 for e in ends if e + seconds > t) < usable:
            return t
    raise AssertionError("some candidate must be free")


def reference_taken(ends: list[float], open_calls: int, seconds: float, now: float) -> int:
    """Open calls, and ended ones whose end is within ``seconds`` before ``now``."""
    return open_calls + sum(1 for e in ends if e > now - seconds)


@given(
    calls=st.integers(1, 8),
    seconds=st.floats(0.1, 100.0),
    steps=st.lists(
        st.tuples(
            st.floats(0.0, 50.0), st.sampled_from(["start", "end", "abandon"]), st.integers(0, 7)
        ),
        min_size=1,
        max_size=60,
    ),
)
def test_window_grants_the_earliest_time_with_room_and_never_more(
    calls: int, seconds: float, steps: list[tuple[float, str, int]]
) -> None:
    """Each start asks for a reserve of ``pick % calls`` slots left free for others."""
    window = SlidingWindow(calls, seconds)
    ends: list[float] = []
    # calls by number: (start, reserve), and the end of each ended one
    started: dict[int, tuple[float, int]] = {}
    ended_at: dict[int, float] = {}
    open_calls: list[int] = []
    numbers = itertools.count()
    now = 0.0
    for gap, step, pick in steps:
        now += gap
        assert window.taken(now) == reference_taken(ends, len(open_calls), seconds, now)
        if step == "start":
            reserve = pick % calls
            allowed = window.next_allowed(now, reserve)
            expected = reference_next_allowed(ends, len(open_calls), calls, seconds, now, reserve)
            assert allowed == expected
            if allowed == math.inf:
                continue
            window.start(allowed, reserve)
            call = next(numbers)
            started[call] = (allowed, reserve)
            open_calls.append(call)
            now = allowed
        elif open_calls:
            call = open_calls.pop(pick % len(open_calls))
            if step == "end":
                window.end(now)
                ended_at[call] = now
                ends.append(now)
            else:
                window.abandon()
                del started[call]  # never sent: it took no slot
        assert window.open == len(open_calls)
    # At every start, at most `calls - reserve` slots were taken, its own included (later
    # starts at the same moment aside): each call takes [start, end + seconds), or [start, ∞).
    until = {call: ended_at[call] + seconds if call in ended_at else math.inf for call in started}
    for number, (t, reserve) in started.items():
        in_use = sum(
            1 for call, (s, _) in started.items() if call <= number and s <= t < until[call]
        )
        assert in_use <= calls - reserve


def test_window_has_room_until_full_then_frees_a_window_after_the_oldest_end() -> None:
    window = SlidingWindow(2, 10.0)
    assert window.free_at() == -math.inf
    for start, end in [(1.0, 1.5), (3.0, 4.0)]:
        window.start(start)
        window.end(end)
    assert window.next_allowed(5.0) == 11.5
    assert window.next_allowed(11.5) == 11.5


def test_an_open_call_holds_its_slot_until_it_ends_and_a_window_more() -> None:
    window = SlidingWindow(1, 10.0)
    window.start(0.0)
    assert (window.open, window.free_at(), window.next_allowed(100.0)) == (1, math.inf, math.inf)
    window.end(3.0)
    assert (window.open, window.next_allowed(5.0)) == (0, 13.0)


def test_window_refuses_a_start_without_room() -> None:
    window = SlidingWindow(1, 10.0)
    window.start(0.0)
    with pytest.raises(ValueError, match="no free slot"):
        window.start(0.0)
    window.end(0.0)
    with pytest.raises(ValueError, match="no free slot"):
        window.start(9.999)


@pytest.mark.parametrize("step", ["start", "end"])
def test_window_refuses_time_going_backwards(step: str) -> None:
    window = SlidingWindow(5, 10.0)
    window.start(5.0)
    with pytest.raises(ValueError, match="backwards"):
        getattr(window, step)(4.0)


def test_window_refuses_to_end_a_call_that_is_not_open() -> None:
    window = SlidingWindow(1, 10.0)
    with pytest.raises(ValueError, match="no call is open"):
        window.end(1.0)
    with pytest.raises(ValueError, match="no call is open"):
        window.abandon()


def test_window_abandon_gives_a_slot_back_at_once() -> None:
    window = SlidingWindow(1, 10.0)
    window.start(2.0)
    window.abandon()
    assert window.next_allowed(2.0) == 2.0
    assert (window.open, len(window)) == (0, 0)


@pytest.mark.parametrize(("calls", "seconds"), [(0, 1.0), (1, 0.0), (1, -1.0), (1, math.inf)])
def test_window_rejects_a_nonsense_limit(calls: int, seconds: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        SlidingWindow(calls, seconds)


# --- reserve: room left for others ---------------------------------------------------------


def test_a_reserve_leaves_that_many_slots_to_calls_without_one() -> None:
    window = SlidingWindow(5, 10.0)
    for _ in range(3):
        window.start(0.0, reserve=2)
    assert window.next_allowed(0.0, reserve=2) == math.inf  # 3 taken, 2 must stay free
    with pytest.raises(ValueError, match="no free slot"):
        window.start(0.0, reserve=2)
    assert window.next_allowed(0.0, reserve=1) == 0.0
    window.start(0.0, reserve=1)
    window.start(0.0)  # the last slot is for a call that reserves nothing
    assert window.next_allowed(0.0) == math.inf


def test_a_reserved_start_waits_for_enough_ended_slots_to_free() -> None:
    window = SlidingWindow(3, 10.0)
    for _ in range(3):
        window.start(0.0)
    for end in (1.0, 2.0, 3.0):
        window.end(end)
    # Three ended calls: one slot frees at 11, two at 12, all three at 13.
    assert window.free_at() == 11.0
    assert window.free_at(reserve=1) == 12.0
    assert window.free_at(reserve=2) == 13.0
    assert window.next_allowed(12.5, reserve=1) == 12.5


def test_free_at_is_minus_infinity_while_there_is_room_beyond_the_reserve() -> None:
    window = SlidingWindow(4, 10.0)
    window.start(0.0)
    window.end(1.0)
    assert window.free_at(reserve=2) == -math.inf  # 1 taken, 2 reserved, 1 usable left
    assert window.free_at(reserve=3) == 11.0


def test_a_reserve_as_large_as_the_open_calls_allow_never_frees() -> None:
    window = SlidingWindow(2, 10.0)
    window.start(0.0)
    assert window.free_at(reserve=1) == math.inf  # the only usable slot is held open


# --- taken ----------------------------------------------------------------------------------


def test_taken_counts_open_calls_and_ended_ones_within_their_window() -> None:
    window = SlidingWindow(4, 10.0)
    window.start(0.0)
    window.start(0.0)
    window.end(2.0)
    assert window.taken(2.0) == 2
    assert window.taken(11.999) == 2
    assert window.taken(12.0) == 1  # a window after its end, the slot is free (as free_at says)
    assert window.open == 1


def test_an_abandoned_call_takes_nothing() -> None:
    window = SlidingWindow(2, 10.0)
    window.start(0.0)
    window.abandon()
    assert (window.taken(0.0), window.open, len(window)) == (0, 0, 0)


def test_the_log_keeps_only_as_many_ends_as_there_are_slots() -> None:
    window = SlidingWindow(2, 0.5)
    for t in range(5):
        window.start(float(t))
        window.end(float(t) + 0.25)
    assert len(window) == 2
    assert window.next_allowed(4.25) == 4.25  # the older of the last two ends freed at 3.75
    assert window.taken(4.25) == 1


def test_the_repr_shows_open_and_ended_calls_and_the_limit() -> None:
    window = SlidingWindow(3, 60.0)
    window.start(0.0)
    window.start(0.0)
    window.end(1.0)
    assert repr(window) == "<SlidingWindow 1 open, 1 ended/3 per 60.0s>"
