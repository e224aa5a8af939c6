"""The poller, on virtual time (see virtual_clock.py): when it reads each operation, and how
each operation's tracking ends.

The poller is driven through a fake ARM written against the `ArmApi` protocol: it answers
scripted ArmResponses per URL, or simulates operations that end at a given loop time, and
records the loop time, priority and attempts of every read. The rules under test are the
poller's docstring's: never before Retry-After; the duration model's quantile, chosen by the
spare get budget; scouts while the model knows too little, the others waiting for its lesson;
never later than MAX_POLL_INTERVAL nor past the deadline; durations learned from the tool's own
clock; resumed operations; 403 and 404.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
import structlog
from arm_stub import ArmStub
from multidict import CIMultiDict, CIMultiDictProxy
from virtual_clock import run_virtual

from orchestrator.arm.api import ArmApi, ArmResponse, CallCounters
from orchestrator.asr.rules import Verdict
from orchestrator.errors import ArmAuthenticationError, ArmError, ArmTransportError
from orchestrator.work.durations import MIN_SAMPLES, DurationModel
from orchestrator.work.lro import (
    AsyncOperationPolling,
    LocationPolling,
    PollStrategy,
    PollVerdict,
    ResumedPolling,
    Unreadable,
)
from orchestrator.work.pacing import (
    DEADLINE_MARGIN,
    MATURE,
    MAX_POLL_INTERVAL,
    SCOUT_FIRST_WAIT,
    SCOUT_GROWTH,
    SCOUTS,
    SERVER_TIME_RESOLUTION,
)
from orchestrator.work.poller import (
    NOT_FOUND_READS,
    NOT_FOUND_SECONDS,
    Poller,
    TrackedOperation,
)

T = TypeVar("T")
SUB = "11111111-1111-1111-1111-111111111111"
BASE = "https://management.azure.com/operations"
VIRTUAL_TIMEOUT = 100_000.0  # virtual seconds: turns a hang into a fast TimeoutError
T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def answer(status: int, body: Any = None, retry_after: float | None = None) -> ArmResponse:
    headers = CIMultiDict[str]()
    if retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
    return ArmResponse(status, CIMultiDictProxy(headers), body)


def running(retry_after: float | None = None) -> ArmResponse:
    return answer(200, {"status": "InProgress"}, retry_after)


def succeeded(**extra: Any) -> ArmResponse:
    return answer(200, {"status": "Succeeded", **extra})


def not_found(retry_after: float | None = None) -> ArmResponse:
    return answer(404, {"error": {"code": "NotFound", "message": "no such operation"}}, retry_after)


def forbidden() -> ArmResponse:
    body = {"error": {"code": "AuthorizationFailed", "message": "may not read it"}}
    return answer(403, body)


@dataclass
class Call:
    url: str
    at: float
    priority: float
    attempts: int | None
    context: dict[str, Any]


@dataclass
class Simulated:
    """An operation that runs until loop time ``ends_at``; its status body claims the server's
    ``server_start``/``server_end`` (which may disagree with the tool's clock by hours)."""

    ends_at: float
    server_start: str | None = None
    server_end: str | None = None

    def answer(self, now: float) -> ArmResponse:
        if now < self.ends_at:
            return answer(200, {"status": "InProgress", "startTime": self.server_start})
        times = {"startTime": self.server_start, "endTime": self.server_end}
        return answer(200, {"status": "Succeeded", **times})


@dataclass
class FakeArm(ArmStub):
    """ARM as the poller sees it (an `ArmApi`): each URL answers its script in order (an
    exception in the script is raised), or its simulated operation's state at the time. Any
    other call (a PATCH, a listing) fails the test: the poller only reads."""

    script: Mapping[str, Sequence[ArmResponse | BaseException]] = field(default_factory=dict)
    operations: dict[str, Simulated] = field(default_factory=dict)
    hold: float = 0.0  # virtual seconds each read takes
    holds: dict[str, float] = field(default_factory=dict)  # per URL, instead of ``hold``
    calls: list[Call] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    counters: CallCounters = field(default_factory=CallCounters)
    _left: dict[str, list[ArmResponse | BaseException]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._left = {url: list(items) for url, items in self.script.items()}

    def url(self, path: str, *, api_version: str | None = None) -> str:
        return f"https://management.azure.com{path}?api-version={api_version or '2021-12-01'}"

    def check_origin(self, url: str) -> None:
        pass

    async def get(
        self,
        url: str,
        *,
        subscription_id: str,
        priority: float = 0.0,
        attempts: int | None = None,
        reserve: int = 0,
    ) -> ArmResponse:
        assert subscription_id == SUB
        assert reserve == 0  # polls never hold a reserve back
        loop = asyncio.get_running_loop()
        self.calls.append(
            Call(url, loop.time(), priority, attempts, structlog.contextvars.get_contextvars())
        )
        self.counters.get += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            hold = self.holds.get(url, self.hold)
            if hold:
                await asyncio.sleep(hold)
            if url in self.operations:
                return self.operations[url].answer(loop.time())
            item = self._left[url].pop(0)
        finally:
            self.in_flight -= 1
        if isinstance(item, BaseException):
            raise item
        return item

    def times(self, url: str) -> list[float]:
        return [call.at for call in self.calls if call.url == url]


@dataclass
class Done:
    """Collects on_done calls; ``all_done`` is set once ``expected`` operations have ended."""

    expected: int
    verdicts: list[tuple[TrackedOperation, PollVerdict]] = field(default_factory=list)
    at: dict[str, float] = field(default_factory=dict)  # url -> loop time it ended
    all_done: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, op: TrackedOperation, verdict: PollVerdict) -> None:
        self.verdicts.append((op, verdict))
        self.at[op.strategy.url] = asyncio.get_running_loop().time()
        if len(self.verdicts) >= self.expected:
            self.all_done.set()

    def only(self) -> tuple[TrackedOperation, PollVerdict]:
        (single,) = self.verdicts
        return single


def operation(
    url: str,
    done: Done,
    *,
    not_before: float = 0.0,
    started: float = 0.0,
    strategy: PollStrategy | None = None,
    resumed: bool = False,
    on_read: Callable[[TrackedOperation, PollVerdict], None] | None = None,
) -> TrackedOperation:
    return TrackedOperation(
        strategy=strategy or AsyncOperationPolling(url),
        subscription_id=SUB,
        log_context={"vault": "v1", "subscription_id": SUB},
        started=started,
        on_done=done,
        on_read=on_read,
        not_before=not_before,
        resumed=resumed,
    )


def virtual(main: Callable[[], Awaitable[T]], *, start: float = 0.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(main(), VIRTUAL_TIMEOUT)

    return run_virtual(bounded(), start=start)


async def track_all(poller: Poller, ops: Sequence[TrackedOperation], done: Done) -> None:
    """Run the poller until every op ended, then close it and wait for run() to return.

    Closes only after the last on_done, so these tests do not depend on close() waking run().
    """
    runner = asyncio.create_task(poller.run())
    for op in ops:
        poller.track(op)
    await done.all_done.wait()
    poller.close()
    await runner


def model_of(durations: Sequence[float]) -> DurationModel:
    model = DurationModel()
    for d in durations:
        model.observe(d)
    return model


def ready_model(duration: float = 20.0) -> DurationModel:
    return model_of([duration] * MIN_SAMPLES)


def mature_model() -> DurationModel:
    """Operations of 1..20 s, each seen twice: more than MATURE, so the spare budget counts."""
    model = model_of([float(d) for d in range(1, 21)] * 2)
    assert model.finished >= MATURE
    return model


def test_the_fake_is_an_arm_api() -> None:
    api: ArmApi = FakeArm()
    assert api.counters.get == 0


# --- Poller: when it reads -----------------------------------------------------------------------


def test_an_operation_is_first_read_at_its_not_before() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [succeeded()]})
    done = Done(1)

    async def main() -> None:
        await track_all(Poller(client), [operation(url, done, not_before=30.0)], done)

    virtual(main)
    assert client.times(url) == [30.0]


