"""Exact sliding-window rate limits for ARM calls, with scope-wide backoff after a 429.

ASR allows 200 PATCH per 60 s and 10,000 GET per 3,600 s in ANY sliding window. A token bucket
whose burst is the whole quota admits twice the quota in one window (a full burst, then the
refill), so this module keeps a sliding-window *log* instead: the start times of the last
``calls`` acquisitions. A new start at ``t`` is allowed only while fewer than ``calls`` starts lie
in ``(t - window, t]``. Under continuous demand that gives exactly ``calls`` per window, in every
window, including the first.

`SlidingWindow` is the pure arithmetic (plain floats, no event loop); `SlidingWindowLimiter`
does the waiting on the running loop's clock; `LimiterRegistry` hands out one GET/PATCH pair per
scope (the whole run, or each subscription).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from heapq import heappop, heappush
from itertools import count
from typing import Final, Literal

LimitScope = Literal["run", "subscription"]

# Client start times and server arrival times differ by network jitter; widening our window by
# a little keeps the server's own window from ever seeing calls+1, at a throughput cost of
# margin / per_seconds (under 1 % for ASR's limits).
MAX_DEFAULT_MARGIN_SECONDS: Final = 0.5
DEFAULT_MARGIN_FRACTION: Final = 0.02


def default_margin(per_seconds: float) -> float:
    """The safety margin added to a window of ``per_seconds``: 2 %, at most half a second."""
    return min(MAX_DEFAULT_MARGIN_SECONDS, DEFAULT_MARGIN_FRACTION * per_seconds)


class CallKind(StrEnum):
    """Which ASR quota a call counts against: every GET is a get, every PATCH a set."""

    GET = "get"
    SET = "set"


class SlidingWindow:
    """The arithmetic of a sliding-window log: at most ``calls`` starts in any ``seconds``.

    Times are plain floats that never go backwards. Memory is O(``calls``).
    """

    __slots__ = ("_starts", "calls", "seconds")

    calls: int  #: the most starts allowed in any window
    seconds: float  #: the window's length

    def __init__(self, calls: int, seconds: float) -> None:
        if calls < 1:
            raise ValueError(f"calls must be at least 1, not {calls!r}")
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"seconds must be a positive number, not {seconds!r}")
        self.calls = calls
        self.seconds = seconds
        # start times of the most recent `calls` starts, oldest first
        self._starts: deque[float] = deque()

    def __len__(self) -> int:
        """How many starts the log holds (at most ``calls``; old ones may be outside the window)."""
        return len(self._starts)

    def __repr__(self) -> str:
        return f"<SlidingWindow {len(self._starts)}/{self.calls} per {self.seconds!r}s>"

    def free_at(self) -> float:
        """The time the oldest logged start leaves the window; ``-inf`` while the log has room."""
        if len(self._starts) < self.calls:
            return -math.inf
        # Written as start + seconds everywhere, so a start at exactly this time is allowed.
        return self._starts[0] + self.seconds

    def next_allowed(self, now: float) -> float:
        """The earliest time at or after ``now`` at which one more start is allowed."""
        return max(now, self.free_at())

    def record(self, now: float) -> None:
        """Log a start at ``now``; raises ValueError if it is not allowed or time went back."""
        if self._starts and now < self._starts[-1]:
            raise ValueError(f"time went backwards: {now!r} < {self._starts[-1]!r}")
        if self.next_allowed(now) > now:
            raise ValueError(f"no free slot at {now!r}; the next one frees at {self.free_at()!r}")
        self._starts.append(now)
        if len(self._starts) > self.calls:
            self._starts.popleft()

    def forget(self, start: float) -> None:
        """Give back a start logged at ``start`` (one whose caller never used it).

        A start already pushed out of the log is no longer counted anyway, so that is a no-op.
        """
        with contextlib.suppress(ValueError):
            self._starts.remove(start)


class SlidingWindowLimiter:
    """At most ``calls`` acquisitions start in any window of ``per_seconds`` (+ ``margin``).

    The window actually enforced is ``per_seconds + margin``; the default margin,
    ``min(0.5, 0.02 * per_seconds)`` seconds, absorbs network jitter between the moment a call
    starts here and the moment the server counts it, so the server's sliding window never sees
    ``calls + 1``. Long-run throughput is ``calls / (per_seconds + margin)``.

    Waiters are ordered by ``priority`` (lower first), FIFO among equals, and woken by a single
    ``loop.call_at`` timer; the only clock is the running loop's ``time()``. Building a limiter
    does not touch any event loop; use one limiter on one loop.
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
    calls: int  #: the most starts allowed in any window
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
        # min-heap of (priority, arrival order, future resolved with the granted start time);
        # cancelled futures stay in it until they reach the top
        self._waiters: list[tuple[float, int, asyncio.Future[float]]] = []
        self._next_seq = count()
        # acquirers queued and not yet granted
        self._queued = 0
        # the one timer that wakes the queue when the next slot frees or a pause ends
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
        """Acquisitions granted so far (a cancelled waiter's is not counted)."""
        return self._acquired

    @property
    def pauses(self) -> int:
        """How many times `pause` was called: the number of 429 backoffs."""
        return self._pauses

    @property
    def paused_until(self) -> float:
        """Loop time before which nothing starts; 0.0 if never paused."""
        return self._paused_until

    def next_free_at(self) -> float:
        """Loop time from which one more start is allowed, ignoring the queue (for progress/ETA).

        At or before the current loop time when a slot is free now; never below 0.0.
        """
        return max(self._paused_until, self._window.free_at())

    async def acquire(self, priority: float = 0.0) -> None:
        """Wait until one more call may start within the limit, then count it as started.

        Returns without yielding to the loop when a slot is free, no pause is on and nobody is
        queued. Cancel-safe: a waiter cancelled before it resumes gives its slot back.
        """
        if math.isnan(priority):
            raise ValueError("priority must be a number, not NaN")
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not self._queued and self._startable_at(now) <= now:
            self._grant(now)
            return
        fut: asyncio.Future[float] = loop.create_future()
        heappush(self._waiters, (priority, next(self._next_seq), fut))
        self._queued += 1
        self._wake()
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                # Granted, then cancelled before it could run: the slot was never used.
                self._window.forget(fut.result())
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

    def _grant(self, now: float) -> None:
        self._window.record(now)
        self._acquired += 1

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
                self._arm(at)
                return
            heappop(heap)
            self._grant(now)
            self._queued -= 1
            fut.set_result(now)
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
            f"log: {len(self._window)}/{self.calls}, waiting: {self._queued}, "
            f"acquired: {self._acquired}, pauses: {self._pauses}"
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
