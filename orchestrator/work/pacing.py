"""When to read each operation: the poller's rules and their arithmetic, with no I/O.

In order of authority:

1. never before the server's ``Retry-After`` (when it gave one; real ASR usually gives none);
2. where the operations already finished say this one is likely done (:class:`DurationModel`),
   aiming at a quantile chosen by the share of the get budget still free (:data:`QUANTILES`):
   plenty → read sooner, scarce → read when nearly all are done, so fewer reads;
3. where the model cannot say (it knows too little, or this one has run longer than the
   durations it knows), a few *scouts* are read on a growing schedule (:data:`SCOUT_GROWTH`
   times the longest any scout was seen running), one at a time, and the others are *parked*
   until what the scouts find lets the model speak for them;
4. once the engine sends no more changes, the operations still running decide when the run
   ends: the reads the run has not needed so far (it may average :data:`READS_PER_OPERATION`)
   are spent on them, a read every :data:`TAIL_RESOLUTION` of the expected duration while they
   last and :data:`TAIL_SPARE` of the get budget is free. Under a ``Retry-After``, a read that
   finds the operation running costs that wait: the read goes where the expected end of its
   tracking is soonest;
5. never later than :data:`MAX_POLL_INTERVAL` after the last read (or the start), nor past the
   run's deadline: the last read is due :data:`DEADLINE_MARGIN` before it.

Durations are learned from the tool's own clock: the duration of an operation is never more
than the time seen to pass between its PATCH's answer and the read that found it ended (a
server's ``startTime``/``endTime`` may only make it shorter). Operations taken over from an
earlier run are read at once, then less and less often, and teach the model nothing (their
start is not ours); their reads do not count against the read budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Final

from orchestrator.work.durations import DurationModel
from orchestrator.work.lro import PollVerdict

if TYPE_CHECKING:
    from orchestrator.work.poller import TrackedOperation

MAX_POLL_INTERVAL: Final = 120.0  # an operation is read at least this often
DEADLINE_MARGIN: Final = 1.0  # the last read is due this long before the deadline
SERVER_TIME_RESOLUTION: Final = 1.0  # ASR's endTime is whole seconds: a duration may be short
MIN_READ_GAP: Final = 0.05  # between two reads of one operation, when no Retry-After says more
# The quantile of similar operations' durations a read aims at, by the share of the get budget
# still free: plenty → read sooner, scarce → read when nearly all are done.
QUANTILES: Final = ((0.5, 0.9), (0.1, 0.95), (0.0, 0.98))
MIN_AT_RISK: Final = 5  # operations seen past an elapsed time before the model speaks for it
SCOUTS: Final = 16  # operations read on a growing schedule where the model cannot say
MATURE: Final = 2 * SCOUTS  # finished operations before the quantile follows the get budget
SCOUT_FIRST_WAIT: Final = 0.5  # a scout's first read after its start, with nothing known
SCOUT_GROWTH: Final = 1.5  # a scout's next read: this many times as long as scouts ran
RESUMED_GROWTH: Final = 1.25  # a resumed operation's next read: this many times its tracking
# The reads the run may average per operation of its own; what the others left pays the tail's.
READS_PER_OPERATION: Final = 1.2
TAIL_RESOLUTION: Final = 0.01  # in the tail, a read every this share of the expected duration
TAIL_QUANTILE: Final = 0.99  # the tail's reads are spread up to where this share is done
TAIL_SPARE: Final = 0.5  # the tail spends its reads only while this share of gets is free

Spare = Callable[[str], float]  # subscription id -> share of its get budget free now (0..1)


class Pacer:
    """The read schedule of one run's operations: what was learned, what the budget allows.

    The poller tells it what each read found (:meth:`ran`, :meth:`finished`, :meth:`failed`)
    and asks when to read next (:meth:`due`, then :meth:`capped`). ``due`` may *park* an
    operation (``math.inf``): :meth:`unpark` hands the parked back once the scouts taught.
    """

    __slots__ = (
        "_deadline",
        "_floor",
        "_fresh",
        "_fresh_done",
        "_model",
        "_parked",
        "_promised",
        "_reads",
        "_scouting",
        "_spare",
        "tail",
    )

    def __init__(
        self,
        model: DurationModel | None = None,
        *,
        spare: Spare | None = None,
        deadline: float | None = None,
    ) -> None:
        self._model = model or DurationModel()
        self._spare: Spare = spare or (lambda _: 1.0)
        self._deadline = deadline  # loop time; no read is due after it
        self.tail = False  # the engine sends no more changes: what runs now ends the run
        self._fresh = 0  # operations of this run tracked (not resumed ones)
        self._fresh_done = 0  # of those, ended
        self._reads = 0  # reads of those
        self._promised = 0  # spare reads given to the tail's operations and not made yet
        self._scouting: dict[TrackedOperation, None] = {}  # the scouts running now
        self._floor = 0.0  # the longest a scout was seen still running
        # waiting for what the scouts find, in the order they were parked (a dict: an ordered set)
        self._parked: dict[TrackedOperation, None] = {}

    def __repr__(self) -> str:
        return (
            f"<Pacer operations={self._fresh} ended={self._fresh_done} reads={self._reads} "
            f"scouts={len(self._scouting)} parked={len(self._parked)} tail={self.tail} {self._model!r}>"
        )

    # --- what happened -------------------------------------------------------------------

    def tracked(self, op: TrackedOperation) -> None:
        if not op.resumed:
            self._fresh += 1
            op.lockout = max(op.not_before - op.started, 0.0)

    def reading(self, op: TrackedOperation, now: float) -> float:
        """A read of ``op`` goes out now: counted; its priority (likelier done reads first)."""
        op.polls += 1
        if op.extra > 0:
            op.extra -= 1
            self._promised -= 1
        if not op.resumed:
            self._reads += 1
        return 1.0 - self._model.chance_done(now - op.started)

    def ran(self, op: TrackedOperation, verdict: PollVerdict, now: float) -> list[TrackedOperation]:
        """A read found ``op`` still running. Returns the other scouts when it was a scout seen
        running longer than any: each needs a fresh :meth:`due` (none is read sooner than
        SCOUT_GROWTH times that)."""
        self.failed(op, verdict, now)
        if op.resumed:
            return []
        op.seen_running = now - op.started
        self._model.observe_running(op, op.seen_running)
        if not op.scout or op.seen_running <= self._floor:
            return []
        self._floor = op.seen_running
        return [scout for scout in self._scouting if scout is not op]

    def failed(self, op: TrackedOperation, verdict: PollVerdict, now: float) -> None:
        """A read of ``op`` said nothing of it (or that it runs): the server's Retry-After."""
        op.lockout = verdict.retry_after or 0.0
        op.not_before = now + op.lockout

    def finished(self, op: TrackedOperation, verdict: PollVerdict, now: float) -> None:
        """A read found ``op`` ended: learn how long it took, as the tool saw it."""
        if op.resumed:
            return
        seen = now - op.started
        server = verdict.server_duration
        # The server's times may disagree with ours by hours: they may only shorten what we saw.
        # ASR prints endTime in whole seconds, so its duration may be short by up to one.
        duration = seen if server is None else min(seen, server + SERVER_TIME_RESOLUTION)
        self._model.observe(max(duration, op.seen_running), op=op)

    def ended(self, op: TrackedOperation) -> None:
        """``op`` ended, any way."""
        self._parked.pop(op, None)
        self._promised -= op.extra
        op.extra = 0
        if op.resumed:
            return
        self._fresh_done += 1
        if op.scout:
            self._demote(op)

    def unpark(self, now: float) -> list[TrackedOperation]:
        """The parked operations (each needs a fresh :meth:`due`), once the model can say when
        they are likely done and every scout that has run that long was seen running past it,
        or once no scout is left to find out; else none.

        A scout not read since it could have ended by then still holds its answer: judging
        without it would hear only from the scouts read so far, the quicker ones.
        """
        if not self._parked:
            return []
        quantile = self._quantile(next(iter(self._parked)))
        until = self._model.remaining(0.0, quantile, min_at_risk=MIN_AT_RISK)
        if until is None:
            if self._scouting:
                return []  # the scouts are still finding out
        elif any(scout.seen_running < until <= now - scout.started for scout in self._scouting):
            return []
        parked, self._parked = list(self._parked), {}
        for op in parked:
            op.parked = False
        return parked

    # --- when to read next ---------------------------------------------------------------

    def due(self, op: TrackedOperation, now: float) -> float:
        """When to read ``op`` next, before the caps of :meth:`capped` (inf: parked)."""
        if op.resumed:
            return now + max((now - op.started) * (RESUMED_GROWTH - 1.0), SCOUT_FIRST_WAIT)
        estimate = self._model.remaining(
            op.seen_running, self._quantile(op), min_at_risk=MIN_AT_RISK
        )
        if estimate is None or (op.scout and self._parked):
            # A scout stays one while others wait for what it will find.
            due = self._explore(op)
            return min(due, self._tail_due(op, now)) if self.tail and op.scout else due
        if op.scout:
            self._demote(op)  # the model speaks for it now
        due = op.started + op.seen_running + estimate
        return min(due, self._tail_due(op, now)) if self.tail else due

    def capped(self, op: TrackedOperation, due: float, now: float) -> float | None:
        """``due`` within the rules: never before the server's Retry-After nor right after the
        last read; no later than MAX_POLL_INTERVAL after it, nor past the deadline (None: no
        read before the deadline)."""
        earliest = now if op.last_read is None else max(now, op.last_read + MIN_READ_GAP)
        earliest = max(earliest, op.not_before)
        latest = (op.started if op.last_read is None else op.last_read) + MAX_POLL_INTERVAL
        if self._deadline is not None:
            last_call = self._deadline - DEADLINE_MARGIN
            if earliest > last_call:
                # Never read yet: a read now, just before the deadline, may find it done.
                return earliest if op.last_read is None and earliest < self._deadline else None
            latest = min(latest, last_call)
        return max(min(due, latest), earliest)

    def _quantile(self, op: TrackedOperation) -> float:
        if self._model.finished < MATURE:
            # Learned from a handful: a read aimed too early costs a second read for many.
            return QUANTILES[-1][1]
        spare = self._spare(op.subscription_id)
        return next(q for floor, q in QUANTILES if spare >= floor)

    def _explore(self, op: TrackedOperation) -> float:
        """The model cannot say when ``op`` is likely done: a scout finds out, or it waits."""
        if not op.scout and len(self._scouting) < SCOUTS:
            op.scout = True
            self._scouting[op] = None
        if op.scout:
            longest = max(op.seen_running, self._floor)
            return op.started + max(SCOUT_FIRST_WAIT, longest * SCOUT_GROWTH)
        op.parked = True
        self._parked[op] = None
        return math.inf  # read at MAX_POLL_INTERVAL, unless the scouts find out sooner

    def _demote(self, op: TrackedOperation) -> None:
        op.scout = False
        self._scouting.pop(op, None)

    def share(self, ops: Iterable[TrackedOperation], now: float) -> None:
        """Share the spare reads among the tail's operations, the one likely to end last
        first (it is the one that ends the run): each gets what a read every TAIL_RESOLUTION
        of its expected duration needs, while they last."""
        self._promised = 0
        ranked = [(horizon, op) for op in ops if (horizon := self._horizon(op)) is not None]
        ranked.sort(key=lambda pair: pair[0], reverse=True)
        for horizon, op in ranked:
            op.extra = 0
            self._grant(op, horizon, now)

    def _grant(self, op: TrackedOperation, horizon: float, now: float) -> None:
        """Give ``op`` what a read every TAIL_RESOLUTION of its expected duration needs from
        now to ``horizon``, as far as the spare reads not promised yet go."""
        span = horizon - op.started
        if span <= 0.0:
            return
        need = math.ceil(max(horizon - now, 0.0) / (TAIL_RESOLUTION * span))
        # Of the others read once at the quantile, some will be found running, read again.
        running = self._fresh - self._fresh_done
        again = running * (1.0 - QUANTILES[0][1]) / QUANTILES[0][1]
        free = int(self.spare_reads() - again) - self._promised
        give = max(min(need - op.extra, free), 0)
        op.extra += give
        self._promised += give

    def _horizon(self, op: TrackedOperation) -> float | None:
        """By when ``op`` is likely done: where TAIL_QUANTILE of such are, or the next read of
        a scout past what a mature model knows; None when nothing says (parked, or a scout
        still finding the scale: reading it sooner would only find it running)."""
        if op.scout:
            if self._model.finished < MATURE:
                return None
            return op.started + max(
                SCOUT_FIRST_WAIT, max(op.seen_running, self._floor) * SCOUT_GROWTH
            )
        left = self._model.remaining(op.seen_running, TAIL_QUANTILE, min_at_risk=MIN_AT_RISK)
        return None if left is None else op.started + op.seen_running + left

    def _tail_due(self, op: TrackedOperation, now: float) -> float:
        """In the tail: a read every TAIL_RESOLUTION of the expected duration, while the reads
        :meth:`share` gave it last and the get budget has room (inf: no early read)."""
        if self._spare(op.subscription_id) < TAIL_SPARE:
            return math.inf
        horizon = self._horizon(op)
        if horizon is None:
            return math.inf
        if op.extra < 1:
            self._grant(op, horizon, now)  # what others were promised and did not need
            if op.extra < 1:
                return math.inf
        step = max(TAIL_RESOLUTION * (horizon - op.started), (horizon - now) / (op.extra + 1))
        last = op.started if op.last_read is None else op.last_read
        due = max(now, last + step)
        if op.lockout > 0.0:
            due = self._soonest_end(op, due, step, horizon)
        return due

    def _soonest_end(
        self, op: TrackedOperation, first: float, step: float, horizon: float
    ) -> float:
        """Under a Retry-After, a read finding ``op`` running costs that wait: of the tail's
        read times, the one where the expected end of its tracking is soonest."""
        first = max(first, op.not_before)
        running = max(1.0 - self._model.chance_done(op.seen_running), 1e-9)
        best, best_cost = first, math.inf
        at = first
        while at <= horizon + step:
            still = (1.0 - self._model.chance_done(at - op.started)) / running
            cost = at + op.lockout * still
            if cost < best_cost:
                best, best_cost = at, cost
            at += step
        return best

    def spare_reads(self) -> float:
        """Reads the run may still make beyond the one each running operation needs."""
        running = self._fresh - self._fresh_done
        return READS_PER_OPERATION * self._fresh - self._reads - running