def test_each_read_waits_at_least_the_retry_after_of_the_previous_answer() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [running(10), running(3), running(), succeeded()]})
    done = Done(1)

    async def main() -> None:
        await track_all(Poller(client), [operation(url, done, not_before=1.0)], done)

    virtual(main)
    t = client.times(url)
    assert len(t) == 4
    assert t[0] >= 1.0
    assert t[1] - t[0] >= 10.0
    assert t[2] - t[1] >= 3.0
    assert t[3] > t[2]  # no Retry-After: the scout's own schedule (test_poller_pacing.py)


# An operation that waited for the model's first lesson stays among the waiting after it was
# dispatched: when the model becomes ready while its read waits for a slot or is in flight, it
def many_operations(model: DurationModel | None) -> tuple[FakeArm, list[str], dict[str, float]]:
    """Forty operations, each allowed at its own time, each Retry-After its own, read with
    four polls at once; each answers running twice, then succeeded (and succeeded again to any
    read too many)."""
    urls = [f"{BASE}/op{i}" for i in range(40)]
    first_allowed = {url: float(i % 7) * 3.5 for i, url in enumerate(urls)}
    retry_after = {url: 1.0 + (i % 5) for i, url in enumerate(urls)}
    script = {
        url: [running(retry_after[url]), running(retry_after[url])] + [succeeded()] * 3
        for url in urls
    }
    client = FakeArm(script)
    done = Done(len(urls))

    async def main() -> None:
        ops = [operation(url, done, not_before=first_allowed[url]) for url in urls]
        await track_all(Poller(client, concurrency=4, model=model), ops, done)

    virtual(main)
    for url in urls:
        t = client.times(url)
        assert t[0] >= first_allowed[url]
        assert t[1] - t[0] >= retry_after[url]
        assert t[2] - t[1] >= retry_after[url]
    return client, urls, first_allowed


