"""Exact sliding-window rate limits for ARM calls, with scope-wide backoff after a 429.

ASR allows 200 PATCH per 60 s and 10,000 GET per 3,600 s in ANY sliding window, counted when
each request reaches the server. A token bucket whose burst is the whole quota admits twice the
quota in one window (a full burst, then the refill), so this module keeps a sliding-window *log*
instead.

The client cannot see when the server counts a request, only that it happens after the request
is granted here and before its answer arrives. So each call holds a *slot* from its grant until
its answer has been read (or the call failed), and the slot stays taken for one window after
that; a call may start only while fewer than ``calls`` slots are taken. Of any ``calls + 1``
calls, the last one granted thus started at least a window after another one's answer, so the
server counted those two at least a window apart, however late either travelled: the server
never sees ``calls + 1`` in one of its windows. Under continuous demand that gives ``calls`` per
window plus one request latency, in every window, the first one's burst included.

`SlidingWindow` is the pure arithmetic (plain floats, no event loop); `SlidingWindowLimiter`
does the waiting on the running loop's clock and hands out `Slot` handles; `LimiterRegistry`
hands out one GET/PATCH pair per scope (the whole run, or each subscription).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from heapq import heappop, heappush
from itertools import count
from typing import Final, Literal

LimitScope = Literal["run", "subscription"]

# Network lag needs no margin (see above). Clock *rates* do: the argument holds only if both
# sides measure the window in the same seconds, and an NTP-disciplined clock may be slewed by up
# to 500 ppm (the kernel's frequency-correction limit), ours one way and the server's the other.
# A 0.1 % wider window covers that, for 0.1 % of throughput.
DEFAULT_MARGIN_FRACTION: Final = 0.001


def default_margin(per_seconds: float) -> float:
    """The safety margin added to a window of ``per_seconds``: 0.1 % of it, for clock rates."""
    return DEFAULT_MARGIN_FRACTION * per_seconds


class CallKind(StrEnum):
    """Which ASR quota a call counts against: every GET is a get, every PATCH a set."""

    GET = "get"
    SET = "set"


class SlidingWindow:
    """The arithmetic of the log: a call takes a slot from its start until ``seconds`` after its
    end, and at most ``calls`` slots are taken at any moment.

    Hence no ``calls + 1`` calls have moments, one each between its start and its end, that fit
    in a window of ``seconds``: the last of them to start would find all the others' slots
    still taken. Times are plain floats that never go backwards. Memory is O(``calls``).
    """

    __slots__ = ("_ends", "_last", "_open", "calls", "seconds")

    calls: int  #: the most slots taken at any moment
    seconds: float  #: how long a slot stays taken after its call ends

    def __init__(self, calls: int, seconds: float) -> None:
        if calls < 1:
            raise ValueError(f"calls must be at least 1, not {calls!r}")
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"seconds must be a positive number, not {seconds!r}")
        self.calls = calls
        self.seconds = seconds
        # end times of the most recent `calls` ended calls, oldest first
        self._ends: deque[float] = deque()
        # calls started and not ended: each holds its slot until it ends
        self._open = 0
        # the latest time given to `start` or `end`, which later ones may not go below
        self._last = -math.inf

    def __len__(self) -> int:
        """How many ends the log holds (at most ``calls``; old ones may be outside the window)."""
        return len(self._ends)

    def __repr__(self) -> str:
        return (
            f"<SlidingWindow {self._open} open, {len(self._ends)} ended/{self.calls} "
            f"per {self.seconds!r}s>"
        )

    @property
    def open(self) -> int:
        """Calls started and not yet ended."""
        return self._open

    def free_at(self) -> float:
        """When the log next lets a call start: ``-inf`` while it has room for one more, ``+inf``
        while every slot is held by an open call (a slot frees ``seconds`` after one ends)."""
        room = self.calls - self._open
        if room <= 0:
            return math.inf
        if len(self._ends) < room:
            return -math.inf
        # Written as end + seconds everywhere, so a start at exactly this time is allowed.
        return self._ends[-room] + self.seconds

    def next_allowed(self, now: float) -> float:
        """The earliest time at or after ``now`` at which one more call may start, if no call
        ends before then; ``+inf`` while every slot is held by an open call."""
        return max(now, self.free_at())

    def start(self, now: float) -> None:
        """Open a call at ``now``; raises ValueError if no slot is free then or time went back."""
        self._advance(now)
        if self.next_allowed(now) > now:
            raise ValueError(f"no free slot at {now!r}; the next one frees at {self.free_at()!r}")
        self._open += 1

    def end(self, now: float) -> None:
        """End an open call at ``now``: its slot stays taken until ``now + seconds``."""
        if not self._open:
            raise ValueError("no call is open")
        self._advance(now)
        self._open -= 1
        self._ends.append(now)
        if len(self._ends) > self.calls:
            self._ends.popleft()

    def abandon(self) -> None:
        """End an open call that was never sent: its slot is free again at once."""
        if not self._open:
            raise ValueError("no call is open")
        self._open -= 1

    def _advance(self, now: float) -> None:
        if now < self._last:
            raise ValueError(f"time went backwards: {now!r} < {self._last!r}")
        self._last = now


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

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "in flight" if self.released_at is None else f"released {self.released_at:.3f}"
        return f"<Slot {self._limiter.name!r} granted {self.granted_at:.3f}, {state}>"


class SlidingWindowLimiter:
    """At most ``calls`` slots taken at once; a slot is taken from a call's grant until one window
    (``per_seconds`` + ``margin``) after its `Slot` is released.

    So the server, counting each call at some moment between its grant and its release, sees at
    most ``calls`` in any window of ``per_seconds``. The default margin, 0.1 % of the window,
    only covers the two clocks running at slightly different rates. Long-run throughput is
    ``calls / (per_seconds + margin + request latency)``.

    Waiters are ordered by ``priority`` (lower first), FIFO among equals, and woken by a single
    ``loop.call_at`` timer, or by a release when every slot is held by a call in flight; the only
    clock is the running loop's ``time()``. Building a limiter does not touch any event loop;
    use one limiter on one loop.
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
        # min-heap of (priority, arrival order, future resolved with the granted slot);
        # cancelled futures stay in it until they reach the top
        self._waiters: list[tuple[float, int, asyncio.Future[Slot]]] = []
        self._next_seq = count()
        # acquirers queued and not yet granted
        self._queued = 0
        # the one timer that wakes the queue when the next slot frees or a pause ends; none
        # while every slot is held by a call in flight (its release wakes the queue)
        self._timer: asyncio.TimerHandle | None = None
        # loop time before which nothing starts; 0.0 if never paused
        self._paused_until = 0.0
        self._pauses = 0
        self._acquired = 0

    @property
    def waiting(self) -> int:
        """Acquirers currently queued."""
        return self._queued

    @property
    def acquired(self) -> int:
        """Slots granted so far (a cancelled waiter's is not counted)."""
        return self._acquired

    @property
    def in_flight(self) -> int:
        """Slots granted and not yet released: calls still waiting for their answer."""
        return self._window.open

    @property
    def pauses(self) -> int:
        """How many times `pause` was called: the number of 429 backoffs."""
        return self._pauses

    @property
    def paused_until(self) -> float:
        """Loop time before which nothing starts; 0.0 if never paused."""
        return self._paused_until

    def next_free_at(self) -> float:
        """Loop time from which one more call may start, ignoring the queue (for progress/ETA).

        At or before the current loop time when a slot is free now; never below 0.0. Answers
        to calls in flight do not move it, except from ``math.inf``: while every slot is held
        by a call in flight, a slot frees one window after the first answer, whenever it comes.
        """
        return max(self._paused_until, self._window.free_at())

    async def acquire(self, priority: float = 0.0) -> Slot:
        """Wait until one more call may start within the limit, and take a slot for it.

        Release the slot when the call's answer has been read or the call failed; the idiom is
        ``with await limiter.acquire(priority): ...`` around the request. Returns without
        yielding to the loop when a slot is free, no pause is on and nobody is queued.
        Cancel-safe: a waiter cancelled before it resumes gives its slot back untaken.
        """
        if math.isnan(priority):
            raise ValueError("priority must be a number, not NaN")
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not self._queued and self._startable_at(now) <= now:
            return self._grant(now)
        fut: asyncio.Future[Slot] = loop.create_future()
        heappush(self._waiters, (priority, next(self._next_seq), fut))
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

    def _startable_at(self, now: float) -> float:
        return max(self._window.next_allowed(now), self._paused_until)

    def _grant(self, now: float) -> Slot:
        self._window.start(now)
        self._acquired += 1
        return Slot(self, now)

    def _end_call(self) -> float:
        """`Slot.release`: log the call's end now and return the time."""
        now = asyncio.get_running_loop().time()
        self._window.end(now)
        # The slot frees only a window from now; `_wake` arms the timer for then.
        self._wake()
        return now

    def _on_timer(self) -> None:
        self._timer = None
        self._wake()

    def _wake(self) -> None:
        """Grant every waiter that may start now, in order; arm the timer for the rest."""
        now = asyncio.get_running_loop().time()
        heap = self._waiters
        while heap:
            fut = heap[0][2]
            if fut.done():
                heappop(heap)
                continue
            at = self._startable_at(now)
            if at > now:
                if at == math.inf:
                    break  # every slot is in flight: the next release wakes the queue
                self._arm(at)
                return
            heappop(heap)
            self._queued -= 1
            fut.set_result(self._grant(now))
        self._disarm()

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


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """A quota: at most ``calls`` in any ``per_seconds``."""

    calls: int
    per_seconds: float

    def __post_init__(self) -> None:
        if self.calls < 1:
            raise ValueError(f"calls must be at least 1, not {self.calls!r}")
        if not (math.isfinite(self.per_seconds) and self.per_seconds > 0):
            raise ValueError(f"per_seconds must be a positive number, not {self.per_seconds!r}")

    def limiter(self, name: str) -> SlidingWindowLimiter:
        """A fresh limiter enforcing this quota (with the default margin)."""
        return SlidingWindowLimiter(self.calls, self.per_seconds, name=name)


