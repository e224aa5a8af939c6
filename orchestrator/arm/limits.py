"""Exact sliding-window rate limits for ARM calls, with scope-wide backoff after a 429.

The arithmetic is :mod:`orchestrator.arm.window`'s (read its docstring for why a call holds its
slot from grant to answer). :class:`SlidingWindowLimiter` does the waiting on the running loop's
clock and hands out :class:`Slot` handles (:mod:`orchestrator.arm.registry` keeps one GET/PATCH
pair per scope). :class:`Quota` is the one type of a limit, for the config and the limiter alike.

A call may ask for a *reserve*: it starts only while that many slots stay free for others. A
vault's listing asks for one, so a listing that never ends cannot spend the whole get budget and
starve the polls of other vaults' operations. Waiters of different reserves never block each
other: a poll behind a listing held back by its reserve is served.
"""

from __future__ import annotations

import asyncio
import math
from enum import StrEnum
from heapq import heappop, heappush
from itertools import count
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from orchestrator.arm.window import SlidingWindow

# Network lag needs no margin (see window.py). Clock *rates* do: the argument holds only if
# both sides measure the window in the same seconds, and an NTP-disciplined clock may be slewed
# by up to 500 ppm (the kernel's frequency-correction limit), ours one way and the server's the
# other. A 0.1 % wider window covers that, for 0.1 % of throughput.
DEFAULT_MARGIN_FRACTION: Final = 0.001


def default_margin(per_seconds: float) -> float:
    """The safety margin added to a window of ``per_seconds``: 0.1 % of it, for clock rates."""
    return DEFAULT_MARGIN_FRACTION * per_seconds


class CallKind(StrEnum):
    """Which ASR quota a call counts against: every GET is a get, every PATCH a set."""

    GET = "get"
    SET = "set"


class LimitScope(StrEnum):
    """Who shares one pair of limiters."""

    RUN = "run"  # one set of limiters for the whole run
    SUBSCRIPTION = "subscription"  # one set per subscription


class Quota(BaseModel):
    """A limit: at most ``calls`` calls in any sliding window of ``per_seconds``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    calls: StrictInt = Field(ge=1, description="The most calls in any window.")
    per_seconds: StrictFloat = Field(gt=0, le=86_400, description="The window, in seconds.")

    def limiter(self, name: str) -> SlidingWindowLimiter:
        """A fresh limiter enforcing this quota (with the default margin)."""
        return SlidingWindowLimiter(self.calls, self.per_seconds, name=name)


ASR_SET_QUOTA: Final = Quota(calls=200, per_seconds=60)
ASR_GET_QUOTA: Final = Quota(calls=10_000, per_seconds=3_600)


class Slot:
    """One call's place in its limiter's window, held from its grant until `release`.

    Release it once the call's answer has been read or the call failed; its place then stays
    taken for one window. `release` is idempotent. Use the slot as a context manager,
    ``with await limiter.acquire(priority): ...``, so that every way out of the call releases it,
    a cancellation included: a slot never released holds its place for good.
    """

    __slots__ = ("_limiter", "granted_at", "released_at")

    granted_at: float  #: loop time of the grant
    released_at: float | None  #: loop time of the release; None while the call is in flight

    def __init__(self, limiter: SlidingWindowLimiter, granted_at: float) -> None:
        self._limiter = limiter
        self.granted_at = granted_at
        self.released_at = None

    def release(self) -> None:
        """End the call now, on the limiter's loop. Releasing again does nothing."""
        if self.released_at is None:
            self.released_at = self._limiter._end_call()

    def abandon(self) -> None:
        """The call was never sent: give its place back at once, uncounted. Idempotent, and
        does nothing once released."""
        if self.released_at is None:
            self.released_at = self._limiter._abandon_call()

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "in flight" if self.released_at is None else f"released {self.released_at:.3f}"
        return f"<Slot {self._limiter.name!r} granted {self.granted_at:.3f}, {state}>"


