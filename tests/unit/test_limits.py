"""The limiter and its registry (orchestrator.arm.limits), on virtual time (see virtual_clock.py).

The window's pure arithmetic is test_window.py's. "No slot leaked" is proven by behaviour:
the next ``calls`` acquisitions are granted at once, or the window admits exactly what it should.
"""

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
from pydantic import ValidationError
from virtual_clock import VirtualClockLoop, VirtualDeadlockError, run_virtual

from orchestrator.arm.limits import (
    ASR_GET_QUOTA,
    ASR_SET_QUOTA,
    CallKind,
    LimitScope,
    Quota,
    SlidingWindowLimiter,
    Slot,
    default_margin,
)
from orchestrator.arm.registry import LimiterRegistry


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


def granted_at_once(limiter: SlidingWindowLimiter, *, reserve: int = 0) -> Slot | None:
    """Acquire by hand, on the running loop: the slot if granted without waiting, else None
    (the queued acquire is cancelled, leaving the limiter as it was)."""
    step = limiter.acquire(reserve=reserve).__await__()
    try:
        step.send(None)
    except StopIteration as done:
        slot = done.value
        assert isinstance(slot, Slot)
        return slot
    with contextlib.suppress(asyncio.CancelledError):
        step.throw(asyncio.CancelledError())
    return None


def admits_at_once(limiter: SlidingWindowLimiter) -> int:
    """How many calls would start right now (found by taking them, then giving them back)."""
    held = []
    while (slot := granted_at_once(limiter)) is not None:
        held.append(slot)
    for slot in held:
        slot.abandon()
    return len(held)


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
    assert (limiter.acquired, repr(slot)) == (1, "<Slot 'set' granted 0.000, released 1.000>")
    assert "log: 1/2" in repr(limiter)


def test_a_slot_released_twice_is_one_call_in_the_window() -> None:
    """One end logged, no slot leaked: one more call now, the next a window after the release."""
    limiter = SlidingWindowLimiter(2, 10.0, name="set", margin=0.0)

    async def main() -> list[float]:
        slot = await limiter.acquire()
        await asyncio.sleep(1.0)
        slot.release()
        slot.release()
        return list(await asyncio.gather(start_at(limiter, 2.0), start_at(limiter, 2.0)))

    assert run_virtual(main()) == [2.0, 11.0]


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
        assert granted_at_once(limiter) is None  # the hung call holds the only slot
        call.cancel()
        return await start_at(limiter, 5.0)

    assert run_virtual(main()) == 14.0
    assert slots[0].released_at == 4.0


def test_acquire_with_a_free_slot_returns_without_yielding_to_the_loop() -> None:
    limiter = SlidingWindowLimiter(2, 10.0, name="get")

    async def main() -> None:
        step = limiter.acquire().__await__()
        with pytest.raises(StopIteration) as done:
            step.send(None)
        assert isinstance(done.value.value, Slot)

    run_virtual(main())
    assert limiter.acquired == 1
    assert "in flight: 1" in repr(limiter)


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
    assert (limiter.acquired, limiter.waiting) == (2, 0)


def test_a_newcomer_that_gave_up_in_the_queue_leaks_no_slot() -> None:
    limiter = SlidingWindowLimiter(1, 10.0, name="set", margin=0.0)

    async def main() -> tuple[float, float]:
        with await limiter.acquire():
            pass
        assert granted_at_once(limiter) is None  # queued, then given up
        first = await start_at(limiter, 0.0)
        return first, await start_at(limiter, 0.0)

    assert run_virtual(main()) == (10.0, 20.0)  # each a window after the one before


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
    assert (limiter.acquired, limiter.waiting) == (2, 0)


def test_a_waiter_cancelled_in_the_queue_leaves_the_window_as_it_was() -> None:
    limiter = SlidingWindowLimiter(2, 10.0, name="set", margin=0.0)

    async def main() -> tuple[list[float], int]:
        held = [await limiter.acquire(), await limiter.acquire()]
        cancelled = asyncio.create_task(start_at(limiter, 0.0))
        await asyncio.sleep(1.0)
        cancelled.cancel()
        for slot in held:
            slot.release()
        later = [await start_at(limiter, 11.0), await start_at(limiter, 11.0)]
        await asyncio.sleep(10.0)
        return later, admits_at_once(limiter)

    # Both slots free a window after their release, and then both again: none went missing.
    assert run_virtual(main()) == ([11.0, 11.0], 2)