@dataclass(frozen=True, slots=True)
class ScopeLimiters:
    """The GET and PATCH limiters of one scope (the whole run, or one subscription)."""

    get: SlidingWindowLimiter
    set: SlidingWindowLimiter

    def for_kind(self, kind: CallKind) -> SlidingWindowLimiter:
        """The limiter that a call of ``kind`` must acquire."""
        return self.get if kind is CallKind.GET else self.set


@dataclass(frozen=True, slots=True)
class LimiterTotals:
    """Sums across every scope, for the report and the progress display."""

    get_acquired: int
    set_acquired: int
    get_waiting: int
    set_waiting: int
    pauses: int  #: scope-wide backoffs after a 429 (throttled waits)


class LimiterRegistry:
    """Hands out the limiter pair for a subscription: one shared pair, or one per subscription.

    Scopes are created on first use; building the registry touches no event loop.
    """

    __slots__ = ("_get_limit", "_scope", "_scopes", "_set_limit")

    def __init__(self, *, set_limit: LimitSpec, get_limit: LimitSpec, scope: LimitScope) -> None:
        if scope not in ("run", "subscription"):
            raise ValueError(f"scope must be 'run' or 'subscription', not {scope!r}")
        self._set_limit = set_limit
        self._get_limit = get_limit
        self._scope: LimitScope = scope
        # scope key ("run", or a lower-cased subscription id) -> its pair, in creation order
        self._scopes: dict[str, ScopeLimiters] = {}

    @property
    def scope(self) -> LimitScope:
        return self._scope

    def scope_for(self, subscription_id: str) -> ScopeLimiters:
        """The pair a call in ``subscription_id`` acquires (ids compare case-insensitively)."""
        key = "run" if self._scope == "run" else subscription_id.lower()
        pair = self._scopes.get(key)
        if pair is None:
            pair = ScopeLimiters(
                get=self._get_limit.limiter(f"{key}/{CallKind.GET}"),
                set=self._set_limit.limiter(f"{key}/{CallKind.SET}"),
            )
            self._scopes[key] = pair
        return pair

    def all(self) -> list[ScopeLimiters]:
        """Every pair handed out so far, oldest first."""
        return list(self._scopes.values())

    def totals(self) -> LimiterTotals:
        pairs = self._scopes.values()
        return LimiterTotals(
            get_acquired=sum(p.get.acquired for p in pairs),
            set_acquired=sum(p.set.acquired for p in pairs),
            get_waiting=sum(p.get.waiting for p in pairs),
            set_waiting=sum(p.set.waiting for p in pairs),
            pauses=sum(p.get.pauses + p.set.pauses for p in pairs),
        )

    def __repr__(self) -> str:
        return (
            f"<LimiterRegistry scope={self._scope!r} set={self._set_limit.calls}/"
            f"{self._set_limit.per_seconds:g}s get={self._get_limit.calls}/"
            f"{self._get_limit.per_seconds:g}s scopes={len(self._scopes)}>"
        )