def test_many_operations_are_each_read_no_earlier_than_allowed() -> None:
    client, urls, _ = many_operations(None)
    for url in urls:
        assert len(client.times(url)) == 3, url


def test_many_operations_with_a_ready_model_are_each_read_no_earlier_than_allowed() -> None:
    client, urls, _ = many_operations(ready_model(0.5))
    for url in urls:
        assert len(client.times(url)) == 3, url


def test_an_operation_read_as_the_model_becomes_ready_is_not_read_twice_at_once() -> None:
    """The scouts end at 6 s; the one that waited for them is read in a read that takes 4 s:
    the model learns from the scouts while it may be in flight."""
    scouts = [f"{BASE}/scout{i}" for i in range(SCOUTS)]
    late = f"{BASE}/late"
    operations = {url: Simulated(ends_at=6.0) for url in [*scouts, late]}
    client = FakeArm(operations=operations, holds={late: 4.0})
    done = Done(len(operations))

    async def main() -> None:
        poller = Poller(client)
        runner = asyncio.create_task(poller.run())
        for url in [*scouts, late]:
            poller.track(operation(url, done))
        await asyncio.sleep(60.0)
        runner.cancel()
        assert poller.finished == poller.tracked  # else run() could never return

    virtual(main)
    reads = client.times(late)
    assert reads
    assert all(b - a >= 4.0 for a, b in itertools.pairwise(reads)), reads
    assert [op.strategy.url for op, _ in done.verdicts].count(late) == 1


def test_a_learned_duration_delays_the_first_read_past_not_before() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [succeeded()]})
    done = Done(1)

    async def main() -> None:
        poller = Poller(client, model=ready_model(20.0))
        await track_all(poller, [operation(url, done, not_before=1.0, started=0.0)], done)

    virtual(main)
    assert client.times(url) == [20.0]


def test_reads_are_single_attempt_and_prioritised_by_the_chance_of_being_done() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [succeeded()]})
    done = Done(1)

    async def main() -> None:
        # Too few samples to place the first read, enough to say how likely it is done.
        poller = Poller(client, model=model_of([1.0, 2.0, 3.0, 4.0]))
        await track_all(poller, [operation(url, done, not_before=3.0)], done)

    virtual(main)
    (call,) = client.calls
    assert (call.at, call.attempts) == (3.0, 1)
    assert call.priority == pytest.approx(1.0 - 0.75)  # 3 of 4 known operations took <= 3 s


def test_no_more_reads_are_in_flight_than_the_concurrency() -> None:
    urls = [f"{BASE}/op{i}" for i in range(9)]
    client = FakeArm({url: [succeeded()] for url in urls}, hold=1.0)
    done = Done(len(urls))

    async def main() -> None:
        ops = [operation(url, done, not_before=5.0) for url in urls]
        # A ready model: no scouts, which are read one at a time (test_poller_pacing.py).
        await track_all(Poller(client, concurrency=3, model=ready_model(1.0)), ops, done)

    virtual(main)
    assert client.most_in_flight == 3
    assert sorted(call.at for call in client.calls) == [5.0] * 3 + [6.0] * 3 + [7.0] * 3


def test_a_read_runs_with_the_operations_log_context() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [succeeded()]})
    done = Done(1)

    async def main() -> None:
        await track_all(Poller(client), [operation(url, done)], done)

    virtual(main)
    assert client.calls[0].context == {"vault": "v1", "subscription_id": SUB}


def test_each_read_carries_its_own_operations_log_context_and_nothing_leaks() -> None:
    urls = [f"{BASE}/a", f"{BASE}/b"]
    client = FakeArm({url: [running(1), succeeded()] for url in urls})
    done = Done(2)
    after: list[dict[str, object]] = []

    async def main() -> None:
        ops = [operation(url, done) for url in urls]
        ops[1].log_context = {"vault": "v2", "subscription_id": SUB}
        await track_all(Poller(client), ops, done)
        after.append(structlog.contextvars.get_contextvars())

    virtual(main)
    assert len(client.calls) == 4
    seen = {(call.url, call.context["vault"]) for call in client.calls}
    assert seen == {(urls[0], "v1"), (urls[1], "v2")}
    assert after == [{}]


# --- rule 1: never before Retry-After --------------------------------------------------------


def test_retry_after_outranks_the_model() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [running(40), succeeded()]})
    done = Done(1)

    async def main() -> None:
        poller = Poller(client, model=ready_model(10.0))
        await track_all(poller, [operation(url, done)], done)

    virtual(main)
    assert client.times(url) == [10.0, 50.0]  # the model said done by 10, the server said wait


def test_retry_after_outranks_the_longest_interval() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [running(250), succeeded()]})
    done = Done(1)

    async def main() -> None:
        poller = Poller(client, model=ready_model(10.0), deadline=1_000.0)
        await track_all(poller, [operation(url, done)], done)

    virtual(main)
    assert client.times(url) == [10.0, 260.0]


