"""The emulator's clock: any callable returning monotonic seconds, and a manual one for tests.

Operations, token lifetimes and the sliding windows all read the clock given to
`EmulatorState`; nothing else in the emulator looks at time (except `slow` faults, which really
delay an answer). Without a clock the running event loop's ``time()`` is used.
"""

from __future__ import annotations

from collections.abc import Callable

Clock = Callable[[], float]


class ManualClock:
    """A clock that moves only when told to; pass it as ``clock=`` and call `advance`."""

    __slots__ = ("_now",)

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start  # monotonic seconds; never goes backwards

    def __call__(self) -> float:
        return self._now

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now!r})"

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` (not negative) and return the new time."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += seconds
        return self._now
