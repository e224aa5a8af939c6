"""An asyncio event loop on virtual time, so timer-driven code runs in milliseconds.

`VirtualClockLoop.time()` is a number that moves only when the loop would otherwise sleep:
instead of blocking in ``select`` until the next timer, the loop jumps its clock to that timer.
Callbacks, tasks and futures behave as on a normal loop. It is meant for code that waits on
timers, not on real I/O: a socket read would never get the (virtual) time it needs.

Use it from a plain (sync) test, not through pytest-asyncio::

    result = run_virtual(main())
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# Real seconds to wait for a thread's wake-up before calling a loop with nothing to do deadlocked.
DEADLOCK_GRACE_SECONDS = 1.0


class VirtualDeadlockError(RuntimeError):
    """The loop had nothing ready and nothing scheduled: the code under test waits forever."""


class _JumpingSelector(selectors.DefaultSelector):
    """Polls real file descriptors without blocking; a wait for a timer moves the clock instead."""

    def __init__(self, clock: VirtualClockLoop, deadlock_grace: float) -> None:
        super().__init__()
        self._clock = clock
        self._deadlock_grace = deadlock_grace

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            # Only another thread (call_soon_threadsafe) could still wake a timerless loop.
            ready = super().select(self._deadlock_grace)
            if not ready:
                raise VirtualDeadlockError("nothing is ready and no timer is scheduled")
            return ready
        self._clock.advance(timeout)
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose ``time()`` is virtual and jumps to the next timer when idle."""

    def __init__(
        self,
        start: float = 0.0,
        *,
        clock_resolution: float | None = None,
        deadlock_grace: float = DEADLOCK_GRACE_SECONDS,
    ) -> None:
        """``clock_resolution``: how early asyncio may run a timer (a coarse real clock's).

        ``deadlock_grace``: real seconds to wait for another thread before raising
        `VirtualDeadlockError`.
        """
        self._virtual_now = start  # set before the base class, which may read time()
        super().__init__(selector=_JumpingSelector(self, deadlock_grace))
        if clock_resolution is not None:
            self._clock_resolution = clock_resolution

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        """Move the clock forward; the loop does this itself whenever it would sleep."""
        if seconds < 0:
            raise ValueError("virtual time cannot go backwards")
        self._virtual_now += seconds


def run_virtual(
    main: Coroutine[Any, Any, T], *, start: float = 0.0, clock_resolution: float | None = None
) -> T:
    """Run ``main`` to completion on a fresh `VirtualClockLoop`, then cancel leftovers and close.

    A deadlock raises `VirtualDeadlockError`; wrapping ``main`` in ``asyncio.wait_for`` (virtual
    seconds) also turns a livelock or a too-slow schedule into a fast failure.
    """
    loop = VirtualClockLoop(start, clock_resolution=clock_resolution)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            if leftovers:
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