def test_a_retry_after_past_the_deadline_leaves_the_deadline_to_end_the_run() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [running(250), succeeded()]})
    done = Done(1)

    async def main() -> None:
        poller = Poller(client, model=ready_model(10.0), deadline=100.0)
        runner = asyncio.create_task(poller.run())
        poller.track(operation(url, done))
        await asyncio.sleep(1_000.0)
        assert poller.running == 1  # still tracked: the run's deadline reports it timed out
        runner.cancel()

    virtual(main)
    assert client.times(url) == [10.0]  # no read past the deadline, none before Retry-After


# --- rule 2: the model's quantile, by the spare get budget -----------------------------------


@pytest.mark.parametrize(
    ("spare", "first_read"),
    [(1.0, 18.0), (0.5, 18.0), (0.49, 19.0), (0.1, 19.0), (0.09, 20.0), (0.0, 20.0)],
)
def test_the_first_read_aims_at_a_quantile_chosen_by_the_spare_get_budget(
    spare: float, first_read: float
) -> None:
    """Of operations taking 1..20 s (each twice, enough for the model to be mature): 90 % are
    done by 18 s, 95 % by 19, 98 % by 20."""
    url = f"{BASE}/a"
    client = FakeArm({url: [succeeded()]})
    done = Done(1)
    asked: list[str] = []

    def spare_of(subscription_id: str) -> float:
        asked.append(subscription_id)
        return spare

    async def main() -> None:
        poller = Poller(client, model=mature_model(), spare=spare_of)
        await track_all(poller, [operation(url, done)], done)

    virtual(main)
    assert client.times(url) == [first_read]
    assert set(asked) == {SUB}


def test_a_running_operation_is_read_again_where_those_that_ran_as_long_are_done() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [running(), running(), succeeded()]})
    done = Done(1)

    async def main() -> None:
        poller = Poller(client, model=mature_model())
        await track_all(poller, [operation(url, done)], done)

    virtual(main)
    # 90 % of all are done by 18 s; past 18 s too few ran (MIN_AT_RISK) for the model to say:
    # read again on the scouts' growing schedule.
    assert client.times(url) == [18.0, 18.0 * SCOUT_GROWTH, 18.0 * SCOUT_GROWTH**2]


# --- rule 2b: scouts while the model knows too little ----------------------------------------


def test_while_the_model_knows_too_little_scouts_are_read_on_a_growing_schedule() -> None:
    url = f"{BASE}/a"
    client = FakeArm(operations={url: Simulated(ends_at=10.0)})
    done = Done(1)

    async def main() -> None:
        await track_all(Poller(client), [operation(url, done)], done)

    virtual(main)
    expected = [SCOUT_FIRST_WAIT]
    while expected[-1] < 10.0:
        expected.append(expected[-1] * SCOUT_GROWTH)
    assert client.times(url) == pytest.approx(expected)


def test_only_the_first_few_operations_scout_the_rest_are_parked_for_the_lesson() -> None:
    urls = [f"{BASE}/op{i}" for i in range(SCOUTS + 2)]
    client = FakeArm(operations={url: Simulated(ends_at=1000.0) for url in urls})
    done = Done(len(urls))

    async def main() -> None:
        poller = Poller(client)
        runner = asyncio.create_task(poller.run())
        for url in urls:
            poller.track(operation(url, done))
        await asyncio.sleep(6.0)
        runner.cancel()

    virtual(main)
    reads = [client.times(url) for url in urls]
    # The scouts started together: the first one's read at each step speaks for them all.
    step = SCOUT_FIRST_WAIT
    expected = []
    while step <= 6.0:
        expected.append(step)
        step *= SCOUT_GROWTH
    assert reads[0] == pytest.approx(expected)
    assert reads[1:] == [[]] * (SCOUTS + 1)  # nothing learned: the rest are parked


def test_the_waiting_operations_are_released_as_soon_as_the_model_is_ready() -> None:
    """Scouts that end after a second: the scout read for them all finds it at 1.125 s, the
    others (scouts and parked alike) are read at once then, one read each."""
    scouts = [f"{BASE}/scout{i}" for i in range(SCOUTS)]
    waiting = [f"{BASE}/wait{i}" for i in range(3)]
    operations = {url: Simulated(ends_at=1.0) for url in scouts + waiting}
    client = FakeArm(operations=operations)
    done = Done(len(operations))

    async def main() -> None:
        ops = [operation(url, done) for url in scouts + waiting]
        await track_all(Poller(client), ops, done)

    virtual(main)
    found = SCOUT_FIRST_WAIT * SCOUT_GROWTH**2
    assert client.times(scouts[0]) == [SCOUT_FIRST_WAIT, SCOUT_FIRST_WAIT * SCOUT_GROWTH, found]
    assert [client.times(url) for url in scouts[1:] + waiting] == [[found]] * (SCOUTS + 2)


