"""ASR's request limits, as the server sees them: exact sliding windows over arrival times."""

from __future__ import annotations

import math
from collections import deque


class SlidingWindow:
    """At most ``calls`` admitted requests in any window ``(t - per_seconds, t]``.

    `admit` decides one request: admitted requests are logged (O(calls) floats); a refused
    one is not, so it does not count against the limit. `arrive` logs every arrival, admitted
    or not, to keep `peak`: the most arrivals ever seen in one window, which benchmarks compare
    with ``calls`` to prove a client never sent more than the limit.
    """

    __slots__ = ("_admitted", "_arrivals", "calls", "peak", "per_seconds")

    def __init__(self, calls: int, per_seconds: float) -> None:
        self.calls = calls
        self.per_seconds = per_seconds
        self._admitted: deque[float] = deque()  # start times of admitted requests in the window
        self._arrivals: deque[float] = deque()  # times of all arrivals in the window
        self.peak = 0  # most arrivals seen in any one window

    def __repr__(self) -> str:
        return (
            f"SlidingWindow(calls={self.calls}, per_seconds={self.per_seconds}, "
            f"admitted={len(self._admitted)}, peak={self.peak})"
        )

    def _evict(self, log: deque[float], now: float) -> None:
        horizon = now - self.per_seconds
        while log and log[0] <= horizon:
            log.popleft()

    def arrive(self, now: float) -> None:
        """Count an arrival at ``now`` toward `peak`."""
        self._evict(self._arrivals, now)
        self._arrivals.append(now)
        self.peak = max(self.peak, len(self._arrivals))

    def admit(self, now: float) -> int | None:
        """Admit a request at ``now`` (None) or refuse it: the seconds to wait (≥ 1).

        The wait is honest: after it, the oldest admitted request has left the window.
        """
        self._evict(self._admitted, now)
        if len(self._admitted) < self.calls:
            self._admitted.append(now)
            return None
        wait = self._admitted[0] + self.per_seconds - now
        return max(1, math.ceil(wait))