def test_a_waiter_cancelled_after_its_grant_but_before_it_runs_gives_the_slot_back() -> None:
    limiter = SlidingWindowLimiter(1, 10.0, name="set", margin=0.0)
    seen_at_cancel: list[tuple[int, int]] = []

    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        with await limiter.acquire():
            pass
        granted = asyncio.create_task(start_at(limiter, 0.0))
        kept = asyncio.create_task(start_at(limiter, 0.0))
        await asyncio.sleep(1.0)  # both queue; the limiter's timer is set for t=10 from t=0
        assert limiter.waiting == 2

        def cancel_granted() -> None:
            # Runs right after the limiter's timer at t=10, before `granted` can resume.
            seen_at_cancel.append((limiter.acquired, limiter.waiting))
            granted.cancel()

        loop.call_at(10.0, cancel_granted)
        start = await kept
        assert granted.cancelled()
        return start, await start_at(limiter, 10.0)

    # `kept` started at once, in the slot given back: the grant left no trace in the window,
    # so the next call waits one window after `kept`'s answer, no more.
    assert run_virtual(main()) == (10.0, 20.0)
    assert seen_at_cancel == [(2, 1)]  # the grant had happened: this was the race under test
    assert limiter.acquired == 3  # the first call, `kept` and the next; not the cancelled grant


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


@pytest.mark.parametrize(("pause", "expected"), [(None, 62.0), (100.0, 152.0)])
def test_a_call_starts_when_an_answer_the_window_and_any_pause_let_it(
    pause: float | None, expected: float
) -> None:
    """Was `next_free_at`: while both calls are in flight nothing may start; a window after the
    first answer one may (a second answer never makes that later); a pause holds it longer."""
    limiter = SlidingWindowLimiter(2, 10.0, name="set", margin=0.0)

    async def main() -> float:
        first, second = await limiter.acquire(), await limiter.acquire()
        assert granted_at_once(limiter) is None  # both in flight: no answer, no end in sight
        waiter = asyncio.create_task(start_at(limiter, 50.0))
        await asyncio.sleep(2.0)
        first.release()
        second.release()
        if pause is not None:
            limiter.pause(pause)
        return await waiter

    assert run_virtual(main(), start=50.0) == expected


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


# --- reserve: a listing leaves room for polls --------------------------------------------------


def test_a_call_with_a_reserve_starts_only_while_that_many_slots_stay_free() -> None:
    limiter = SlidingWindowLimiter(5, 10.0, name="get", margin=0.0)

    async def main() -> tuple[list[bool], list[bool]]:
        listing = [granted_at_once(limiter, reserve=2) is not None for _ in range(4)]
        polls = [granted_at_once(limiter) is not None for _ in range(3)]
        return listing, polls

    listing, polls = run_virtual(main())
    assert listing == [True, True, True, False]  # two of five left to others
    assert polls == [True, True, False]  # which calls without a reserve may take


def test_a_reserved_call_waits_until_enough_slots_free_up() -> None:
    limiter = SlidingWindowLimiter(3, 10.0, name="get", margin=0.0)

    async def main() -> float:
        for answered_at in (1.0, 2.0, 3.0):
            slot = await limiter.acquire()
            asyncio.get_running_loop().call_at(answered_at, slot.release)
        with await limiter.acquire(-1.0, reserve=1) as slot:
            return slot.granted_at

    # Slots free at 11, 12 and 13; a reserve of one needs two of three free: at 12.
    assert run_virtual(main()) == 12.0


def test_a_poll_queued_behind_a_listing_held_back_by_its_reserve_is_granted() -> None:
    """Waiters of different reserves never block each other, whatever their priorities."""
    limiter = SlidingWindowLimiter(3, 10.0, name="get", margin=0.0)
    grants: dict[str, float] = {}

    async def call(label: str, priority: float, reserve: int) -> None:
        with await limiter.acquire(priority, reserve=reserve) as slot:
            grants[label] = slot.granted_at
            await asyncio.sleep(1.0)

    async def main() -> None:
        held = [await limiter.acquire(-1.0, reserve=1) for _ in range(2)]  # a listing's pages
        page = asyncio.create_task(call("page", -1.0, 1))  # better priority, held by its reserve
        await asyncio.sleep(0.5)
        poll = asyncio.create_task(call("poll", 0.0, 0))
        await asyncio.sleep(0.5)
        for slot in held:
            slot.release()
        await asyncio.gather(page, poll)

    run_virtual(main())
    assert grants["poll"] == 0.5  # at once: the reserved slot is the poll's to take
    assert grants["page"] == 11.0  # a window after the held pages' answers at 1.0


