"""Why the PATCH limiter is ours and not aiolimiter's: the most calls either admits in one
sliding window, under a demand of more than twice the quota at once, on virtual time.

    .venv/bin/pip install aiolimiter     # not a dependency of the product
    .venv/bin/python benchmarks/limiter_burst.py

ASR allows 200 sets a minute in ANY sliding window. A token bucket whose burst is the whole
quota (``AsyncLimiter(200, 60)``) starts full, lets 200 through at once and then refills one
every 0.3 s: by the end of the first minute it has admitted about 200 more, so some 60-s window
sees twice the quota. The product's sliding-window log (``orchestrator.arm.limits``) counts
every admission for one window after its call ends.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import importlib
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "unit"))

from virtual_clock import run_virtual  # noqa: E402

from orchestrator.arm.limits import Quota  # noqa: E402

Acquire = Callable[[], Awaitable[None]]


async def _admissions(acquire: Acquire, demand: int) -> list[float]:
    """Loop times at which ``demand`` callers, all asking at once, were let through."""
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def one() -> None:
        await acquire()
        times.append(loop.time())

    await asyncio.gather(*(one() for _ in range(demand)))
    return sorted(times)


def most_in_window(times: list[float], window: float) -> int:
    """The most admissions in any half-open window [t, t + window)."""
    return max(bisect.bisect_left(times, t + window) - i for i, t in enumerate(times))


async def _ours(calls: int, seconds: float, demand: int) -> list[float]:
    limiter = Quota(calls=calls, per_seconds=seconds).limiter("set")

    async def acquire() -> None:
        slot = await limiter.acquire()
        slot.release()  # the call answered at once: the slot counts for one window from now

    return await _admissions(acquire, demand)


def _aiolimiter() -> Callable[[float, float], Any] | None:
    """aiolimiter's ``AsyncLimiter`` class, if it is installed (it is no dependency of ours)."""
    try:
        module = importlib.import_module("aiolimiter")
    except ImportError:
        return None
    limiter: Callable[[float, float], Any] = module.AsyncLimiter
    return limiter


async def _theirs(calls: int, seconds: float, demand: int) -> list[float]:
    factory = _aiolimiter()
    assert factory is not None
    limiter = factory(calls, seconds)

    async def acquire() -> None:
        await limiter.acquire()

    return await _admissions(acquire, demand)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--demand", type=int, default=450)
    args = parser.parse_args()
    rows = [("asr-autoupdate (sliding-window log)", _ours)]
    if _aiolimiter() is None:
        print("aiolimiter is not installed (pip install aiolimiter): measuring ours only")
    else:
        rows.append(("aiolimiter AsyncLimiter(calls, seconds)", _theirs))
    print(f"limit {args.calls} per {args.seconds:g} s, {args.demand} callers at once")
    for name, run in rows:
        times = run_virtual(run(args.calls, args.seconds, args.demand))
        most = most_in_window(times, args.seconds)
        print(f"  {name:42} most in any window: {most:4d} = {most / args.calls:.2f} x the limit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
