"""Tests for orchestrator.arm.limits, on virtual time (see virtual_clock.py)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from bisect import bisect_left
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from virtual_clock import VirtualClockLoop, VirtualDeadlockError, run_virtual

from orchestrator.arm.limits import (
    CallKind,
    LimiterRegistry,
    LimitSpec,
    SlidingWindow,
    SlidingWindowLimiter,
    Slot,
    default_margin,
)


def most_in_any_window(starts: list[float], seconds: float) -> int:
    """The largest number of ``starts`` inside one half-open window ``[t, t + seconds)``."""
    ordered = sorted(starts)
    return max(
        (bisect_left(ordered, s + seconds) - i for i, s in enumerate(ordered)),
        default=0,
    )


# --- the virtual clock the other tests rely on ---------------------------------------------


def test_virtual_clock_jumps_to_the_next_timer_instead_of_sleeping() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        before = loop.time()
        await asyncio.sleep(3600)
        return before, loop.time()

    before, after = run_virtual(main(), start=100.0)
    assert (before, after) == (100.0, 3700.0)


def test_virtual_clock_reports_a_deadlock_instead_of_hanging() -> None:
    loop = VirtualClockLoop(deadlock_grace=0.0)
    try:
        with pytest.raises(VirtualDeadlockError):
            loop.run_until_complete(loop.create_future())
    finally:
        loop.close()


# --- SlidingWindow: the pure arithmetic ------------------------------------------------------


def reference_next_allowed(
    ends: list[float], open_calls: int, calls: int, seconds: float, now: float
) -> float:
    """Brute force: the first candidate time >= now at which fewer than `calls` slots are taken,
    an open call taking one for good and an ended one until `seconds` after its end."""
    if open_calls >= calls:
        return math.inf
    candidates = sorted({now, *(e + seconds for e in ends if e + seconds >= now)})
    for t in candidates:
        if open_calls + sum(1 for e in ends if e + seconds > t) < calls:
            return t
    raise AssertionError("some candidate must be free")


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
    window = SlidingWindow(calls, seconds)
    ended: list[tuple[float, float]] = []  # (start, end) of each ended call
    ends: list[float] = []
    open_starts: list[float] = []
    all_starts: list[float] = []
    now = 0.0
    for gap, step, pick in steps:
        now += gap
        if step == "start":
            allowed = window.next_allowed(now)
            assert allowed == reference_next_allowed(ends, len(open_starts), calls, seconds, now)
            if allowed == math.inf:
                continue
            window.start(allowed)
            open_starts.append(allowed)
            all_starts.append(allowed)
            now = allowed
        elif open_starts:
            start = open_starts.pop(pick % len(open_starts))
            if step == "end":
                window.end(now)
                ended.append((start, now))
                ends.append(now)
            else:
                window.abandon()
                all_starts.remove(start)
        assert window.open == len(open_starts)
    # At every start, at most `calls` slots were taken: [start, end + seconds) or still open.
    taken = [(s, e + seconds) for s, e in ended] + [(s, math.inf) for s in open_starts]
    for t in all_starts:
        assert sum(1 for s, until in taken if s <= t < until) <= calls


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


# --- SlidingWindowLimiter --------------------------------------------------------------------


def test_default_margin_is_a_tenth_of_a_percent_for_clock_rates() -> None:
    assert default_margin(6.0) == pytest.approx(0.006)
    assert default_margin(60.0) == pytest.approx(0.06)
    assert SlidingWindowLimiter(200, 3600, name="x").margin == pytest.approx(3.6)


def test_margin_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="margin"):
        SlidingWindowLimiter(1, 1.0, name="x", margin=-0.1)


def test_a_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="per_seconds"):
        SlidingWindowLimiter(1, -60.0, name="x")


async def call_at(
    limiter: SlidingWindowLimiter, at: float, *, hold: float = 0.0, priority: float = 0.0
) -> Slot:
    """Wait until loop time `at`, acquire, hold the slot for `hold` seconds, release it."""
    await asyncio.sleep(at - asyncio.get_running_loop().time())
    with await limiter.acquire(priority) as slot:
        await asyncio.sleep(hold)
    return slot


async def start_at(limiter: SlidingWindowLimiter, at: float, priority: float = 0.0) -> float:
    """A call answered the moment it is granted: its grant time."""
    return (await call_at(limiter, at, priority=priority)).granted_at


def test_first_window_admits_calls_at_once_and_the_next_waits_a_window_past_an_answer() -> None:
    limiter = SlidingWindowLimiter(5, 10.0, name="set")

    async def main() -> list[Slot]:
        return await asyncio.gather(*(call_at(limiter, 100.0, hold=0.5) for _ in range(6)))

    slots = run_virtual(main(), start=100.0)
    assert [s.granted_at for s in slots] == [100.0] * 5 + [100.5 + 10.0 + limiter.margin]
    assert [s.released_at for s in slots] == [100.5] * 5 + [111.0 + limiter.margin]


def test_a_slot_is_taken_from_its_grant_until_a_window_after_its_release() -> None:
    limiter = SlidingWindowLimiter(1, 10.0, name="set", margin=0.0)

    async def main() -> tuple[Slot, float]:
        first = asyncio.create_task(call_at(limiter, 0.0, hold=3.0))
        second = await start_at(limiter, 1.0)
        return await first, second

    first, second = run_virtual(main())
    assert (first.granted_at, first.released_at, second) == (0.0, 3.0, 13.0)


def test_while_every_slot_is_in_flight_no_timer_runs_and_a_release_sets_one() -> None:
    limiter = SlidingWindowLimiter(1, 10.0, name="set", margin=0.0)
    reprs: list[str] = []

    async def main() -> float:
        slot = await limiter.acquire()
        waiter = asyncio.create_task(start_at(limiter, 0.0))
        await asyncio.sleep(5.0)
        reprs.append(repr(limiter))
        slot.release()
        reprs.append(repr(limiter))
        return await waiter

    assert run_virtual(main()) == 15.0
    assert "in flight: 1" in reprs[0] and "waking" not in reprs[0]
    assert "in flight: 0" in reprs[1] and "waking at 15.000" in reprs[1]


def test_releasing_a_slot_again_does_nothing() -> None:
    limiter = SlidingWindowLimiter(2, 10.0, name="set", margin=0.0)

    async def main() -> Slot:
        slot = await limiter.acquire()
        await asyncio.sleep(1.0)
        slot.release()
        await asyncio.sleep(1.0)
        slot.release()
        with slot:
            pass
        return slot

    slot = run_virtual(main())
    assert (slot.granted_at, slot.released_at) == (0.0, 1.0)
    assert (limiter.in_flight, limiter.acquired, repr(slot)) == (
        0,
        1,
        "<Slot 'set' granted 0.000, released 1.000>",
    )
    assert "log: 1/2" in repr(limiter)


def test_a_call_cancelled_in_flight_releases_its_slot_when_cancelled() -> None:
    limiter = SlidingWindowLimiter(1, 10.0, name="set", margin=0.0)
    slots: list[Slot] = []

    async def hung() -> None:
        with await limiter.acquire() as slot:
            slots.append(slot)
            await asyncio.sleep(3600.0)

    async def main() -> float:
        call = asyncio.create_task(hung())
        await asyncio.sleep(4.0)
        assert limiter.in_flight == 1
        call.cancel()
        return await start_at(limiter, 5.0)

    assert run_virtual(main()) == 14.0
    assert slots[0].released_at == 4.0
    assert limiter.in_flight == 0


def test_acquire_with_a_free_slot_returns_without_yielding_to_the_loop() -> None:
    limiter = SlidingWindowLimiter(2, 10.0, name="get")

    async def main() -> None:
        step = limiter.acquire().__await__()
        with pytest.raises(StopIteration) as done:
            step.send(None)
        assert isinstance(done.value.value, Slot)

    run_virtual(main())
    assert (limiter.acquired, limiter.in_flight) == (1, 1)


@pytest.mark.parametrize(
    ("calls", "per_seconds", "windows"), [(200, 60.0, 50), (200, 6.0, 50), (10_000, 3600.0, 5)]
)
def test_continuous_demand_with_short_requests_reaches_97_percent_of_the_limit(
    calls: int, per_seconds: float, windows: int
) -> None:
    limiter = SlidingWindowLimiter(calls, per_seconds, name="set")
    rng = random.Random(calls * windows)
    slots: list[Slot] = []

    async def worker(jobs: int) -> None:
        for _ in range(jobs):
            with await limiter.acquire() as slot:
                slots.append(slot)
                # 0-50 ms answers, one in ten at once
                await asyncio.sleep(0.0 if rng.random() < 0.1 else rng.uniform(0.0, 0.05))

    async def main() -> None:
        await asyncio.gather(*(worker(windows) for _ in range(calls)))

    run_virtual(main())
    grants = sorted(s.granted_at for s in slots)
    # The first window's burst is free; the rate is what follows it.
    rate = (len(grants) - calls) / (grants[-1] - grants[0])
    assert rate >= 0.97 * calls / per_seconds
    assert most_in_any_window(grants, per_seconds) == calls
    releases = [s.released_at for s in slots if s.released_at is not None]
    assert len(releases) == len(slots)
    assert most_in_any_window(releases, per_seconds) <= calls


def test_waiters_start_by_priority_then_in_arrival_order() -> None:
    limiter = SlidingWindowLimiter(1, 1.0, name="set", margin=0.0)
    order: list[str] = []

    async def waiter(label: str, priority: float) -> None:
        with await limiter.acquire(priority):
            order.append(label)

    async def main() -> None:
        with await limiter.acquire():  # takes the only slot, so everyone below queues
            waiters = [("c", 3.0), ("a1", 1.0), ("b", 2.0), ("a2", 1.0), ("z", 0.0)]
            calls = asyncio.gather(*(waiter(label, p) for label, p in waiters))
            await asyncio.sleep(0.5)
        await calls

    run_virtual(main())
    assert order == ["z", "a1", "a2", "b", "c"]


def test_a_newcomer_does_not_overtake_a_waiter_when_a_slot_frees_as_it_arrives() -> None:
    limiter = SlidingWindowLimiter(1, 10.0, name="set", margin=0.0)
    newcomer_started_at_once: list[bool] = []

    def newcomer() -> None:
        # Runs at t=10 just before the limiter's own timer, when the slot has freed but the
        # queued waiter has not been woken yet; driven by hand so it acquires right now.
        step = limiter.acquire().__await__()
        try:
            step.send(None)
        except StopIteration:
            newcomer_started_at_once.append(True)
            return
        newcomer_started_at_once.append(False)
        with contextlib.suppress(asyncio.CancelledError):
            step.throw(asyncio.CancelledError())

    async def main() -> float:
        with await limiter.acquire():
            pass
        asyncio.get_running_loop().call_at(10.0, newcomer)
        return await start_at(limiter, 1.0)

    assert run_virtual(main()) == 10.0
    assert newcomer_started_at_once == [False]
    assert (limiter.acquired, limiter.waiting, limiter.in_flight) == (2, 0, 0)


def test_a_timer_run_early_by_a_coarse_loop_clock_does_not_start_a_call_early() -> None:
    limiter = SlidingWindowLimiter(1, 10.0, name="set", margin=0.0)

    async def main() -> float:
        with await limiter.acquire():
            pass
        # With a 0.5 s clock resolution, asyncio runs the limiter's t=10 timer along with this
        # t=9.8 one, while the loop's clock still reads 9.8.
        asyncio.get_running_loop().call_at(9.8, lambda: None)
        return await start_at(limiter, 1.0)

    assert run_virtual(main(), clock_resolution=0.5) == 10.0


def test_a_waiter_cancelled_in_the_queue_never_takes_a_slot() -> None:
    limiter = SlidingWindowLimiter(1, 10.0, name="set", margin=0.0)

    async def main() -> float:
        with await limiter.acquire():
            pass
        cancelled = asyncio.create_task(start_at(limiter, 0.0))
        kept = asyncio.create_task(start_at(limiter, 0.0))
        await asyncio.sleep(1.0)
        assert limiter.waiting == 2
        cancelled.cancel()
        return await kept

    assert run_virtual(main()) == 10.0
    assert (limiter.acquired, limiter.waiting, limiter.in_flight) == (2, 0, 0)


def test_a_waiter_cancelled_after_its_grant_but_before_it_runs_gives_the_slot_back() -> None:
    limiter = SlidingWindowLimiter(1, 10.0, name="set", margin=0.0)
    seen_at_cancel: list[tuple[int, int, int]] = []

    async def main() -> float:
        loop = asyncio.get_running_loop()
        with await limiter.acquire():
            pass
        granted = asyncio.create_task(start_at(limiter, 0.0))
        kept = asyncio.create_task(start_at(limiter, 0.0))
        await asyncio.sleep(1.0)  # both queue; the limiter's timer is set for t=10 from t=0
        assert limiter.waiting == 2

        def cancel_granted() -> None:
            # Runs right after the limiter's timer at t=10, before `granted` can resume.
            seen_at_cancel.append((limiter.acquired, limiter.waiting, limiter.in_flight))
            granted.cancel()

        loop.call_at(10.0, cancel_granted)
        start = await kept
        assert granted.cancelled()
        return start

    # `kept` started at once, in the slot given back: the grant left no trace in the window.
    assert run_virtual(main()) == 10.0
    assert seen_at_cancel == [(2, 1, 1)]  # the grant had happened: this was the race under test
    assert (limiter.acquired, limiter.in_flight) == (2, 0)


def test_nothing_starts_during_a_pause_and_the_full_rate_resumes_after_it() -> None:
    limiter = SlidingWindowLimiter(3, 10.0, name="get", margin=0.0)

    async def main() -> list[float]:
        limiter.pause(30.0)
        return await asyncio.gather(*(start_at(limiter, 1.0) for _ in range(4)))

    assert run_virtual(main()) == [30.0, 30.0, 30.0, 40.0]
    assert limiter.pauses == 1
    assert limiter.paused_until == 30.0


def test_a_pause_holds_back_a_slot_freed_by_a_release_during_it() -> None:
    limiter = SlidingWindowLimiter(2, 10.0, name="set", margin=0.0)

    async def main() -> float:
        in_flight = [asyncio.create_task(call_at(limiter, 0.0, hold=5.0)) for _ in range(2)]
        await asyncio.sleep(1.0)
        limiter.pause(20.0)  # a 429 while both calls are in flight
        start = await start_at(limiter, 2.0)  # their slots free at 15, the pause ends at 21
        await asyncio.gather(*in_flight)
        return start

    assert run_virtual(main()) == 21.0


def test_a_shorter_pause_does_not_shorten_a_longer_one() -> None:
    limiter = SlidingWindowLimiter(3, 10.0, name="get")

    async def main() -> float:
        limiter.pause(30.0)
        await asyncio.sleep(1.0)
        limiter.pause(5.0)
        return await start_at(limiter, 2.0)

    assert run_virtual(main()) == 30.0
    assert limiter.pauses == 2
    assert limiter.paused_until == 30.0


def test_a_longer_pause_extends_a_shorter_one_for_those_already_waiting() -> None:
    limiter = SlidingWindowLimiter(3, 10.0, name="get")

    async def main() -> float:
        limiter.pause(5.0)
        waiter = asyncio.create_task(start_at(limiter, 1.0))
        await asyncio.sleep(2.0)
        limiter.pause(20.0)
        return await waiter

    assert run_virtual(main()) == 22.0


def test_next_free_at_tells_when_an_answer_the_window_or_a_pause_lets_a_call_start() -> None:
    limiter = SlidingWindowLimiter(2, 10.0, name="set", margin=0.0)
    assert limiter.next_free_at() == 0.0

    async def main() -> list[float]:
        seen = []
        first, second = await limiter.acquire(), await limiter.acquire()
        seen.append(limiter.next_free_at())  # both in flight: no answer, no end in sight
        await asyncio.sleep(2.0)
        first.release()
        seen.append(limiter.next_free_at())  # a window after the answer
        second.release()
        seen.append(limiter.next_free_at())  # releasing never makes it later
        limiter.pause(100.0)
        seen.append(limiter.next_free_at())
        return seen

    assert run_virtual(main(), start=50.0) == [math.inf, 62.0, 62.0, 152.0]


def test_the_repr_names_the_limit_and_shows_its_state() -> None:
    limiter = SlidingWindowLimiter(200, 60.0, name="run/set")

    async def main() -> str:
        await limiter.acquire()
        with await limiter.acquire():
            pass
        limiter.pause(5.0)
        return repr(limiter)

    text = run_virtual(main())
    assert text.startswith("<SlidingWindowLimiter 'run/set' 200 per 60s + 0.06s margin [")
    assert "in flight: 1, log: 1/200" in text
    assert "acquired: 2, pauses: 1, paused until 5.000" in text


def test_a_nan_priority_is_refused() -> None:
    limiter = SlidingWindowLimiter(1, 1.0, name="x")
    with pytest.raises(ValueError, match="NaN"):
        run_virtual(limiter.acquire(math.nan))


# --- the property: never over the limit, as sent or as the server counts, everyone served ----


@dataclass(frozen=True)
class Acquirer:
    arrival: float
    priority: float
    hold: float  # seconds from its grant until its answer
    cancel_after: float | None  # seconds after its arrival (queued or in flight), or never
    counted_at: float  # where between grant and release the server counts it, 0.0 to 1.0


@dataclass(frozen=True)
class Scenario:
    calls: int
    per_seconds: float
    margin: float | None
    acquirers: list[Acquirer]
    pauses: list[tuple[float, float]]  # (seconds after the start, how long)


@dataclass
class Outcome:
    limiter: SlidingWindowLimiter
    arrivals: dict[int, float]
    slots: dict[int, Slot]
    pauses: list[tuple[float, float]]  # (loop time of the call, loop time it lasts until)
    cancels: list[float]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    calls = draw(st.integers(1, 50))
    per_seconds = draw(st.floats(0.5, 120.0))
    # Whole quarter-windows make arrivals, answers, window edges, cancels and pauses coincide.
    quarter = per_seconds / 4

    def moment(quarters: int) -> st.SearchStrategy[float]:
        grid = st.integers(0, quarters).map(lambda k: k * quarter)
        return st.one_of(grid, st.floats(0.0, quarters * quarter))

    acquirer = st.builds(
        Acquirer,
        moment(12),
        st.integers(0, 3).map(float),
        st.one_of(st.just(0.0), moment(4)),
        st.one_of(st.none(), moment(8)),
        st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0)),
    )
    count = draw(st.integers(1, min(3 * calls + 5, 60)))
    acquirers = draw(st.lists(acquirer, min_size=count, max_size=count))
    pauses = draw(st.lists(st.tuples(moment(12), st.floats(0.0, per_seconds)), max_size=4))
    margin = draw(st.one_of(st.none(), st.just(0.0), st.floats(0.0, 2.0)))
    return Scenario(calls, per_seconds, margin, acquirers, pauses)


async def play(sc: Scenario) -> Outcome:
    loop = asyncio.get_running_loop()
    limiter = SlidingWindowLimiter(sc.calls, sc.per_seconds, name="p", margin=sc.margin)
    out = Outcome(limiter, {}, {}, [], [])

    async def acquirer(i: int, a: Acquirer) -> None:
        await asyncio.sleep(a.arrival)
        out.arrivals[i] = loop.time()
        with await limiter.acquire(a.priority) as slot:
            out.slots[i] = slot
            await asyncio.sleep(a.hold)

    def pause(seconds: float) -> None:
        limiter.pause(seconds)
        out.pauses.append((loop.time(), loop.time() + seconds))

    def cancel(task: asyncio.Task[None]) -> None:
        out.cancels.append(loop.time())
        task.cancel()

    t0 = loop.time()
    tasks = [asyncio.create_task(acquirer(i, a)) for i, a in enumerate(sc.acquirers)]
    for task, a in zip(tasks, sc.acquirers, strict=True):
        if a.cancel_after is not None:
            loop.call_at(t0 + a.arrival + a.cancel_after, cancel, task)
    for at, seconds in sc.pauses:
        loop.call_at(t0 + at, pause, seconds)
    # After the last arrival and pause, the queue drains at `calls` per (window + hold) at worst.
    quiet_from = max([a.arrival for a in sc.acquirers] + [at + s for at, s in sc.pauses])
    longest_hold = max(a.hold for a in sc.acquirers)
    cycle = sc.per_seconds + limiter.margin + longest_hold
    drained_by = quiet_from + (len(tasks) // sc.calls + 2) * cycle + 1.0
    last_pause = asyncio.sleep(max((at for at, _ in sc.pauses), default=0.0) + 1.0)
    await asyncio.wait_for(asyncio.gather(*tasks, last_pause, return_exceptions=True), drained_by)
    return out


def assert_at_most_calls_per_window(times: list[float], calls: int, per_seconds: float) -> None:
    ordered = sorted(times)
    assert all(ordered[i + calls] >= ordered[i] + per_seconds for i in range(len(ordered) - calls))
    assert most_in_any_window(ordered, per_seconds) <= calls


def server_counts(out: Outcome, sc: Scenario) -> list[float]:
    """When a server counting each call somewhere between its grant and its answer counts it."""
    counted = []
    for i, slot in out.slots.items():
        assert slot.released_at is not None
        at = slot.granted_at + sc.acquirers[i].counted_at * (slot.released_at - slot.granted_at)
        counted.append(min(max(at, slot.granted_at), slot.released_at))  # no rounding outside
    return counted


def assert_work_conserving(out: Outcome, window: float, calls: int) -> None:
    """Whenever someone waited, every slot was taken or a pause was on, at every moment a slot
    could have freed up."""
    taken = [(s.granted_at, (s.released_at or math.inf) + window) for s in out.slots.values()]
    moments = sorted(
        {*out.arrivals.values(), *(until for _, until in taken), *(u for _, u in out.pauses)}
        | set(out.cancels)
    )

    def blocked(t: float) -> bool:
        in_use = sum(1 for g, until in taken if g <= t < until)
        return in_use >= calls or any(p <= t < until for p, until in out.pauses)

    for i, slot in out.slots.items():
        arrival = out.arrivals[i]
        for t in moments[bisect_left(moments, arrival) : bisect_left(moments, slot.granted_at)]:
            assert blocked(t), f"acquirer {i} waited at {t} with a free slot"


def assert_priority_order(out: Outcome, sc: Scenario) -> None:
    """Whoever started while another was already waiting ranked no lower than it."""
    starts = {i: slot.granted_at for i, slot in out.slots.items()}
    for x, sx in starts.items():
        for y, sy in starts.items():
            if out.arrivals[y] < sx < sy:
                px, py = sc.acquirers[x].priority, sc.acquirers[y].priority
                assert px < py or (px == py and out.arrivals[x] <= out.arrivals[y])


@settings(deadline=None, max_examples=200)
@given(sc=scenarios())
def test_calls_never_exceed_the_limit_as_granted_answered_or_counted_and_all_are_served(
    sc: Scenario,
) -> None:
    out = run_virtual(play(sc), start=1000.0)
    grants = [slot.granted_at for slot in out.slots.values()]
    releases = [slot.released_at for slot in out.slots.values()]
    assert None not in releases, "a slot was never released"
    assert_at_most_calls_per_window(grants, sc.calls, sc.per_seconds)
    assert_at_most_calls_per_window(
        [r for r in releases if r is not None], sc.calls, sc.per_seconds
    )
    assert_at_most_calls_per_window(server_counts(out, sc), sc.calls, sc.per_seconds)
    never_cancelled = {i for i, a in enumerate(sc.acquirers) if a.cancel_after is None}
    assert never_cancelled <= out.slots.keys()
    for i in never_cancelled:
        slot = out.slots[i]
        assert slot.released_at == pytest.approx(slot.granted_at + sc.acquirers[i].hold)
    limiter = out.limiter
    assert (limiter.acquired, limiter.waiting, limiter.in_flight) == (len(grants), 0, 0)
    for p, until in out.pauses:
        assert not any(p < g < until for g in grants), "a call started during a pause"
    assert limiter.pauses == len(sc.pauses)
    assert_work_conserving(out, sc.per_seconds + limiter.margin, sc.calls)
    assert_priority_order(out, sc)


# --- LimiterRegistry -------------------------------------------------------------------------

SET = LimitSpec(calls=200, per_seconds=60.0)
GET = LimitSpec(calls=10_000, per_seconds=3600.0)


def test_run_scope_shares_one_pair_across_subscriptions() -> None:
    registry = LimiterRegistry(set_limit=SET, get_limit=GET, scope="run")
    assert registry.scope_for("sub-a") is registry.scope_for("SUB-B")
    assert len(registry.all()) == 1


def test_subscription_scope_keeps_subscriptions_apart_case_insensitively() -> None:
    registry = LimiterRegistry(set_limit=SET, get_limit=GET, scope="subscription")
    a = registry.scope_for("AAAA-1111")
    assert registry.scope_for("aaaa-1111") is a
    b = registry.scope_for("bbbb-2222")
    assert b is not a
    assert b.set is not a.set
    assert registry.all() == [a, b]
    assert a.set.name == "aaaa-1111/set"


def test_scope_limiters_carry_their_quota() -> None:
    pair = LimiterRegistry(set_limit=SET, get_limit=GET, scope="run").scope_for("s")
    assert (pair.set.calls, pair.set.per_seconds) == (200, 60.0)
    assert (pair.get.calls, pair.get.per_seconds) == (10_000, 3600.0)
    assert pair.for_kind(CallKind.GET) is pair.get
    assert pair.for_kind(CallKind.SET) is pair.set


def test_registry_built_outside_a_loop_works_inside_one_and_totals_add_up() -> None:
    registry = LimiterRegistry(set_limit=SET, get_limit=GET, scope="subscription")

    async def main() -> None:
        a, b = registry.scope_for("a"), registry.scope_for("b")
        for limiter in (a.get, b.get, b.set):
            with await limiter.acquire():
                pass
        a.set.pause(1.0)
        b.get.pause(1.0)

    run_virtual(main())
    totals = registry.totals()
    assert (totals.get_acquired, totals.set_acquired, totals.pauses) == (2, 1, 2)
    assert (totals.get_waiting, totals.set_waiting) == (0, 0)


def test_registry_rejects_an_unknown_scope() -> None:
    with pytest.raises(ValueError, match="scope"):
        LimiterRegistry(set_limit=SET, get_limit=GET, scope="tenant")  # type: ignore[arg-type]


def test_limit_spec_rejects_a_nonsense_quota() -> None:
    with pytest.raises(ValueError, match="calls"):
        LimitSpec(calls=0, per_seconds=60.0)
    with pytest.raises(ValueError, match="per_seconds"):
        LimitSpec(calls=1, per_seconds=0.0)


def test_registry_repr_shows_scope_and_quotas() -> None:
    registry = LimiterRegistry(set_limit=SET, get_limit=GET, scope="run")
    assert repr(registry) == ("<LimiterRegistry scope='run' set=200/60s get=10000/3600s scopes=0>")