def test_a_parked_operation_is_read_where_the_model_says_once_it_can() -> None:
    """Operations of 50 s known; one scout ends at about 1 s and the model is ready: the parked
    one is read at 50 s (where the model says), not at MAX_POLL_INTERVAL; running past every
    known duration it is a scout among scouts that ran longer, read at their step, within
    MAX_POLL_INTERVAL."""
    scouts = [f"{BASE}/scout{i}" for i in range(SCOUTS)]
    late = f"{BASE}/late"
    operations = {url: Simulated(ends_at=1_000.0) for url in [*scouts, late]}
    operations[scouts[0]] = Simulated(ends_at=1.0)
    client = FakeArm(operations=operations)
    done = Done(len(operations))
    model = model_of([50.0] * (MIN_SAMPLES - 1))

    async def main() -> None:
        poller = Poller(client, model=model)
        runner = asyncio.create_task(poller.run())
        for url in [*scouts, late]:
            poller.track(operation(url, done))
        await asyncio.sleep(200.0)
        assert model.ready
        runner.cancel()

    virtual(main)
    assert 1.0 <= done.at[scouts[0]] < 2.0  # the lesson came then
    reads = client.times(late)
    assert reads[:2] == [50.0, 50.0 + MAX_POLL_INTERVAL]
    assert all(b > a for a, b in itertools.pairwise(reads))


# --- rule 3: no later than MAX_POLL_INTERVAL after the last, nor past the deadline ------------


def test_no_read_comes_later_than_the_longest_interval_after_the_last() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [running(), running(), succeeded()]})
    done = Done(1)

    async def main() -> None:
        await track_all(Poller(client, model=ready_model(1_000.0)), [operation(url, done)], done)

    virtual(main)
    assert MAX_POLL_INTERVAL == 120.0
    assert client.times(url) == [120.0, 240.0, 360.0]


def test_the_last_read_is_due_just_before_the_deadline() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [succeeded()]})
    done = Done(1)

    async def main() -> None:
        poller = Poller(client, model=ready_model(500.0), deadline=100.0)
        await track_all(poller, [operation(url, done)], done)

    virtual(main)
    assert client.times(url) == [100.0 - DEADLINE_MARGIN]


# --- durations learned from the tool's own clock -------------------------------------------------


def test_the_model_learns_no_more_than_the_tool_saw_pass() -> None:
    """The server says 42 s; the tool saw it end half a second after the PATCH's answer."""
    url = f"{BASE}/a"
    body_times = {"startTime": "2026-11-25T01:00:00Z", "endTime": "2026-11-25T01:00:42Z"}
    client = FakeArm({url: [succeeded(**body_times)]})
    done = Done(1)
    model = DurationModel()

    async def main() -> None:
        await track_all(Poller(client, model=model), [operation(url, done)], done)

    virtual(main)
    assert client.times(url) == [0.5]
    assert (model.chance_done(0.49), model.chance_done(0.5)) == (0.0, 1.0)


def test_a_server_duration_shorter_than_what_the_tool_saw_is_learned() -> None:
    url = f"{BASE}/a"
    body_times = {"startTime": "2026-11-25T01:00:00Z", "endTime": "2026-11-25T01:00:07Z"}
    client = FakeArm({url: [succeeded(**body_times)]})
    done = Done(1)
    model = DurationModel()

    async def main() -> None:
        await track_all(Poller(client, model=model), [operation(url, done, not_before=12.0)], done)

    virtual(main)
    # ASR's times are whole seconds: its 7 s may be up to one more.
    learned = 7.0 + SERVER_TIME_RESOLUTION
    assert (model.chance_done(learned - 0.1), model.chance_done(learned)) == (0.0, 1.0)


def test_a_learned_duration_is_never_shorter_than_the_op_was_seen_running() -> None:
    url = f"{BASE}/a"
    body_times = {"startTime": "2026-11-25T01:00:00Z", "endTime": "2026-11-25T01:00:01Z"}
    client = FakeArm({url: [running(20), succeeded(**body_times)]})
    done = Done(1)
    model = DurationModel()

    async def main() -> None:
        await track_all(Poller(client, model=model), [operation(url, done, not_before=5.0)], done)

    virtual(main)
    assert client.times(url) == [5.0, 25.0]
    assert (model.chance_done(4.9), model.chance_done(5.0)) == (0.0, 1.0)  # seen running at 5


def test_without_server_times_the_model_learns_the_observed_duration() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [succeeded()]})
    done = Done(1)
    model = DurationModel()

    async def main() -> None:
        op = operation(url, done, not_before=12.0, started=2.0)
        await track_all(Poller(client, model=model), [op], done)

    virtual(main)
    assert (model.chance_done(9.9), model.chance_done(10.0)) == (0.0, 1.0)


