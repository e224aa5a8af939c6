"""The arithmetic of an exact sliding-window limit: a log of calls, plain floats, no event loop.

ASR allows 200 PATCH per 60 s and 10,000 GET per 3,600 s in ANY sliding window, counted when
each request reaches the server. A token bucket whose burst is the whole quota admits twice the
quota in one window (a full burst, then the refill), so the limiter keeps a sliding-window *log*.

The client cannot see when the server counts a request, only that it happens after the request
is granted here and before its answer arrives. So each call holds a *slot* from its grant until
its answer has been read (or the call failed), and the slot stays taken for one window after
that; a call may start only while fewer than ``calls`` slots are taken. Of any ``calls + 1``
calls, the last one granted thus started at least a window after another one's answer, so the
server counted those two at least a window apart, however late either travelled: the server
never sees ``calls + 1`` in one of its windows. Under continuous demand that gives ``calls`` per
window plus one request latency, in every window, the first one's burst included.
"""

from __future__ import annotations

import bisect
import math


class SlidingWindow:
    """The arithmetic of the log: a call takes a slot from its start until ``seconds`` after its
    end, and at most ``calls`` slots are taken at any moment.

    Hence no ``calls + 1`` calls have moments, one each between its start and its end, that fit
    in a window of ``seconds``: the last of them to start would find all the others' slots
    still taken. Times are plain floats that never go backwards. Memory is O(``calls``).
    """

    __slots__ = ("_ends", "_first", "_last", "_open", "calls", "seconds")

    calls: int  #: the most slots taken at any moment
    seconds: float  #: how long a slot stays taken after its call ends

    def __init__(self, calls: int, seconds: float) -> None:
        if calls < 1:
            raise ValueError(f"calls must be at least 1, not {calls!r}")
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"seconds must be a positive number, not {seconds!r}")
        self.calls = calls
        self.seconds = seconds
        # end times of ended calls, oldest first: the log is the most recent `calls` of them,
        # `_ends[_first:]`. A list, not a deque: bisecting a deque indexes it in O(n) steps.
        self._ends: list[float] = []
        self._first = 0
        # calls started and not ended: each holds its slot until it ends
        self._open = 0
        # the latest time given to `start` or `end`, which later ones may not go below
        self._last = -math.inf

    def __len__(self) -> int:
        """How many ends the log holds (at most ``calls``; old ones may be outside the window)."""
        return len(self._ends) - self._first

    def __repr__(self) -> str:
        return (
            f"<SlidingWindow {self._open} open, {len(self)} ended/{self.calls} "
            f"per {self.seconds!r}s>"
        )

    @property
    def open(self) -> int:
        """Calls started and not yet ended."""
        return self._open

    def taken(self, now: float) -> int:
        """Slots taken at ``now``: open calls, and ended ones still within their window."""
        live = len(self._ends) - bisect.bisect_right(self._ends, now - self.seconds, self._first)
        return self._open + live

    def free_at(self, reserve: int = 0) -> float:
        """When the log next lets a call start while leaving ``reserve`` slots to others:
        ``-inf`` while it has room for one more, ``+inf`` while the slots it may use are all
        held by open calls (a slot frees ``seconds`` after one ends)."""
        room = self.calls - reserve - self._open
        if room <= 0:
            return math.inf
        if len(self) < room:
            return -math.inf
        # Written as end + seconds everywhere, so a start at exactly this time is allowed.
        return self._ends[-room] + self.seconds

    def next_allowed(self, now: float, reserve: int = 0) -> float:
        """The earliest time at or after ``now`` at which one more call may start leaving
        ``reserve`` slots free, if no call ends before then; ``+inf`` while it cannot."""
        return max(now, self.free_at(reserve))

    def start(self, now: float, reserve: int = 0) -> None:
        """Open a call at ``now``; raises ValueError if no slot is free then or time went back."""
        self._advance(now)
        if self.next_allowed(now, reserve) > now:
            raise ValueError(f"no free slot at {now!r}; the next one frees at {self.free_at()!r}")
        self._open += 1

    def end(self, now: float) -> None:
        """End an open call at ``now``: its slot stays taken until ``now + seconds``."""
        if not self._open:
            raise ValueError("no call is open")
        self._advance(now)
        self._open -= 1
        self._ends.append(now)
        if len(self) > self.calls:
            self._first += 1
            if self._first >= self.calls:  # amortized: drop the ends no longer in the log
                del self._ends[: self._first]
                self._first = 0

    def abandon(self) -> None:
        """End an open call that was never sent: its slot is free again at once."""
        if not self._open:
            raise ValueError("no call is open")
        self._open -= 1

    def _advance(self, now: float) -> None:
        if now < self._last:
            raise ValueError(f"time went backwards: {now!r} < {self._last!r}")
        self._last = now
