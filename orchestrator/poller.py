"""The poller: one task pool that tracks every running operation of the run at once.

Each operation is polled no earlier than the server's ``Retry-After``; beyond that, the next
poll is placed where the operations already finished say this one is likely done
(:class:`DurationModel`), so most operations are read once. Polls queue on the get limiter with
a priority: when the get budget is short, the operations most likely done are read first.
A failed status *read* never fails the operation: it is read again later.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import structlog

from orchestrator.arm import ArmClient
from orchestrator.errors import ArmError, AuthenticationError
from orchestrator.lro import PollStrategy, PollVerdict, Verdict

DEFAULT_CONCURRENCY: Final = 128
DEFAULT_RETRY_AFTER: Final = 5.0  # when the server gave none
MAX_POLL_INTERVAL: Final = 120.0  # an operation running long is still read at least this often
LONG_RUNNING_FACTOR: Final = 0.25  # past every known duration, wait this share of the elapsed time
TARGET_QUANTILE: Final = 0.9  # poll when this share of similar operations would be done
MIN_SAMPLES: Final = 5  # durations needed before the model is trusted
MAX_SAMPLES: Final = 2_000

_log = structlog.get_logger("orchestrator.poller")


class DurationModel:
    """What the run has learned about how long operations take, from those already finished."""

    __slots__ = ("_sorted",)

    def __init__(self) -> None:
        self._sorted: list[float] = []  # finished operations' durations, ascending

    def __repr__(self) -> str:
        return f"<DurationModel samples={len(self._sorted)}>"

    def observe(self, duration: float) -> None:
        if len(self._sorted) >= MAX_SAMPLES:
            # Forget a sample at random-ish position so the model follows a drifting service.
            del self._sorted[len(self._sorted) // 2]
        bisect.insort(self._sorted, duration)

    def remaining(self, elapsed: float) -> float | None:
        """Seconds until TARGET_QUANTILE of operations like this one (running ``elapsed``) are done."""
        durations = self._sorted
        first_longer = bisect.bisect_right(durations, elapsed)
        longer = len(durations) - first_longer
        if len(durations) < MIN_SAMPLES or longer == 0:
            return None
        index = first_longer + max(math.ceil(TARGET_QUANTILE * longer) - 1, 0)
        return max(durations[index] - elapsed, 0.0)

    def chance_done(self, elapsed: float) -> float:
        """Share of known operations that took at most ``elapsed`` (0.5 while nothing is known)."""
        if not self._sorted:
            return 0.5
        return bisect.bisect_right(self._sorted, elapsed) / len(self._sorted)


@dataclass(slots=True, eq=False)
class TrackedOperation:
    """One running operation and how its tracking stands."""

    strategy: PollStrategy
    subscription_id: str
    log_context: dict[str, str]
    started: float  # loop time of the PATCH's answer
    on_done: Callable[[TrackedOperation, PollVerdict], None]
    not_before: float  # loop time before which the server asked not to poll
    polls: int = 0
    last_verdict: PollVerdict | None = field(default=None, repr=False)
    failed_reads: int = 0


class Poller:
    """Tracks operations until each ends; ``run()`` returns once closed and nothing is left."""

    __slots__ = (
        "_client",
        "_closed",
        "_heap",
        "_inflight",
        "_loop_time",
        "_model",
        "_seq",
        "_slots",
        "_tasks",
        "_wake",
        "finished",
        "tracked",
    )

    def __init__(
        self,
        client: ArmClient,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        model: DurationModel | None = None,
        loop_time: Callable[[], float] | None = None,
    ) -> None:
        self._client = client
        self._model = model or DurationModel()
        self._loop_time = loop_time
        self._heap: list[tuple[float, int, TrackedOperation]] = []  # (due, seq, op)
        self._seq = itertools.count()
        self._slots = asyncio.Semaphore(concurrency)  # polls in flight at once
        self._wake = asyncio.Event()  # set when an earlier due time arrives or on close
        self._closed = False
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.tracked = 0
        self.finished = 0

    def __repr__(self) -> str:
        return (
            f"<Poller tracked={self.tracked} finished={self.finished} "
            f"queued={len(self._heap)} inflight={self._inflight} {self._model!r}>"
        )

    @property
    def running(self) -> int:
        return self.tracked - self.finished

    def track(self, op: TrackedOperation) -> None:
        """Start tracking ``op``; its ``on_done`` is called once, with the final verdict."""
        self.tracked += 1
        self._schedule(op, self._first_due(op))

    def close(self) -> None:
        """No more operations will be tracked; ``run()`` ends when the last one finishes."""
        self._closed = True
        self._wake.set()

    async def run(self) -> None:
        """Dispatch due polls until closed and every tracked operation has ended."""
        try:
            while not (self._closed and self.running == 0):
                delay = self._next_delay()
                if delay is None or delay > 0:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
                    continue
                _, _, op = heapq.heappop(self._heap)
                await self._slots.acquire()
                self._spawn(op)
        finally:
            for task in self._tasks:
                task.cancel()

    def _now(self) -> float:
        return self._loop_time() if self._loop_time else asyncio.get_running_loop().time()

    def _next_delay(self) -> float | None:
        if not self._heap:
            return None
        return self._heap[0][0] - self._now()

    def _schedule(self, op: TrackedOperation, due: float) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), op))
        if self._heap[0][2] is op:
            self._wake.set()

    def _first_due(self, op: TrackedOperation) -> float:
        remaining = self._model.remaining(0.0)
        return max(op.not_before, op.started + (remaining or 0.0))

    def _spawn(self, op: TrackedOperation) -> None:
        self._inflight += 1
        task = asyncio.create_task(self._poll(op))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _poll(self, op: TrackedOperation) -> None:
        try:
            with structlog.contextvars.bound_contextvars(**op.log_context):
                verdict = await self._read(op)
                self._after_read(op, verdict)
        finally:
            self._inflight -= 1
            self._slots.release()

    async def _read(self, op: TrackedOperation) -> PollVerdict:
        elapsed = self._now() - op.started
        priority = 1.0 - self._model.chance_done(elapsed)  # likelier done reads first
        op.polls += 1
        try:
            response = await self._client.get(
                op.strategy.url, subscription_id=op.subscription_id, priority=priority, attempts=1
            )
        except ArmError as exc:
            return PollVerdict(Verdict.UNREADABLE, error=exc)
        except AuthenticationError as exc:
            # A token refresh failing mid-run must not lose the operation: read it again later.
            return PollVerdict(
                Verdict.UNREADABLE, error=ArmError("authentication_failed", str(exc))
            )
        return op.strategy.interpret(response)

    def _after_read(self, op: TrackedOperation, verdict: PollVerdict) -> None:
        op.last_verdict = verdict
        now = self._now()
        if verdict.verdict in (Verdict.SUCCEEDED, Verdict.FAILED):
            self._model.observe(
                verdict.duration if verdict.duration is not None else now - op.started
            )
            self.finished += 1
            self._wake.set()  # run() may be waiting for the last one to end
            op.on_done(op, verdict)
            return
        if verdict.verdict is Verdict.UNREADABLE:
            op.failed_reads += 1
            _log.info("status_read_failed", error=str(verdict.error), failed_reads=op.failed_reads)
        op.not_before = now + (
            verdict.retry_after if verdict.retry_after is not None else DEFAULT_RETRY_AFTER
        )
        self._schedule(op, max(op.not_before, now + self._extra_wait(op, now)))

    def _extra_wait(self, op: TrackedOperation, now: float) -> float:
        elapsed = now - op.started
        if op.last_verdict is not None and op.last_verdict.verdict is Verdict.UNREADABLE:
            return min(2.0 ** min(op.failed_reads, 7), MAX_POLL_INTERVAL)
        remaining = self._model.remaining(elapsed)
        if remaining is not None:
            return remaining
        return min(elapsed * LONG_RUNNING_FACTOR, MAX_POLL_INTERVAL)

    def abandon(self) -> list[TrackedOperation]:
        """Stop tracking: the operations still running, for the report (deadline or interrupt)."""
        left = [op for _, _, op in self._heap]
        self._heap.clear()
        return left