def an_hour_off(started: float, seconds: float) -> Simulated:
    """A 2-second operation whose server writes its start without a zone in local time an
    hour ahead and its end in UTC: by the server's word it took an hour and more."""
    start = T0 + timedelta(seconds=started)
    return Simulated(
        ends_at=started + seconds,
        server_start=(start - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%f0"),
        server_end=(start + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f0Z"),
    )


def test_server_times_an_hour_off_never_delay_the_reads() -> None:
    urls = [f"{BASE}/op{i}" for i in range(40)]
    starts = {url: 10.0 * i for i, url in enumerate(urls)}
    client = FakeArm(operations={url: an_hour_off(starts[url], 2.0) for url in urls})
    done = Done(len(urls))
    model = DurationModel()

    async def main() -> None:
        poller = Poller(client, model=model)
        runner = asyncio.create_task(poller.run())
        for url in urls:
            await asyncio.sleep(starts[url] - asyncio.get_running_loop().time())
            poller.track(operation(url, done, started=starts[url]))
        await done.all_done.wait()
        poller.close()
        await runner

    virtual(main)
    lateness = [done.at[url] - (starts[url] + 2.0) for url in urls]
    # A scout's step at worst (what the tool saw is all it may learn), never an hour.
    assert max(lateness) <= 2.0 * (SCOUT_GROWTH - 1.0)
    assert all(len(client.times(url)) == 1 for url in urls[SCOUTS:])  # once learned: one read
    assert model.remaining(0.0) == pytest.approx(2.0 + lateness[-1])


def test_without_retry_after_it_takes_about_one_read_per_operation_once_the_model_is_ready() -> (
    None
):
    rng = random.Random(5)
    urls = [f"{BASE}/op{i}" for i in range(200)]
    starts = {url: 3.0 * i for i, url in enumerate(urls)}
    durations = {url: rng.uniform(20.0, 40.0) for url in urls}
    client = FakeArm(operations={url: Simulated(starts[url] + durations[url]) for url in urls})
    done = Done(len(urls))
    ready_at: list[float] = []
    model = DurationModel()

    async def main() -> None:
        poller = Poller(client, model=model)
        runner = asyncio.create_task(poller.run())
        for url in urls:
            await asyncio.sleep(starts[url] - asyncio.get_running_loop().time())
            if model.ready and not ready_at:
                ready_at.append(starts[url])
            poller.track(operation(url, done, started=starts[url]))
        await done.all_done.wait()
        poller.close()
        await runner

    virtual(main)
    later = [url for url in urls if ready_at and starts[url] >= ready_at[0]]
    assert len(later) > 150
    reads = [len(client.times(url)) for url in later]
    assert sum(reads) / len(reads) <= 1.2
    assert max(reads) <= 3
    assert all(done.at[url] >= starts[url] + durations[url] for url in urls)  # none early


# --- resumed operations ----------------------------------------------------------------------


def test_a_resumed_operation_is_read_at_once_and_teaches_nothing() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [running(), succeeded(startTime="2026-11-25T01:00:00Z")]})
    done = Done(1)
    model = ready_model(500.0)

    async def main() -> None:
        op = operation(url, done, started=50.0, resumed=True, strategy=ResumedPolling(url))
        await track_all(Poller(client, model=model), [op], done)

    virtual(main, start=50.0)
    t = client.times(url)
    assert t[0] == 50.0  # at once, not where the model would place it
    assert t[1] < 50.0 + 500.0  # its start is not ours: the model cannot place it either
    assert model.finished == MIN_SAMPLES
    assert "running=0" in repr(model)
    assert done.only()[1].verdict is Verdict.SUCCEEDED


def test_a_resumed_operation_honours_a_not_before_from_its_record() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [succeeded()]})
    done = Done(1)

    async def main() -> None:
        op = operation(url, done, started=0.0, resumed=True, not_before=7.0)
        await track_all(Poller(client), [op], done)

    virtual(main)
    assert client.times(url) == [7.0]


def test_a_resumed_operation_takes_no_scouts_place() -> None:
    urls = [f"{BASE}/resumed"] + [f"{BASE}/op{i}" for i in range(SCOUTS)]
    client = FakeArm(operations={url: Simulated(ends_at=0.0) for url in urls})
    done = Done(len(urls))

    async def main() -> None:
        ops = [operation(urls[0], done, resumed=True)]
        ops += [operation(url, done) for url in urls[1:]]
        await track_all(Poller(client), ops, done)

    virtual(main)
    assert [client.times(url) for url in urls[1:]] == [[SCOUT_FIRST_WAIT]] * SCOUTS


# --- how operations end ----------------------------------------------------------------------


