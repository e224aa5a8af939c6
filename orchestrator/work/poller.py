"""The poller: one task pool that tracks every running operation of the run at once.

Each operation is polled no earlier than the server's ``Retry-After``; beyond that, the next
poll is placed where the operations already finished say this one is likely done
(:class:`DurationModel`), so most operations are read once. Polls queue on the get limiter with
a priority: when the get budget is short, the operations most likely done are read first.
A failed status *read* never fails the operation: it is read again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import structlog

from orchestrator.arm.client import ArmClient
from orchestrator.errors import ArmError
from orchestrator.work.durations import MIN_SAMPLES, DurationModel
from orchestrator.work.lro import PollStrategy, PollVerdict, Verdict

DEFAULT_CONCURRENCY: Final = 128
DEFAULT_RETRY_AFTER: Final = 5.0  # when the server gave none
MAX_POLL_INTERVAL: Final = 120.0  # an operation running long is still read at least this often
LONG_RUNNING_FACTOR: Final = 0.25  # past every known duration, wait this share of the elapsed time
SCOUTS: Final = 8  # operations read at every Retry-After while the model knows too little

_log = structlog.get_logger("orchestrator.work.poller")


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
    scout: bool = False  # read at every Retry-After to teach the model, while it knows too little
    seen_running: float = 0.0  # the longest it was seen still running, seconds after `started`
    held: bool = False  # its read was put off once already for want of an estimate


class Poller:
    """Tracks operations until each ends; ``run()`` returns once closed and nothing is left."""

    __slots__ = (
        "_client",
        "_closed",
        "_heap",
        "_inflight",
        "_loop_time",
        "_model",
        "_scouts",
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
        self._scouts = 0  # operations made scouts so far
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
        if self._model.finished < MIN_SAMPLES and self._scouts < SCOUTS:
            op.scout = True
            self._scouts += 1
        self._schedule(op, op.not_before)

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
                hold = self._hold(op, self._now())
                if hold > 0.001:  # a millisecond is not worth another turn of the loop
                    self._schedule(op, self._now() + hold)  # what the model learned says: later
                    continue
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

    def _hold(self, op: TrackedOperation, now: float) -> float:
        """How much longer to put off a read that is due now (0: read it now).

        Aim where the model says operations that ran this long are likely done. While it cannot
        say, scouts are read at once (their answers teach it); any other operation waits once,
        as long again as it has run, for the scouts' lesson — then is read anyway.
        """
        if op.last_verdict is not None and op.last_verdict.verdict is Verdict.UNREADABLE:
            return 0.0  # its backoff is already in not_before
        remaining = self._model.remaining(op.seen_running)
        if remaining is not None:
            return max(op.started + op.seen_running + remaining - now, 0.0)
        if op.scout or op.held:
            return 0.0
        op.held = True
        return min(now - op.started, MAX_POLL_INTERVAL)

    def _spawn(self, op: TrackedOperation) -> None:
        self._inflight += 1
        task = asyncio.create_task(self._poll(op))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _poll(self, op: TrackedOperation) -> None:
        try:
            # A task of its own, so its own context: bound for this read, never reset.
            structlog.contextvars.bind_contextvars(**op.log_context)
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
        return op.strategy.interpret(response)

    def _after_read(self, op: TrackedOperation, verdict: PollVerdict) -> None:
        op.last_verdict = verdict
        now = self._now()
        elapsed = now - op.started
        if verdict.verdict in (Verdict.SUCCEEDED, Verdict.FAILED):
            self._model.observe(
                verdict.duration if verdict.duration is not None else elapsed, op=op
            )
            self.finished += 1
            self._wake.set()  # run() may be waiting for the last one to end
            op.on_done(op, verdict)
            return
        retry_after = (
            verdict.retry_after if verdict.retry_after is not None else DEFAULT_RETRY_AFTER
        )
        if verdict.verdict is Verdict.UNREADABLE:
            op.failed_reads += 1
            _log.info("status_read_failed", error=str(verdict.error), failed_reads=op.failed_reads)
            backoff = min(2.0 ** min(op.failed_reads, 7), MAX_POLL_INTERVAL)
        else:
            op.seen_running = elapsed
            op.held = False
            self._model.observe_running(op, elapsed)
            # Past every known duration, read less and less often, but at least every 2 minutes.
            backoff = min(elapsed * LONG_RUNNING_FACTOR, MAX_POLL_INTERVAL)
        op.not_before = now + retry_after
        self._schedule(op, now + max(retry_after, backoff))