Waiter = tuple[float, int, "asyncio.Future[Slot]"]  # (priority, arrival order, its future)


class SlidingWindowLimiter:
    """At most ``calls`` slots taken at once; a slot is taken from a call's grant until one window
    (``per_seconds`` + ``margin``) after its `Slot` is released.

    So the server, counting each call at some moment between its grant and its release, sees at
    most ``calls`` in any window of ``per_seconds``. The default margin, 0.1 % of the window,
    only covers the two clocks running at slightly different rates. Long-run throughput is
    ``calls / (per_seconds + margin + request latency)``.

    Waiters are ordered by ``priority`` (lower first), FIFO among equals, each class of
    ``reserve`` on its own queue; they are woken by a single ``loop.call_at`` timer, or by a
    release when every slot they may use is held by a call in flight. The only clock is the
    running loop's ``time()``. Building a limiter touches no event loop; use one on one loop.
    """

    __slots__ = (
        "_acquired",
        "_next_seq",
        "_paused_until",
        "_pauses",
        "_queued",
        "_timer",
        "_waiters",
        "_window",
        "calls",
        "margin",
        "name",
        "per_seconds",
    )

    name: str  #: for logs and the report, e.g. ``run/set``
    calls: int  #: the most calls in any window
    per_seconds: float  #: the window the server enforces
    margin: float  #: added to ``per_seconds`` for the window enforced here

    def __init__(
        self, calls: int, per_seconds: float, *, name: str, margin: float | None = None
    ) -> None:
        if not (math.isfinite(per_seconds) and per_seconds > 0):
            raise ValueError(f"per_seconds must be a positive number, not {per_seconds!r}")
        if margin is None:
            margin = default_margin(per_seconds)
        if not (math.isfinite(margin) and margin >= 0):
            raise ValueError(f"margin must be a number of seconds >= 0, not {margin!r}")
        self._window = SlidingWindow(calls, per_seconds + margin)
        self.name = name
        self.calls = calls
        self.per_seconds = per_seconds
        self.margin = margin
        # reserve -> min-heap of waiters; cancelled futures stay until they reach the top
        self._waiters: dict[int, list[Waiter]] = {}
        self._next_seq = count()
        self._queued = 0  # acquirers queued and not yet granted
        # the one timer that wakes the queues when the next slot frees or a pause ends; none
        # while every usable slot is held by a call in flight (its release wakes the queues)
        self._timer: asyncio.TimerHandle | None = None
        self._paused_until = 0.0  # loop time before which nothing starts; 0.0 if never paused
        self._pauses = 0
        self._acquired = 0

    @property
    def waiting(self) -> int:
        """Acquirers currently queued."""
        return self._queued

    @property
    def acquired(self) -> int:
        """Slots granted so far (a cancelled waiter's or an abandoned call's is not counted)."""
        return self._acquired

    @property
    def pauses(self) -> int:
        """How many times `pause` was called: the number of 429 backoffs."""
        return self._pauses

    @property
    def paused_until(self) -> float:
        """Loop time before which nothing starts; 0.0 if never paused."""
        return self._paused_until

    def spare(self) -> float:
        """The share of the quota free now (0..1): how much room the next window has."""
        now = asyncio.get_running_loop().time()
        return max(self.calls - self._window.taken(now), 0) / self.calls

    async def acquire(self, priority: float = 0.0, *, reserve: int = 0) -> Slot:
        """Wait until one more call may start within the limit, and take a slot for it.

        ``reserve``: start only while that many more slots stay free for others (at most
        ``calls - 1``). Release the slot when the call's answer has been read or the call
        failed (``abandon`` it if it was never sent); the idiom is ``with await
        limiter.acquire(priority): ...`` around the request. Returns without yielding to the
        loop when a slot is free, no pause is on and nobody is queued. Cancel-safe: a waiter
        cancelled before it resumes gives its slot back untaken.
        """
        if math.isnan(priority):
            raise ValueError("priority must be a number, not NaN")
        reserve = min(max(reserve, 0), self.calls - 1)
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not self._queued and self._startable_at(now, reserve) <= now:
            return self._grant(now, reserve)
        fut: asyncio.Future[Slot] = loop.create_future()
        heappush(self._waiters.setdefault(reserve, []), (priority, next(self._next_seq), fut))
        self._queued += 1
        self._wake()
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                # Granted, then cancelled before it could run: the slot was never used.
                self._window.abandon()
                self._acquired -= 1
            else:
                fut.cancel()
                self._queued -= 1
            self._wake()
            raise

    def pause(self, seconds: float) -> None:
        """Start nothing until ``seconds`` from now (scope-wide backoff after a 429).

        Extends, never shortens, a pause already on. Afterwards the full rate resumes, still
        within the window. Must be called on the loop the limiter runs on.
        """
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"a pause must be a number of seconds >= 0, not {seconds!r}")
        until = asyncio.get_running_loop().time() + seconds
        self._pauses += 1
        if until > self._paused_until:
            self._paused_until = until
            self._wake()

    def _startable_at(self, now: float, reserve: int) -> float:
        return max(self._window.next_allowed(now, reserve), self._paused_until)

    def _grant(self, now: float, reserve: int) -> Slot:
        self._window.start(now, reserve)
        self._acquired += 1
        return Slot(self, now)

    def _end_call(self) -> float:
        """`Slot.release`: log the call's end now and return the time."""
        now = asyncio.get_running_loop().time()
        self._window.end(now)
        # The slot frees only a window from now; `_wake` arms the timer for then.
        self._wake()
        return now

    def _abandon_call(self) -> float:
        """`Slot.abandon`: the call never left; its slot is free again now."""
        now = asyncio.get_running_loop().time()
        self._window.abandon()
        self._acquired -= 1
        self._wake()
        return now

    def _on_timer(self) -> None:
        self._timer = None
        self._wake()

    def _wake(self) -> None:
        """Grant every waiter that may start now, in order; arm the timer for the rest."""
        now = asyncio.get_running_loop().time()
        while (reserve := self._best_startable(now)) is not None:
            _, _, fut = heappop(self._waiters[reserve])
            self._queued -= 1
            fut.set_result(self._grant(now, reserve))
        self._arm_for_next(now)

    def _best_startable(self, now: float) -> int | None:
        """The reserve class of the first waiter (by priority, then arrival) that may start now."""
        best: tuple[float, int, int] | None = None  # (priority, arrival, reserve)
        for reserve, heap in self._waiters.items():
            while heap and heap[0][2].done():
                heappop(heap)  # cancelled while waiting
            if heap and self._startable_at(now, reserve) <= now:
                priority, seq, _ = heap[0]
                if best is None or (priority, seq) < best[:2]:
                    best = (priority, seq, reserve)
        return None if best is None else best[2]

    def _arm_for_next(self, now: float) -> None:
        """Arm the timer for when the next waiter may start; none if that waits on a release."""
        at = min(
            (self._startable_at(now, reserve) for reserve, heap in self._waiters.items() if heap),
            default=math.inf,
        )
        if at == math.inf:
            self._disarm()  # nobody waits, or only a release can help them
        else:
            self._arm(at)

    def _arm(self, at: float) -> None:
        # Loops may fire a timer up to their clock resolution early; `_wake` then re-arms.
        if self._timer is not None:
            if self._timer.when() == at:
                return
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(at, self._on_timer)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def __repr__(self) -> str:
        state = (
            f"in flight: {self._window.open}, log: {len(self._window)}/{self.calls}, "
            f"waiting: {self._queued}, acquired: {self._acquired}, pauses: {self._pauses}"
        )
        if self._paused_until:
            state += f", paused until {self._paused_until:.3f}"
        if self._timer is not None:
            state += f", waking at {self._timer.when():.3f}"
        limit = f"{self.calls} per {self.per_seconds:g}s + {self.margin:g}s margin"
        return f"<SlidingWindowLimiter {self.name!r} {limit} [{state}]>"