def test_on_done_is_called_exactly_once_with_the_final_verdict() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [running(1), running(1), succeeded()]})
    done = Done(1)
    reads: list[Verdict] = []
    poller_box: list[Poller] = []

    async def main() -> None:
        poller = Poller(client)
        poller_box.append(poller)
        on_read = lambda op, verdict: reads.append(verdict.verdict)  # noqa: E731
        await track_all(poller, [operation(url, done, on_read=on_read)], done)

    virtual(main)
    op, verdict = done.only()
    assert (verdict.verdict, verdict.status, op.polls) == (Verdict.SUCCEEDED, "Succeeded", 3)
    assert reads == [Verdict.RUNNING, Verdict.RUNNING, Verdict.SUCCEEDED]
    assert op.last_verdict is not None and op.last_verdict.verdict is Verdict.SUCCEEDED
    assert (poller_box[0].tracked, poller_box[0].finished, poller_box[0].running) == (1, 1, 0)


def test_a_failed_operation_ends_with_its_error() -> None:
    url = f"{BASE}/a"
    body = {"status": "Failed", "error": {"code": "AutomationAccountNotFound", "message": "gone"}}
    client = FakeArm({url: [answer(200, body)]})
    done = Done(1)

    async def main() -> None:
        await track_all(Poller(client), [operation(url, done)], done)

    virtual(main)
    _, verdict = done.only()
    assert verdict.verdict is Verdict.FAILED
    assert verdict.error is not None
    assert verdict.error.code == "AutomationAccountNotFound"


@pytest.mark.parametrize(
    "unreadable",
    [
        answer(500, None),
        not_found(),
        answer(429, None, retry_after=8),
        answer(302, None),
        ArmTransportError("GET /operations/a: ServerDisconnectedError"),
    ],
    ids=["500", "404", "429", "302", "dropped"],
)
def test_an_unreadable_status_never_fails_the_operation_it_is_read_again(
    unreadable: ArmResponse | BaseException,
) -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [unreadable, unreadable, succeeded()]})
    done = Done(1)

    async def main() -> None:
        await track_all(Poller(client), [operation(url, done)], done)

    virtual(main)
    op, verdict = done.only()
    assert verdict.verdict is Verdict.SUCCEEDED
    assert (op.polls, op.failed_reads) == (3, 2)
    t = client.times(url)
    retry_after = unreadable.header("Retry-After") if isinstance(unreadable, ArmResponse) else None
    server_wait = float(retry_after) if retry_after else 0.0
    # A failed read is followed by a growing backoff (2 s, 4 s…), or the server's word if longer.
    assert t[1] - t[0] == max(server_wait, 2.0)
    assert t[2] - t[1] == max(server_wait, 4.0)


def test_a_location_operation_is_read_until_it_answers_200() -> None:
    url = f"{BASE}/loc"
    client = FakeArm({url: [answer(202, None, 2), answer(202, None, 2), answer(200, None)]})
    done = Done(1)

    async def main() -> None:
        op = operation(url, done, strategy=LocationPolling(url))
        await track_all(Poller(client), [op], done)

    virtual(main)
    op, verdict = done.only()
    assert (verdict.verdict, op.polls) == (Verdict.SUCCEEDED, 3)


@pytest.mark.parametrize("strategy", [AsyncOperationPolling, LocationPolling])
def test_a_403_on_the_status_url_fails_the_operation_at_once_with_asrs_code(
    strategy: Callable[[str], PollStrategy],
) -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [forbidden(), succeeded()]})
    done = Done(1)

    async def main() -> None:
        await track_all(Poller(client), [operation(url, done, strategy=strategy(url))], done)

    virtual(main)
    op, verdict = done.only()
    assert verdict.verdict is Verdict.FAILED
    assert verdict.error is not None
    assert (verdict.error.code, verdict.error.message) == ("AuthorizationFailed", "may not read it")
    assert op.polls == 1


def test_a_404_that_persists_ten_minutes_ends_as_operation_not_found() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [not_found()] * 100})
    done = Done(1)

    async def main() -> None:
        await track_all(Poller(client), [operation(url, done)], done)

    virtual(main)
    op, verdict = done.only()
    t = client.times(url)
    assert verdict.verdict is Verdict.FAILED
    assert verdict.error is not None
    assert verdict.error.code == "operation_not_found"
    assert "404" in verdict.error.message
    assert t[-1] - t[0] >= NOT_FOUND_SECONDS
    assert t[-2] - t[0] < NOT_FOUND_SECONDS  # the first read past ten minutes ends it
    assert op.polls == len(t) >= NOT_FOUND_READS


def test_a_404_read_rarely_ends_only_after_enough_reads() -> None:
    """Ten minutes, or five reads, whichever is later: a server asking to wait 5 minutes
    between reads gets its five reads."""
    url = f"{BASE}/a"
    client = FakeArm({url: [not_found(retry_after=300)] * 10})
    done = Done(1)

    async def main() -> None:
        await track_all(Poller(client), [operation(url, done)], done)

    virtual(main)
    op, verdict = done.only()
    t = client.times(url)
    assert verdict.error is not None and verdict.error.code == "operation_not_found"
    assert [round(x - t[0]) for x in t] == [0, 300, 600, 900, 1200]
    assert op.polls == NOT_FOUND_READS