def test_a_reserve_of_the_whole_quota_is_clamped_to_leave_the_call_one_slot() -> None:
    limiter = SlidingWindowLimiter(3, 10.0, name="get")

    async def main() -> list[bool]:
        return [granted_at_once(limiter, reserve=reserve) is not None for reserve in (99, 99)]

    assert run_virtual(main()) == [True, False]


def test_a_negative_reserve_reserves_nothing() -> None:
    limiter = SlidingWindowLimiter(2, 10.0, name="get")

    async def main() -> list[bool]:
        return [granted_at_once(limiter, reserve=-5) is not None for _ in range(3)]

    assert run_virtual(main()) == [True, True, False]


def test_spare_is_the_share_of_slots_free_now() -> None:
    limiter = SlidingWindowLimiter(4, 10.0, name="get", margin=0.0)

    async def main() -> list[float]:
        seen = [limiter.spare()]
        first, second = await limiter.acquire(), await limiter.acquire()
        seen.append(limiter.spare())
        first.release()
        second.abandon()
        seen.append(limiter.spare())  # the answered one holds its slot a window; not the other
        await asyncio.sleep(10.0)
        seen.append(limiter.spare())
        return seen

    assert run_virtual(main()) == [1.0, 0.5, 0.75, 1.0]


# --- Slot.abandon: a call that never left ----------------------------------------------------


def test_an_abandoned_slot_is_free_again_at_once_and_uncounted() -> None:
    limiter = SlidingWindowLimiter(1, 10.0, name="set", margin=0.0)

    async def main() -> tuple[Slot, float]:
        slot = await limiter.acquire()
        await asyncio.sleep(1.0)
        slot.abandon()
        return slot, await start_at(limiter, 1.0)

    slot, next_start = run_virtual(main())
    assert next_start == 1.0  # not a window later: nothing was sent
    assert slot.released_at == 1.0
    assert limiter.acquired == 1  # only the call that was sent


def test_abandoning_wakes_a_waiter_at_once() -> None:
    limiter = SlidingWindowLimiter(1, 10.0, name="set", margin=0.0)

    async def main() -> float:
        slot = await limiter.acquire()
        waiter = asyncio.create_task(start_at(limiter, 0.0))
        await asyncio.sleep(3.0)
        slot.abandon()
        return await waiter

    assert run_virtual(main()) == 3.0


def test_abandoning_twice_or_after_a_release_does_nothing() -> None:
    limiter = SlidingWindowLimiter(2, 10.0, name="set", margin=0.0)

    async def main() -> tuple[Slot, Slot, list[float]]:
        abandoned, released = await limiter.acquire(), await limiter.acquire()
        abandoned.abandon()
        abandoned.abandon()
        await asyncio.sleep(1.0)
        released.release()
        released.abandon()  # too late: it was sent and answered
        starts = list(await asyncio.gather(start_at(limiter, 2.0), start_at(limiter, 2.0)))
        return abandoned, released, starts

    abandoned, released, starts = run_virtual(main())
    assert (abandoned.released_at, released.released_at) == (0.0, 1.0)
    assert starts == [2.0, 11.0]  # the released call's slot is still taken for its window
    assert limiter.acquired == 3


def test_releasing_an_abandoned_slot_does_nothing() -> None:
    limiter = SlidingWindowLimiter(1, 10.0, name="set", margin=0.0)

    async def main() -> float:
        slot = await limiter.acquire()
        slot.abandon()
        slot.release()
        with slot:
            pass
        return await start_at(limiter, 0.0)

    assert run_virtual(main()) == 0.0


# --- the property: never over the limit, as sent or as the server counts, everyone served ----


