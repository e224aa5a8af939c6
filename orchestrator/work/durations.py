"""How long operations take, as the run learns it: a Kaplan-Meier estimate over observations.

An operation seen finished after ``d`` seconds is an *event* at ``d``; one seen still running at
``e`` seconds is *censored* at ``e`` (it takes longer than ``e``, by how much is unknown). Using
the running ones too keeps the estimate honest early in a run, when only the quickest
operations have finished: the model then says "not known yet" instead of "short".
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Hashable, Iterable
from typing import Final

TARGET_QUANTILE: Final = 0.9  # poll when this share of similar operations would be done
MIN_SAMPLES: Final = 5  # finished operations needed before the model is trusted
MAX_SAMPLES: Final = 2_000  # finished durations kept (the most recent)
MAX_RUNNING: Final = 2_000  # running observations kept (the most recent)
RECOMPUTE_SHARE: Final = 0.05  # rebuild the curve once this share of its inputs is new


class DurationModel:
    """Learned operation durations; answers when an operation running so long is likely done."""

    __slots__ = (
        "_changes",
        "_curve",
        "_done",
        "_falling",
        "_longest",
        "_marks",
        "_running",
        "_times",
    )

    def __init__(self) -> None:
        self._done: deque[float] = deque(maxlen=MAX_SAMPLES)  # finished operations' durations
        self._running: dict[Hashable, float] = {}  # operation -> longest time seen still running
        self._times: list[float] = []  # the survival curve's step times, ascending
        self._curve: list[float] = []  # survival just after each step time
        self._falling: list[float] = []  # the curve negated: ascending, so it can be bisected
        self._marks: list[float] = []  # every observation's time (finished or running), ascending
        self._changes = 0  # observations since the curve was built
        self._longest = 0.0  # the longest any operation took or was seen running

    def __repr__(self) -> str:
        return f"<DurationModel finished={len(self._done)} running={len(self._running)}>"

    @property
    def finished(self) -> int:
        return len(self._done)

    @property
    def ready(self) -> bool:
        """Whether enough operations finished for the estimate to be trusted."""
        return len(self._done) >= MIN_SAMPLES

    def observe(self, duration: float, *, op: Hashable | None = None) -> None:
        """An operation finished after ``duration`` seconds."""
        if op is not None:
            self._running.pop(op, None)
        self._done.append(max(duration, 0.0))
        self._longest = max(self._longest, duration)
        self._changes += 1

    def observe_running(self, op: Hashable, elapsed: float) -> None:
        """``op`` was still running ``elapsed`` seconds after it started."""
        self._running.pop(op, None)  # re-insert: the dict's order is recency
        self._running[op] = elapsed
        self._longest = max(self._longest, elapsed)
        if len(self._running) > MAX_RUNNING:
            del self._running[next(iter(self._running))]
        self._changes += 1

    def remaining(
        self, elapsed: float, quantile: float = TARGET_QUANTILE, *, min_at_risk: int = 1
    ) -> float | None:
        """Seconds until ``quantile`` of operations that ran longer than ``elapsed`` are done.

        ``None`` while too little is known: fewer than MIN_SAMPLES finished, no known duration
        past ``elapsed`` reaches the quantile, or fewer than ``min_at_risk`` operations were
        observed past ``elapsed`` (finished later, or seen running later): an estimate from
        one or two of them says little, however precise it looks.
        """
        if len(self._done) < MIN_SAMPLES:
            return None
        self._refresh()
        base = self._survival(elapsed)
        if base <= 0.0:
            return None
        if min_at_risk > 1:
            at_risk = len(self._marks) - bisect.bisect_right(self._marks, elapsed)
            if at_risk < min_at_risk:
                return None
        goal = base * (1.0 - quantile) + 1e-12
        start = bisect.bisect_right(self._times, elapsed)
        # The first step at or after `start` whose survival is at or below the goal: the curve
        # never rises, so that is a bisection of its negation (exact: negating a float is).
        index = bisect.bisect_left(self._falling, -goal, lo=start)
        if index == len(self._times):
            return None
        return max(self._times[index] - elapsed, 0.0)

    def longest(self) -> float:
        """The longest any operation took or was seen still running (0.0 before any)."""
        return self._longest

    def chance_done(self, elapsed: float) -> float:
        """The estimated share of operations done within ``elapsed`` (0.5 while nothing is known)."""
        if not self._done:
            return 0.5
        self._refresh()
        return 1.0 - self._survival(elapsed)

    def _survival(self, t: float) -> float:
        index = bisect.bisect_right(self._times, t)
        return self._curve[index - 1] if index else 1.0

    def _refresh(self) -> None:
        size = len(self._done) + len(self._running)
        if self._times and self._changes < max(1.0, RECOMPUTE_SHARE * size):
            return
        marks = _marks(self._done, self._running.values())
        self._times, self._curve = _product_limit(marks)
        self._falling = [-survival for survival in self._curve]
        self._marks = [t for t, _ in marks]
        self._changes = 0


def _marks(events: Iterable[float], censored: Iterable[float]) -> list[tuple[float, int]]:
    """(time, 0) per event and (time, 1) per censoring, ascending."""
    # Events sort before censorings at the same time, as the product-limit estimator requires.
    return sorted([(d, 0) for d in events] + [(e, 1) for e in censored])


def _kaplan_meier(
    events: Iterable[float], censored: Iterable[float]
) -> tuple[list[float], list[float]]:
    """The product-limit survival curve: step times and the survival just after each."""
    return _product_limit(_marks(events, censored))


def _product_limit(marks: list[tuple[float, int]]) -> tuple[list[float], list[float]]:
    """The survival curve of sorted ``marks`` (see `_marks`)."""
    at_risk = len(marks)
    survival = 1.0
    times: list[float] = []
    curve: list[float] = []
    index = 0
    while index < len(marks):
        t = marks[index][0]
        deaths = gone = 0
        while index < len(marks) and marks[index][0] == t:
            deaths += marks[index][1] == 0
            gone += 1
            index += 1
        if deaths:
            survival *= 1.0 - deaths / at_risk
            times.append(t)
            curve.append(survival)
        at_risk -= gone
    return times, curve
