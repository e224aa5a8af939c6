"""The poller: one task pool that tracks every running operation of the run at once.

When to read an operation, in order of authority:

1. never before the server's ``Retry-After`` (when it gave one; real ASR usually gives none);
2. where the operations already finished say this one is likely done (:class:`DurationModel`),
   aiming at a lower quantile when the get budget has room (sooner answers) and a higher one
   when it binds (fewer reads); while the model knows too little, a few *scouts* are read on a
   growing schedule to teach it, and the rest wait for its lesson;
3. never later than :data:`MAX_POLL_INTERVAL` after the last read, nor past the run's deadline.

Durations are learned from the tool's own clock: the duration of an operation is never more
than the time seen to pass between its PATCH's answer and the read that found it ended (a
server's ``startTime``/``endTime`` may only make it shorter). Operations taken over from an
earlier run are read at once and teach the model nothing (their start is not ours).

A failed status *read* never fails the operation, with two exceptions: a 403 (the identity may
not read it: it never will) fails it at once, and a 404 that persists for
:data:`NOT_FOUND_SECONDS` of the run and :data:`NOT_FOUND_READS` reads fails it with
``operation_not_found``. An operation resumed from an earlier run whose URL answers 404 ends at
once as *gone*: the engine then checks the mapping itself.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import structlog

from orchestrator.arm.api import ArmApi
from orchestrator.asr.rules import Verdict
from orchestrator.errors import ArmError
from orchestrator.work.durations import DurationModel
from orchestrator.work.lro import PollStrategy, PollVerdict, Unreadable

DEFAULT_CONCURRENCY: Final = 128
MAX_POLL_INTERVAL: Final = 120.0  # an operation is read at least this often
DEADLINE_MARGIN: Final = 1.0  # the last read is due this long before the deadline
SCOUTS: Final = 8  # operations read on a growing schedule while the model knows too little
SCOUT_FIRST_WAIT: Final = 0.5  # a scout's first read after its start; then doubling
UNKNOWN_WAIT: Final = 5.0  # how long the others wait at most for the scouts' lesson
LONG_RUNNING_FACTOR: Final = 0.25  # past every known duration, wait this share of the elapsed time
NOT_FOUND_SECONDS: Final = 600.0
NOT_FOUND_READS: Final = 5
# The quantile of similar operations' durations a read aims at, by the share of the get budget
# still free: plenty → read sooner, scarce → read when nearly all are done.
QUANTILES: Final = ((0.5, 0.8), (0.1, 0.9), (0.0, 0.95))

_log = structlog.get_logger("orchestrator.poller")

OnRead = Callable[["TrackedOperation", PollVerdict], None]


@dataclass(slots=True, eq=False)
class TrackedOperation:
    """One running operation and how its tracking stands.

    ``on_read`` is called after every read (with its verdict); ``on_done`` once, with the final
    verdict: SUCCEEDED, FAILED, or (for a resumed operation whose URL is gone) UNREADABLE.
    """

    strategy: PollStrategy
    subscription_id: str
    log_context: dict[str, str]
    started: float  # loop time of the PATCH's answer (resumed: when tracking began)
    on_done: OnRead
    on_read: OnRead | None = None
    not_before: float = 0.0  # loop time before which the server asked not to poll
    resumed: bool = False  # taken over from an earlier run: read at once, learn nothing
    polls: int = 0
    last_verdict: PollVerdict | None = field(default=None, repr=False)
    failed_reads: int = 0
    not_found_since: float | None = None
    not_found_reads: int = 0
    scout: bool = False
    seen_running: float = 0.0  # the longest it was seen still running, seconds after `started`
    waiting_for_model: bool = False  # due at UNKNOWN_WAIT unless the model is ready sooner
    version: int = 0  # bumped when rescheduled: older heap entries are stale


Spare = Callable[[str], float]  # subscription id -> share of its get budget free now (0..1)


class Poller:
    """Tracks operations until each ends; ``run()`` returns once closed and nothing is left."""

    __slots__ = (
        "_client",
        "_closed",
        "_deadline",
        "_heap",
        "_model",
        "_scouts",
        "_seq",
        "_slots",
        "_spare",
        "_tasks",
        "_waiting",
        "_wake",
        "finished",
        "tracked",
    )

    def __init__(
        self,
        client: ArmApi,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        model: DurationModel | None = None,
        deadline: float | None = None,
        spare: Spare | None = None,
    ) -> None:
        self._client = client
        self._model = model or DurationModel()
        self._deadline = deadline  # loop time; no read is due after it
        self._spare: Spare = spare or (lambda _: 1.0)
        self._heap: list[tuple[float, int, int, TrackedOperation]] = []  # (due, seq, version, op)
        self._seq = itertools.count()
        self._slots = asyncio.Semaphore(concurrency)  # polls in flight at once
        self._wake = asyncio.Event()  # set when an earlier due time arrives or on close
        self._closed = False
        self._scouts = 0
        self._waiting: set[TrackedOperation] = set()  # held for the model's first lesson
        self._tasks: set[asyncio.Task[None]] = set()
        self.tracked = 0
        self.finished = 0

    def __repr__(self) -> str:
        return (
            f"<Poller tracked={self.tracked} finished={self.finished} "
            f"queued={len(self._heap)} {self._model!r}>"
        )

    @property
    def running(self) -> int:
        return self.tracked - self.finished

    def track(self, op: TrackedOperation) -> None:
        """Start tracking ``op``; its ``on_done`` is called once, with the final verdict."""
        self.tracked += 1
        now = self._now()
        if op.resumed:
            self._schedule(op, max(op.not_before, now))  # its start is not ours: read at once
            return
        if not self._model.ready and self._scouts < SCOUTS:
            op.scout = True
            self._scouts += 1
        self._schedule(op, self._first_due(op, now))

    def close(self) -> None:
        """No more operations will be tracked; ``run()`` ends when the last one finishes."""
        self._closed = True
        self._wake.set()

    async def run(self) -> None:
        """Dispatch due polls until closed and every tracked operation has ended."""
        try:
            while not (self._closed and self.running == 0):
                entry = self._next_due()
                if entry is None or entry[0] > self._now():
                    await self._until_woken(None if entry is None else entry[0])
                    continue
                _, _, _, op = heapq.heappop(self._heap)
                # Read now: no longer waiting for the model (its release must not read it again).
                op.waiting_for_model = False
                self._waiting.discard(op)
                op.version += 1  # and no entry left in the heap is due any more
                await self._slots.acquire()
                self._spawn(op)
        finally:
            for task in self._tasks:
                task.cancel()

    async def _until_woken(self, due: float | None) -> None:
        """Wait for ``due`` (loop time) or for `_wake`, whichever comes first.

        One timer, no task per wait: a loop may run a timer up to its clock's resolution early,
        and a fresh task each time would keep the loop busy at that instant for ever (on a
        virtual clock) instead of letting its time reach ``due``.
        """
        self._wake.clear()
        timer = None if due is None else asyncio.get_running_loop().call_at(due, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            if timer is not None:
                timer.cancel()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _next_due(self) -> tuple[float, int, int, TrackedOperation] | None:
        while self._heap and self._heap[0][2] != self._heap[0][3].version:
            heapq.heappop(self._heap)  # rescheduled since: stale
        return self._heap[0] if self._heap else None

    def _schedule(self, op: TrackedOperation, due: float) -> None:
        due = self._capped(op, due)
        op.version += 1
        heapq.heappush(self._heap, (due, next(self._seq), op.version, op))
        if self._heap[0][3] is op:
            self._wake.set()

    def _capped(self, op: TrackedOperation, due: float) -> float:
        """No later than MAX_POLL_INTERVAL from now, nor past the deadline; never before
        the server's Retry-After."""
        now = self._now()
        latest = now + MAX_POLL_INTERVAL
        if self._deadline is not None and self._deadline - DEADLINE_MARGIN > now:
            # A last read just before the deadline, rather than none: it may find it done.
            latest = min(latest, self._deadline - DEADLINE_MARGIN)
        return max(min(due, latest), op.not_before, now)

    def _quantile(self, op: TrackedOperation) -> float:
        spare = self._spare(op.subscription_id)
        return next(q for floor, q in QUANTILES if spare >= floor)

    def _first_due(self, op: TrackedOperation, now: float) -> float:
        if op.scout:
            return op.started + SCOUT_FIRST_WAIT
        estimate = self._model.remaining(0.0, self._quantile(op))
        if estimate is not None:
            return op.started + estimate
        op.waiting_for_model = True
        self._waiting.add(op)
        return op.started + UNKNOWN_WAIT

    def _next_after_running(self, op: TrackedOperation, now: float) -> float:
        """When to read again an operation just seen running."""
        elapsed = now - op.started
        if op.scout and not self._model.ready:
            return now + max(elapsed, SCOUT_FIRST_WAIT)  # a growing schedule
        estimate = self._model.remaining(op.seen_running, self._quantile(op))
        if estimate is not None and not op.resumed:
            return op.started + op.seen_running + max(estimate, 0.05)
        # Past every known duration: read less and less often (capped in _schedule).
        return now + max(elapsed * LONG_RUNNING_FACTOR, SCOUT_FIRST_WAIT)

    def _spawn(self, op: TrackedOperation) -> None:
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
            return PollVerdict(Verdict.UNREADABLE, error=exc, unreadable=Unreadable.TRANSIENT)
        return op.strategy.interpret(response)

    def _after_read(self, op: TrackedOperation, verdict: PollVerdict) -> None:
        op.last_verdict = verdict
        if op.on_read is not None:
            op.on_read(op, verdict)
        now = self._now()
        if verdict.verdict in (Verdict.SUCCEEDED, Verdict.FAILED):
            self._learn_finished(op, verdict, now)
            self._end(op, verdict)
            return
        if verdict.verdict is Verdict.UNREADABLE:
            self._after_unreadable(op, verdict, now)
            return
        op.failed_reads = 0
        op.not_found_since = None
        op.not_found_reads = 0
        if not op.resumed:
            op.seen_running = now - op.started
            self._model.observe_running(op, op.seen_running)
        self._set_not_before(op, verdict, now)
        self._schedule(op, self._next_after_running(op, now))

    def _learn_finished(self, op: TrackedOperation, verdict: PollVerdict, now: float) -> None:
        if op.resumed:
            return
        seen = now - op.started
        server = verdict.server_duration
        # The server's times may disagree with ours by hours: they may only shorten what we saw.
        duration = seen if server is None else min(seen, server)
        was_ready = self._model.ready
        self._model.observe(max(duration, op.seen_running), op=op)
        if not was_ready and self._model.ready:
            self._release_waiting()

    def _release_waiting(self) -> None:
        """The model just learned enough: the operations waiting for it get their real due."""
        now = self._now()
        for op in self._waiting:
            if op.waiting_for_model:
                op.waiting_for_model = False
                estimate = self._model.remaining(0.0, self._quantile(op))
                due = op.started + estimate if estimate is not None else now
                self._schedule(op, min(due, op.started + UNKNOWN_WAIT))
        self._waiting.clear()

    def _after_unreadable(self, op: TrackedOperation, verdict: PollVerdict, now: float) -> None:
        if verdict.unreadable is Unreadable.FORBIDDEN:
            # The identity may not read it: no later read will either. ASR's code says why.
            self._end(op, PollVerdict(Verdict.FAILED, error=verdict.error))
            return
        if verdict.unreadable is Unreadable.NOT_FOUND:
            if op.resumed:
                self._end(op, verdict)  # gone: the engine checks the mapping itself
                return
            op.not_found_since = op.not_found_since if op.not_found_since is not None else now
            op.not_found_reads += 1
            if (
                now - op.not_found_since >= NOT_FOUND_SECONDS
                and op.not_found_reads >= NOT_FOUND_READS
            ):
                self._end(op, _not_found(verdict, now - op.not_found_since))
                return
        op.failed_reads += 1
        _log.info("status_read_failed", error=str(verdict.error), failed_reads=op.failed_reads)
        self._set_not_before(op, verdict, now)
        backoff = min(2.0 ** min(op.failed_reads, 7), MAX_POLL_INTERVAL)
        self._schedule(op, now + backoff)

    def _set_not_before(self, op: TrackedOperation, verdict: PollVerdict, now: float) -> None:
        op.not_before = now + verdict.retry_after if verdict.retry_after else now

    def _end(self, op: TrackedOperation, verdict: PollVerdict) -> None:
        self.finished += 1
        op.version += 1  # any entry left in the heap is stale
        self._waiting.discard(op)
        self._wake.set()  # run() may be waiting for the last one to end
        op.on_done(op, verdict)


def _not_found(verdict: PollVerdict, seconds: float) -> PollVerdict:
    error = ArmError(
        "operation_not_found",
        f"the operation's status URL answered 404 for {seconds:.0f} s "
        f"({verdict.error.code if verdict.error else 'NotFound'})",
    )
    return PollVerdict(Verdict.FAILED, status=None, error=error)