@dataclass(frozen=True)
class Acquirer:
    arrival: float
    priority: float
    hold: float  # seconds from its grant until its answer
    cancel_after: float | None  # seconds after its arrival (queued or in flight), or never
    counted_at: float  # where between grant and release the server counts it, 0.0 to 1.0
    reserve: int = 0  # slots it leaves free for others (a listing's pages ask for some)


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
    admitted_after: int = 0  # calls the limiter admits at once once everything is long over


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
        st.one_of(st.just(0), st.integers(0, 3)),
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
        with await limiter.acquire(a.priority, reserve=a.reserve) as slot:
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
    usable = max(sc.calls - max(a.reserve for a in sc.acquirers), 1)  # by the worst reserve
    drained_by = quiet_from + (len(tasks) // usable + 2) * cycle + 1.0
    last_pause = asyncio.sleep(max((at for at, _ in sc.pauses), default=0.0) + 1.0)
    await asyncio.wait_for(asyncio.gather(*tasks, last_pause, return_exceptions=True), drained_by)
    # A window and any pause later, every slot must be free again.
    pause_left = max((until for _, until in out.pauses), default=0.0) - loop.time()
    await asyncio.sleep(max(pause_left, 0.0) + sc.per_seconds + limiter.margin + 1.0)
    out.admitted_after = admits_at_once(limiter)
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


def effective_reserve(a: Acquirer, calls: int) -> int:
    """The reserve the limiter applies: never below 0, always leaving the call one slot."""
    return min(max(a.reserve, 0), calls - 1)


def assert_work_conserving(out: Outcome, sc: Scenario, window: float) -> None:
    """Whenever someone waited, every slot it could use (all but its reserve) was taken or a
    pause was on, at every moment a slot could have freed up."""
    calls = sc.calls
    taken = [(s.granted_at, (s.released_at or math.inf) + window) for s in out.slots.values()]
    moments = sorted(
        {*out.arrivals.values(), *(until for _, until in taken), *(u for _, u in out.pauses)}
        | set(out.cancels)
    )

    def blocked(t: float, reserve: int) -> bool:
        in_use = sum(1 for g, until in taken if g <= t < until)
        return in_use >= calls - reserve or any(p <= t < until for p, until in out.pauses)

    for i, slot in out.slots.items():
        arrival = out.arrivals[i]
        reserve = effective_reserve(sc.acquirers[i], calls)
        for t in moments[bisect_left(moments, arrival) : bisect_left(moments, slot.granted_at)]:
            assert blocked(t, reserve), f"acquirer {i} waited at {t} with a free slot"


def assert_priority_order(out: Outcome, sc: Scenario) -> None:
    """Whoever started while another was already waiting ranked no lower than it, unless the
    other was held back by a larger reserve (then it could not have started instead)."""
    starts = {i: slot.granted_at for i, slot in out.slots.items()}
    reserves = {i: effective_reserve(a, sc.calls) for i, a in enumerate(sc.acquirers)}
    for x, sx in starts.items():
        for y, sy in starts.items():
            if out.arrivals[y] < sx < sy and reserves[y] <= reserves[x]:
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
    assert (limiter.acquired, limiter.waiting) == (len(grants), 0)
    assert out.admitted_after == sc.calls, "a slot leaked: the idle window admits fewer calls"
    for p, until in out.pauses:
        assert not any(p < g < until for g in grants), "a call started during a pause"
    assert limiter.pauses == len(sc.pauses)
    assert_work_conserving(out, sc, sc.per_seconds + limiter.margin)
    assert_priority_order(out, sc)


# --- Quota and scopes ---------------------------------------------------------------------


def test_asrs_quotas_are_designs() -> None:
    assert (ASR_SET_QUOTA.calls, ASR_SET_QUOTA.per_seconds) == (200, 60.0)
    assert (ASR_GET_QUOTA.calls, ASR_GET_QUOTA.per_seconds) == (10_000, 3_600.0)


def test_a_quota_makes_a_limiter_with_the_default_margin() -> None:
    limiter = Quota(calls=5, per_seconds=10).limiter("run/get")
    assert (limiter.name, limiter.calls, limiter.per_seconds) == ("run/get", 5, 10.0)
    assert limiter.margin == pytest.approx(default_margin(10.0))


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({"calls": 0, "per_seconds": 60.0}, "calls"),
        ({"calls": 1, "per_seconds": 0.0}, "per_seconds"),
        ({"calls": 1, "per_seconds": 86_401}, "per_seconds"),
        ({"calls": 1, "per_seconds": math.inf}, "per_seconds"),
        ({"calls": 1, "per_seconds": math.nan}, "per_seconds"),
        ({"calls": True, "per_seconds": 60}, "calls"),
        ({"calls": "200", "per_seconds": 60}, "calls"),
        ({"calls": 2.0, "per_seconds": 60}, "calls"),
        ({"calls": 1, "per_seconds": "60"}, "per_seconds"),
        ({"calls": 1, "per_seconds": False}, "per_seconds"),
        ({"calls": 1}, "per_seconds"),
        ({"calls": 1, "per_seconds": 1, "burst": 2}, "burst"),
    ],
)
def test_a_quota_refuses_nonsense_and_anything_but_numbers(
    fields: dict[str, object], key: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        Quota.model_validate(fields)
    assert [error["loc"] for error in raised.value.errors()] == [(key,)]


def test_a_quota_takes_a_whole_number_of_seconds_as_a_float() -> None:
    assert Quota(calls=1, per_seconds=60).per_seconds == 60.0


def test_a_quota_is_frozen() -> None:
    with pytest.raises(ValidationError):
        ASR_SET_QUOTA.calls = 1  # type: ignore[misc]


def test_limit_scopes_are_the_configs_words() -> None:
    assert [scope.value for scope in LimitScope] == ["run", "subscription"]
    assert LimitScope("run") is LimitScope.RUN


# --- LimiterRegistry -------------------------------------------------------------------------

SET = Quota(calls=200, per_seconds=60.0)
GET = Quota(calls=10_000, per_seconds=3600.0)


def test_run_scope_shares_one_pair_across_subscriptions() -> None:
    registry = LimiterRegistry(set_limit=SET, get_limit=GET, scope=LimitScope.RUN)
    assert registry.scope_for("sub-a") is registry.scope_for("SUB-B")
    assert registry.scope_for("sub-a").set.name == "run/set"
    assert repr(registry).endswith("scopes=1>")


def test_subscription_scope_keeps_subscriptions_apart_case_insensitively() -> None:
    registry = LimiterRegistry(set_limit=SET, get_limit=GET, scope=LimitScope.SUBSCRIPTION)
    a = registry.scope_for("AAAA-1111")
    assert registry.scope_for("aaaa-1111") is a
    b = registry.scope_for("bbbb-2222")
    assert b is not a
    assert b.set is not a.set
    assert b.get is not a.get
    assert (a.set.name, b.get.name) == ("aaaa-1111/set", "bbbb-2222/get")
    assert repr(registry).endswith("scopes=2>")


def test_a_scope_is_given_as_the_enum_or_its_word() -> None:
    registry = LimiterRegistry(set_limit=SET, get_limit=GET, scope="subscription")  # type: ignore[arg-type]
    assert registry.scope is LimitScope.SUBSCRIPTION


def test_scope_limiters_carry_their_quota() -> None:
    registry = LimiterRegistry(set_limit=SET, get_limit=GET, scope=LimitScope.RUN)
    pair = registry.scope_for("s")
    assert (pair.set.calls, pair.set.per_seconds) == (200, 60.0)
    assert (pair.get.calls, pair.get.per_seconds) == (10_000, 3600.0)
    assert pair.for_kind(CallKind.GET) is pair.get
    assert pair.for_kind(CallKind.SET) is pair.set
    assert registry.set_quota is SET


def test_registry_built_outside_a_loop_works_inside_one_and_totals_add_up() -> None:
    registry = LimiterRegistry(set_limit=SET, get_limit=GET, scope=LimitScope.SUBSCRIPTION)

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
    with pytest.raises(ValueError, match="LimitScope"):
        LimiterRegistry(set_limit=SET, get_limit=GET, scope="tenant")  # type: ignore[arg-type]


def test_registry_repr_shows_scope_and_quotas() -> None:
    registry = LimiterRegistry(set_limit=SET, get_limit=GET, scope=LimitScope.RUN)
    assert repr(registry) == ("<LimiterRegistry scope='run' set=200/60s get=10000/3600s scopes=0>")


@pytest.mark.parametrize(("calls", "reserve"), [(10_000, 1_000), (100, 10), (19, 1), (5, 0)])
def test_a_listing_leaves_a_tenth_of_the_get_quota_to_everything_else(
    calls: int, reserve: int
) -> None:
    registry = LimiterRegistry(
        set_limit=SET, get_limit=Quota(calls=calls, per_seconds=60), scope=LimitScope.RUN
    )
    assert registry.listing_reserve == reserve


def test_spare_is_the_share_of_a_subscriptions_get_quota_free_now() -> None:
    registry = LimiterRegistry(
        set_limit=SET, get_limit=Quota(calls=4, per_seconds=10), scope=LimitScope.SUBSCRIPTION
    )

    async def main() -> list[float]:
        seen = [registry.spare("a")]
        held = await registry.scope_for("a").get.acquire()
        seen += [registry.spare("A"), registry.spare("b")]
        held.release()
        await asyncio.sleep(1.0)
        seen.append(registry.spare("a"))  # ended, but within its window: still taken
        await asyncio.sleep(10.0)
        seen.append(registry.spare("a"))
        return seen

    assert run_virtual(main()) == [1.0, 0.75, 1.0, 0.75, 1.0]
