"""Tests for orchestrator.limits, on virtual time (see virtual_clock.py)."""

from __future__ import annotations

import asyncio
import contextlib
import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from virtual_clock import VirtualClockLoop, VirtualDeadlockError, run_virtual

from orchestrator.limits import (
    CallKind,
    LimiterRegistry,
    LimitSpec,
    SlidingWindow,
    SlidingWindowLimiter,
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


def reference_next_allowed(log: list[float], calls: int, seconds: float, now: float) -> float:
    """Brute force: the first candidate time >= now with fewer than `calls` starts in its window."""
    candidates = sorted({now, *(s + seconds for s in log if s + seconds >= now)})
    for t in candidates:
        if sum(1 for s in log if s <= t and s + seconds > t) < calls:
            return t
    raise AssertionError("some candidate must be free")


@given(
    calls=st.integers(1, 8),
    seconds=st.floats(0.1, 100.0),
    gaps=st.lists(st.floats(0.0, 50.0), min_size=1, max_size=40),
)
def test_window_grants_the_earliest_time_with_room_and_never_more(
    calls: int, seconds: float, gaps: list[float]
) -> None:
    window = SlidingWindow(calls, seconds)
    log: list[float] = []
    now = 0.0
    for gap in gaps:
        now += gap
        allowed = window.next_allowed(now)
        assert allowed == reference_next_allowed(log, calls, seconds, now)
        window.record(allowed)
        log.append(allowed)
        now = allowed
    assert all(log[i + calls] >= log[i] + seconds for i in range(len(log) - calls))


def test_window_has_room_until_full_then_frees_when_the_oldest_start_leaves() -> None:
    window = SlidingWindow(2, 10.0)
    assert window.free_at() == -math.inf
    window.record(1.0)
    window.record(3.0)
    assert window.next_allowed(5.0) == 11.0
    assert window.next_allowed(11.0) == 11.0


def test_window_refuses_a_start_without_room() -> None:
    window = SlidingWindow(1, 10.0)
    window.record(0.0)
    with pytest.raises(ValueError, match="no free slot"):
        window.record(9.999)


def test_window_refuses_time_going_backwards() -> None:
    window = SlidingWindow(5, 10.0)
    window.record(5.0)
    with pytest.raises(ValueError, match="backwards"):
        window.record(4.0)


def test_window_forget_gives_a_slot_back() -> None:
    window = SlidingWindow(1, 10.0)
    window.record(2.0)
    window.forget(2.0)
    assert window.next_allowed(2.0) == 2.0
    window.forget(2.0)  # already gone: nothing to give back
    assert len(window) == 0


@pytest.mark.parametrize(("calls", "seconds"), [(0, 1.0), (1, 0.0), (1, -1.0), (1, math.inf)])
def test_window_rejects_a_nonsense_limit(calls: int, seconds: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        SlidingWindow(calls, seconds)


# --- SlidingWindowLimiter --------------------------------------------------------------------


def test_default_margin_is_two_percent_capped_at_half_a_second() -> None:
    assert default_margin(6.0) == pytest.approx(0.12)
    assert default_margin(60.0) == 0.5
    assert SlidingWindowLimiter(200, 3600, name="x").margin == 0.5


def test_margin_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="margin"):
        SlidingWindowLimiter(1, 1.0, name="x", margin=-0.1)


def test_a_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="per_seconds"):
        SlidingWindowLimiter(1, -60.0, name="x")