def test_a_404_that_clears_up_never_fails_the_operation() -> None:
    """A new status URL may 404 for a while before ASR knows it: it is read again."""
    url = f"{BASE}/a"
    client = FakeArm({url: [not_found()] * 8 + [running(), succeeded()]})
    done = Done(1)

    async def main() -> None:
        await track_all(Poller(client), [operation(url, done)], done)

    virtual(main)
    _, verdict = done.only()
    assert verdict.verdict is Verdict.SUCCEEDED


def test_a_read_that_finds_the_operation_restarts_the_ten_minutes() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [*[not_found()] * 8, running(1), *[not_found()] * 100]})
    done = Done(1)

    async def main() -> None:
        await track_all(Poller(client), [operation(url, done)], done)

    virtual(main)
    t = client.times(url)
    found_at = t[8]
    assert t[-1] - found_at >= NOT_FOUND_SECONDS
    assert t[-2] - t[9] < NOT_FOUND_SECONDS


def test_a_later_404_streak_needs_its_own_five_reads() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [*[not_found()] * 4, running(1), *[not_found(retry_after=300)] * 10]})
    done = Done(1)

    async def main() -> None:
        await track_all(Poller(client), [operation(url, done)], done)

    virtual(main)
    t = client.times(url)
    streak = t[5:]
    assert [round(x - streak[0]) for x in streak] == [0, 300, 600, 900, 1200]


def test_a_resumed_operation_whose_url_answers_404_ends_at_once_as_gone() -> None:
    """The engine then checks the mapping itself."""
    url = f"{BASE}/a"
    client = FakeArm({url: [not_found(), succeeded()]})
    done = Done(1)

    async def main() -> None:
        op = operation(url, done, resumed=True, strategy=ResumedPolling(url))
        await track_all(Poller(client), [op], done)

    virtual(main)
    op, verdict = done.only()
    assert (verdict.verdict, verdict.unreadable) == (Verdict.UNREADABLE, Unreadable.NOT_FOUND)
    assert op.polls == 1


def test_a_resumed_operation_that_cannot_be_read_for_another_reason_is_read_again() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [answer(503, None), succeeded()]})
    done = Done(1)

    async def main() -> None:
        await track_all(Poller(client), [operation(url, done, resumed=True)], done)

    virtual(main)
    assert done.only()[1].verdict is Verdict.SUCCEEDED


# --- run() and close() -----------------------------------------------------------------------


def test_run_returns_at_once_when_closed_with_nothing_tracked() -> None:
    async def main() -> float:
        poller = Poller(FakeArm())
        poller.close()
        await poller.run()
        return asyncio.get_running_loop().time()

    assert virtual(main) == 0.0


def test_run_keeps_going_while_tracked_operations_remain() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [succeeded()]})
    done = Done(1)

    async def main() -> bool:
        poller = Poller(client)
        poller.track(operation(url, done, not_before=50.0))
        runner = asyncio.create_task(poller.run())
        await asyncio.sleep(10.0)
        poller.close()
        await asyncio.sleep(10.0)
        still_running = not runner.done()
        runner.cancel()
        return still_running

    assert virtual(main)
    assert client.calls == []  # and it was not read early because of close()


def test_run_returns_once_closed_and_the_last_operation_ends() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [running(5), succeeded()]})
    done = Done(1)

    async def main() -> None:
        poller = Poller(client)
        poller.track(operation(url, done, not_before=1.0))
        poller.close()  # as the engine does once every PATCH was sent
        await poller.run()

    virtual(main)
    assert len(done.verdicts) == 1


def test_an_unexpected_error_in_a_read_never_leaves_the_operation_untracked() -> None:
    url = f"{BASE}/a"
    client = FakeArm({url: [ArmAuthenticationError("token endpoint down"), succeeded()]})
    done = Done(1)

    async def main() -> None:
        poller = Poller(client)
        runner = asyncio.create_task(poller.run())
        poller.track(operation(url, done))
        await done.all_done.wait()
        poller.close()
        await runner

    virtual(main)
    assert [verdict.verdict for _, verdict in done.verdicts] == [Verdict.SUCCEEDED]


def test_an_arm_error_in_a_read_is_a_transient_unreadable_read() -> None:
    url = f"{BASE}/a"
    seen: list[PollVerdict] = []
    client = FakeArm({url: [ArmError("invalid_response", "not JSON"), succeeded()]})
    done = Done(1)

    async def main() -> None:
        op = operation(url, done, on_read=lambda _, verdict: seen.append(verdict))
        await track_all(Poller(client), [op], done)

    virtual(main)
    assert (seen[0].verdict, seen[0].unreadable) == (Verdict.UNREADABLE, Unreadable.TRANSIENT)
    assert seen[0].error is not None and seen[0].error.code == "invalid_response"


def test_the_repr_counts_tracked_and_finished_operations() -> None:
    poller = Poller(FakeArm())
    assert repr(poller).startswith("<Poller tracked=0 finished=0 queued=0")
