"""The poller: one task pool that tracks every running operation of the run at once.

When each operation is read is :mod:`.pacing`'s business (read its docstring for the rules);
this module reads them when due and decides what each answer means. Two guarantees of its own:
an operation is read by one task at a time and ends exactly once, whatever reschedules it
meanwhile; and scouts (the reads that teach the duration model where it cannot say) are read
one at a time, so that what one finds decides whether the next is worth making.

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
from orchestrator.work.pacing import MAX_POLL_INTERVAL, Pacer, Spare

DEFAULT_CONCURRENCY: Final = 128
NOT_FOUND_SECONDS: Final = 600.0
NOT_FOUND_READS: Final = 5
DUE_SLACK: Final = 1e-6  # a read due this close to now is due now (loop times are floats)

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
    seen_running: float = 0.0  # the longest it was seen still running, seconds after `started`
    last_read: float | None = None  # loop time of the last read's answer
    lockout: float = 0.0  # the server's last Retry-After: what a read finding it running costs
    extra: int = 0  # in the tail: reads it may make early, of the run's spare ones
    scout: bool = False  # read on a growing schedule to teach the model
    parked: bool = False  # waiting for what the scouts find
    reading: bool = False  # a read is queued or in flight: nothing else may schedule it
    ended: bool = False
    version: int = 0  # bumped when rescheduled: older heap entries are stale


_Entry = tuple[float, int, int, TrackedOperation]  # (due, seq, version, op)


class Poller:
    """Tracks operations until each ends; ``run()`` returns once closed and nothing is left."""

    __slots__ = (
        "_client",
        "_closed",
        "_heap",
        "_held",
        "_pacer",
        "_revisited",
        "_scout_reading",
        "_seq",
        "_slots",
        "_tasks",
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
        self._pacer = Pacer(model, spare=spare, deadline=deadline)
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._slots = asyncio.Semaphore(concurrency)  # polls in flight at once
        self._wake = asyncio.Event()  # set when an earlier due time arrives or on close
        self._closed = False
        self._scout_reading: TrackedOperation | None = None  # one scout is read at a time
        self._held: list[TrackedOperation] = []  # scouts due while another one was read
        self._revisited = 0  # operations running when the tail's reads were last revisited
        self._tasks: set[asyncio.Task[None]] = set()
        self.tracked = 0
        self.finished = 0

    def __repr__(self) -> str:
        return (
            f"<Poller tracked={self.tracked} finished={self.finished} "
            f"queued={len(self._heap)} {self._pacer!r}>"
        )

    @property
    def running(self) -> int:
        return self.tracked - self.finished

    def track(self, op: TrackedOperation) -> None:
        """Start tracking ``op``; its ``on_done`` is called once, with the final verdict.

        A resumed operation is read at once (its start is not ours)."""
        self.tracked += 1
        self._pacer.tracked(op)
        now = self._now()
        self._schedule(op, now if op.resumed else self._pacer.due(op, now))

    def sending_done(self) -> None:
        """The engine sends no more changes: the operations running now are the run's last,
        and the reads the run has spare are spent on them (see :mod:`.pacing`). Operations
        tracked later (a change settled by reading back) count among them."""
        if not self._pacer.tail:
            self._pacer.tail = True
            self._revisit()

    def close(self) -> None:
        """No more operations will be tracked; ``run()`` ends when the last one finishes."""
        self._closed = True
        self._wake.set()

    async def run(self) -> None:
        """Dispatch due polls until closed and every tracked operation has ended."""
        try:
            while not (self._closed and self.running == 0):
                entry = self._next_due()
                delay = None if entry is None else entry[0] - self._now()
                if delay is None or delay > DUE_SLACK:
                    await self._until_woken(None if entry is None else entry[0])
                    continue
                _, _, _, op = heapq.heappop(self._heap)
                if op.scout:
                    if self._scout_reading is not None:
                        self._held.append(op)  # what the other one finds decides its read
                        continue
                    self._scout_reading = op
                op.reading = True
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

    def _next_due(self) -> _Entry | None:
        while self._heap and self._heap[0][2] != self._heap[0][3].version:
            heapq.heappop(self._heap)  # rescheduled since: stale
        return self._heap[0] if self._heap else None

    def _schedule(self, op: TrackedOperation, due: float) -> None:
        if op.reading or op.ended:
            return  # the read under way schedules the next one when it is answered
        capped = self._pacer.capped(op, due, self._now())
        op.version += 1
        if capped is None:
            return  # the deadline comes first: it ends the run, not a read
        heapq.heappush(self._heap, (capped, next(self._seq), op.version, op))
        if self._heap[0][3] is op:
            self._wake.set()

    def _reschedule(self, ops: list[TrackedOperation]) -> None:
        now = self._now()
        for op in ops:
            self._schedule(op, self._pacer.due(op, now))

    def _revisit(self) -> None:
        """Bring the tail's reads forward: it began, or half of it ended since the last time,
        so each operation still running may spend more of the spare reads."""
        now = self._now()
        self._revisited = self.running
        queued = [(due, op) for due, _, version, op in self._heap if version == op.version]
        self._pacer.share([op for _, op in queued], now)
        for due, op in queued:
            if not op.parked:
                self._schedule(op, min(due, self._pacer.due(op, now)))

    def _spawn(self, op: TrackedOperation) -> None:
        task = asyncio.create_task(self._poll(op))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _poll(self, op: TrackedOperation) -> None:
        try:
            # A task of its own, so its own context: bound for this read, never reset.
            structlog.contextvars.bind_contextvars(**op.log_context)
            verdict = await self._read(op)
            op.reading = False
            self._after_read(op, verdict)
        finally:
            op.reading = False
            self._slots.release()
            if self._scout_reading is op:
                self._scout_reading = None
                held, self._held = self._held, []
                self._reschedule(held)  # in the light of what this one found
                self._reschedule(self._pacer.unpark(self._now()))

    async def _read(self, op: TrackedOperation) -> PollVerdict:
        priority = self._pacer.reading(op, self._now())
        try:
            response = await self._client.get(
                op.strategy.url, subscription_id=op.subscription_id, priority=priority, attempts=1
            )
        except ArmError as exc:
            return PollVerdict(Verdict.UNREADABLE, error=exc, unreadable=Unreadable.TRANSIENT)
        return op.strategy.interpret(response)

    def _after_read(self, op: TrackedOperation, verdict: PollVerdict) -> None:
        op.last_verdict = verdict
        now = self._now()
        op.last_read = now
        if op.on_read is not None:
            op.on_read(op, verdict)
        if verdict.verdict in (Verdict.SUCCEEDED, Verdict.FAILED):
            self._pacer.finished(op, verdict, now)
            self._end(op, verdict)
            return
        if verdict.verdict is Verdict.UNREADABLE:
            self._after_unreadable(op, verdict, now)
            return
        op.failed_reads = 0
        op.not_found_since = None
        op.not_found_reads = 0
        others = self._pacer.ran(op, verdict, now)
        self._schedule(op, self._pacer.due(op, now))
        self._reschedule(others)  # a scout ran longer than any: the others wait as long

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
        self._pacer.failed(op, verdict, now)
        backoff = min(2.0 ** min(op.failed_reads, 7), MAX_POLL_INTERVAL)
        self._schedule(op, now + backoff)

    def _end(self, op: TrackedOperation, verdict: PollVerdict) -> None:
        if op.ended:
            return
        op.ended = True
        self.finished += 1
        op.version += 1  # any entry left in the heap is stale
        self._pacer.ended(op)
        if self._pacer.tail and 0 < self.running <= self._revisited // 2:
            self._revisit()
        self._wake.set()  # run() may be waiting for the last one to end
        op.on_done(op, verdict)


def _not_found(verdict: PollVerdict, seconds: float) -> PollVerdict:
    error = ArmError(
        "operation_not_found",
        f"the operation's status URL answered 404 for {seconds:.0f} s "
        f"({verdict.error.code if verdict.error else 'NotFound'})",
    )
    return PollVerdict(Verdict.FAILED, status=None, error=error)