async def acquire_at(limiter: SlidingWindowLimiter, at: float, priority: float = 0.0) -> float:
    """Wait until loop time `at`, acquire, and return the start time."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(at - loop.time())
    await limiter.acquire(priority)
    return loop.time()


def test_the_first_window_admits_calls_at_once_and_the_next_waits_a_full_window() -> None:
    limiter = SlidingWindowLimiter(5, 10.0, name="set")

    async def main() -> list[float]:
        return await asyncio.gather(*(acquire_at(limiter, 100.0) for _ in range(6)))

    starts = run_virtual(main(), start=100.0)
    assert starts == [100.0] * 5 + [100.0 + 10.0 + limiter.margin]


def test_acquire_with_a_free_slot_returns_without_yielding_to_the_loop() -> None:
    limiter = SlidingWindowLimiter(2, 10.0, name="get")

    async def main() -> None:
        step = limiter.acquire().__await__()
        with pytest.raises(StopIteration):
            step.send(None)

    run_virtual(main())
    assert limiter.acquired == 1


@pytest.mark.parametrize(
    ("calls", "per_seconds", "windows"), [(200, 60.0, 50), (200, 6.0, 50), (10_000, 3600.0, 5)]
)
def test_continuous_demand_reaches_97_percent_of_the_limit(
    calls: int, per_seconds: float, windows: int
) -> None:
    limiter = SlidingWindowLimiter(calls, per_seconds, name="set")
    starts: list[float] = []

    async def worker(jobs: int) -> None:
        for _ in range(jobs):
            await limiter.acquire()
            starts.append(asyncio.get_running_loop().time())

    async def main() -> None:
        await asyncio.gather(*(worker(windows) for _ in range(calls)))

    run_virtual(main())
    # The first window's burst is free; the rate is what follows it.
    rate = (len(starts) - calls) / (starts[-1] - starts[0])
    assert rate >= 0.97 * calls / per_seconds
    assert most_in_any_window(starts, per_seconds) == calls


def test_waiters_start_by_priority_then_in_arrival_order() -> None:
    limiter = SlidingWindowLimiter(1, 1.0, name="set", margin=0.0)
    order: list[str] = []

    async def waiter(label: str, priority: float) -> None:
        await limiter.acquire(priority)
        order.append(label)

    async def main() -> None:
        await limiter.acquire()  # takes the only slot, so everyone below queues
        waiters = [("c", 3.0), ("a1", 1.0), ("b", 2.0), ("a2", 1.0), ("z", 0.0)]
        await asyncio.gather(*(waiter(label, p) for label, p in waiters))

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
        await limiter.acquire()
        asyncio.get_running_loop().call_at(10.0, newcomer)
        return await acquire_at(limiter, 1.0)

    assert run_virtual(main()) == 10.0
    assert newcomer_started_at_once == [False]
    assert (limiter.acquired, limiter.waiting) == (2, 0)


def test_a_timer_run_early_by_a_coarse_loop_clock_does_not_start_a_call_early() -> None:
    limiter = SlidingWindowLimiter(1, 10.0, name="set", margin=0.0)

    async def main() -> float:
        await limiter.acquire()
        # With a 0.5 s clock resolution, asyncio runs the limiter's t=10 timer along with this
        # t=9.8 one, while the loop's clock still reads 9.8.
        asyncio.get_running_loop().call_at(9.8, lambda: None)
        return await acquire_at(limiter, 1.0)

    assert run_virtual(main(), clock_resolution=0.5) == 10.0


def test_a_waiter_cancelled_in_the_queue_never_takes_a_slot() -> None:
    limiter = SlidingWindowLimiter(1, 10.0, name="set", margin=0.0)

    async def main() -> float:
        await limiter.acquire()
        cancelled = asyncio.create_task(acquire_at(limiter, 0.0))
        kept = asyncio.create_task(acquire_at(limiter, 0.0))
        await asyncio.sleep(1.0)
        assert limiter.waiting == 2
        cancelled.cancel()
        return await kept

    assert run_virtual(main()) == 10.0
    assert (limiter.acquired, limiter.waiting) == (2, 0)


def test_a_waiter_cancelled_after_its_grant_but_before_it_runs_gives_the_slot_back() -> None:
    limiter = SlidingWindowLimiter(1, 10.0, name="set", margin=0.0)
    seen_at_cancel: list[tuple[int, int]] = []

    async def main() -> float:
        loop = asyncio.get_running_loop()
        await limiter.acquire()
        granted = asyncio.create_task(acquire_at(limiter, 0.0))
        kept = asyncio.create_task(acquire_at(limiter, 0.0))
        await asyncio.sleep(1.0)  # both queue; the limiter's timer is set for t=10 from t=0
        assert limiter.waiting == 2

        def cancel_granted() -> None:
            # Runs right after the limiter's timer at t=10, before `granted` can resume.
            seen_at_cancel.append((limiter.acquired, limiter.waiting))
            granted.cancel()

        loop.call_at(10.0, cancel_granted)
        start = await kept
        assert granted.cancelled()
        return start

    assert run_virtual(main()) == 10.0
    assert seen_at_cancel == [(2, 1)]  # the grant had happened: this was the race under test
    assert limiter.acquired == 2


def test_nothing_starts_during_a_pause_and_the_full_rate_resumes_after_it() -> None:
    limiter = SlidingWindowLimiter(3, 10.0, name="get", margin=0.0)

    async def main() -> list[float]:
        limiter.pause(30.0)
        return await asyncio.gather(*(acquire_at(limiter, 1.0) for _ in range(4)))

    assert run_virtual(main()) == [30.0, 30.0, 30.0, 40.0]
    assert limiter.pauses == 1
    assert limiter.paused_until == 30.0


def test_a_shorter_pause_does_not_shorten_a_longer_one() -> None:
    limiter = SlidingWindowLimiter(3, 10.0, name="get")

    async def main() -> float:
        limiter.pause(30.0)
        await asyncio.sleep(1.0)
        limiter.pause(5.0)
        return await acquire_at(limiter, 2.0)

    assert run_virtual(main()) == 30.0
    assert limiter.pauses == 2
    assert limiter.paused_until == 30.0


def test_a_longer_pause_extends_a_shorter_one_for_those_already_waiting() -> None:
    limiter = SlidingWindowLimiter(3, 10.0, name="get")

    async def main() -> float:
        limiter.pause(5.0)
        waiter = asyncio.create_task(acquire_at(limiter, 1.0))
        await asyncio.sleep(2.0)
        limiter.pause(20.0)
        return await waiter

    assert run_virtual(main()) == 22.0


def test_next_free_at_tells_when_the_window_or_a_pause_lets_the_next_call_start() -> None:
    limiter = SlidingWindowLimiter(2, 10.0, name="set", margin=0.0)
    assert limiter.next_free_at() == 0.0

    async def main() -> tuple[float, float]:
        await limiter.acquire()
        await limiter.acquire()
        full = limiter.next_free_at()
        limiter.pause(100.0)
        return full, limiter.next_free_at()

    assert run_virtual(main(), start=50.0) == (60.0, 150.0)


def test_the_repr_names_the_limit_and_shows_its_state() -> None:
    limiter = SlidingWindowLimiter(200, 60.0, name="run/set")

    async def main() -> str:
        await limiter.acquire()
        limiter.pause(5.0)
        return repr(limiter)

    text = run_virtual(main())
    assert text.startswith("<SlidingWindowLimiter 'run/set' 200 per 60s + 0.5s margin [")
    assert "log: 1/200" in text
    assert "acquired: 1, pauses: 1, paused until 5.000" in text


def test_a_nan_priority_is_refused() -> None:
    limiter = SlidingWindowLimiter(1, 1.0, name="x")
    with pytest.raises(ValueError, match="NaN"):
        run_virtual(limiter.acquire(math.nan))


# --- the property: never over the limit, everyone served, pauses and priority honoured ------


@dataclass(frozen=True)
class Acquirer:
    arrival: float
    priority: float
    cancel_after: float | None  # seconds after its arrival, or never


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
    starts: dict[int, float]
    pauses: list[tuple[float, float]]  # (loop time of the call, loop time it lasts until)
    cancels: list[float]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    calls = draw(st.integers(1, 50))
    per_seconds = draw(st.floats(0.5, 120.0))
    # Whole quarter-windows make arrivals, window edges, cancels and pauses coincide often.
    quarter = per_seconds / 4

    def moment(quarters: int) -> st.SearchStrategy[float]:
        grid = st.integers(0, quarters).map(lambda k: k * quarter)
        return st.one_of(grid, st.floats(0.0, quarters * quarter))

    acquirer = st.builds(
        Acquirer, moment(12), st.integers(0, 3).map(float), st.one_of(st.none(), moment(8))
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
        await limiter.acquire(a.priority)
        out.starts[i] = loop.time()

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
    # After the last arrival and pause, the queue drains at `calls` per window at worst.
    quiet_from = max([a.arrival for a in sc.acquirers] + [at + s for at, s in sc.pauses])
    window = sc.per_seconds + limiter.margin
    drained_by = quiet_from + (len(tasks) // sc.calls + 1) * window + 1.0
    last_pause = asyncio.sleep(max((at for at, _ in sc.pauses), default=0.0) + 1.0)
    await asyncio.wait_for(asyncio.gather(*tasks, last_pause, return_exceptions=True), drained_by)
    return out


def assert_work_conserving(out: Outcome, window: float, calls: int) -> None:
    """Whenever someone waited, every slot was taken or a pause was on, at every moment a slot
    could have freed up."""
    starts = sorted(out.starts.values())
    moments = sorted(
        {*out.arrivals.values(), *(s + window for s in starts), *(u for _, u in out.pauses)}
        | set(out.cancels)
    )

    def blocked(t: float) -> bool:
        in_window = bisect_right(starts, t) - bisect_right(starts, t, key=lambda s: s + window)
        return in_window >= calls or any(p <= t < until for p, until in out.pauses)

    for i, start in out.starts.items():
        arrival = out.arrivals[i]
        for t in moments[bisect_left(moments, arrival) : bisect_left(moments, start)]:
            assert blocked(t), f"acquirer {i} waited at {t} with a free slot"


def assert_priority_order(out: Outcome, sc: Scenario) -> None:
    """Whoever started while another was already waiting ranked no lower than it."""
    for x, sx in out.starts.items():
        for y, sy in out.starts.items():
            if out.arrivals[y] < sx < sy:
                px, py = sc.acquirers[x].priority, sc.acquirers[y].priority
                assert px < py or (px == py and out.arrivals[x] <= out.arrivals[y])


@settings(deadline=None, max_examples=200)
@given(sc=scenarios())
def test_starts_never_exceed_the_limit_and_every_live_acquirer_starts(sc: Scenario) -> None:
    out = run_virtual(play(sc), start=1000.0)
    starts = sorted(out.starts.values())
    assert all(
        starts[i + sc.calls] >= starts[i] + sc.per_seconds for i in range(len(starts) - sc.calls)
    )
    assert most_in_any_window(starts, sc.per_seconds) <= sc.calls
    never_cancelled = {i for i, a in enumerate(sc.acquirers) if a.cancel_after is None}
    assert never_cancelled <= out.starts.keys()
    assert (out.limiter.acquired, out.limiter.waiting) == (len(starts), 0)
    for p, until in out.pauses:
        assert not any(p < s < until for s in starts), "a call started during a pause"
    assert out.limiter.pauses == len(sc.pauses)
    assert_work_conserving(out, sc.per_seconds + out.limiter.margin, sc.calls)
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
        await a.get.acquire()
        await b.get.acquire()
        await b.set.acquire()
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
