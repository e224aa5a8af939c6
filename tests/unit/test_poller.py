"""The poller and its duration model, on virtual time (see virtual_clock.py).

The poller is driven through a fake client that answers scripted ArmResponses and records the
loop time, priority and attempts of every read, so the tests can check exactly when each
operation was read: never before the ``Retry-After`` the server gave.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import structlog
from multidict import CIMultiDict, CIMultiDictProxy
from virtual_clock import run_virtual

from orchestrator.arm.client import ArmResponse
from orchestrator.errors import ArmAuthenticationError, ArmTransportError
from orchestrator.work.durations import MIN_SAMPLES, DurationModel
from orchestrator.work.lro import (
    AsyncOperationPolling,
    LocationPolling,
    PollStrategy,
    PollVerdict,
    Verdict,
)
from orchestrator.work.poller import DEFAULT_RETRY_AFTER, Poller, TrackedOperation

T = TypeVar("T")
SUB = "11111111-1111-1111-1111-111111111111"
BASE = "https://management.azure.com/operations"
VIRTUAL_TIMEOUT = 100_000.0  # virtual seconds: turns a hang into a fast TimeoutError


def answer(status: int, body: Any = None, retry_after: float | None = None) -> ArmResponse:
    headers = CIMultiDict[str]()
    if retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
    return ArmResponse(status, CIMultiDictProxy(headers), body)


def running(retry_after: float | None = None) -> ArmResponse:
    return answer(200, {"status": "InProgress"}, retry_after)


def succeeded(**extra: Any) -> ArmResponse:
    return answer(200, {"status": "Succeeded", **extra})


@dataclass
class Call:
    url: str
    at: float
    priority: float
    attempts: int | None
    context: dict[str, Any]


@dataclass
class FakeClient:
    """Answers each URL's scripted responses in order; an Exception in the script is raised."""

    script: dict[str, list[ArmResponse | BaseException]]
    hold: float = 0.0  # virtual seconds each read takes
    calls: list[Call] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0

    async def get(
        self, url: str, *, subscription_id: str, priority: float = 0.0, attempts: int | None = None
    ) -> ArmResponse:
        assert subscription_id == SUB
        loop = asyncio.get_running_loop()
        self.calls.append(
            Call(url, loop.time(), priority, attempts, structlog.contextvars.get_contextvars())
        )
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.hold:
                await asyncio.sleep(self.hold)
            item = self.script[url].pop(0)
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
    all_done: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, op: TrackedOperation, verdict: PollVerdict) -> None:
        self.verdicts.append((op, verdict))
        if len(self.verdicts) >= self.expected:
            self.all_done.set()


def operation(
    url: str,
    done: Done,
    *,
    not_before: float,
    started: float = 0.0,
    strategy: PollStrategy | None = None,
) -> TrackedOperation:
    return TrackedOperation(
        strategy=strategy or AsyncOperationPolling(url),
        subscription_id=SUB,
        log_context={"vault": "v1", "subscription_id": SUB},
        started=started,
        on_done=done,
        not_before=not_before,
    )


def virtual(main: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(main(), VIRTUAL_TIMEOUT)

    return run_virtual(bounded())


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


# --- DurationModel -------------------------------------------------------------------------------


def model_of(durations: Sequence[float]) -> DurationModel:
    model = DurationModel()
    for d in durations:
        model.observe(d)
    return model


def test_the_model_gives_no_estimate_before_it_has_enough_samples() -> None:
    assert model_of([10.0] * (MIN_SAMPLES - 1)).remaining(0.0) is None


def test_the_model_estimates_time_left_from_known_durations() -> None:
    model = model_of([30.0, 10.0, 20.0, 50.0, 40.0])  # observed out of order
    assert model.remaining(0.0) == 50.0
    assert model.remaining(35.0) == 15.0  # of those longer than 35 s (40, 50), the slower


def test_the_model_gives_no_estimate_once_past_every_known_duration() -> None:
    assert model_of([10.0] * MIN_SAMPLES).remaining(10.0) is None


def test_the_model_aims_at_the_ninetieth_percentile() -> None:
    # Of ten operations taking 1..10 s, nine (90 %) are done after 9 s.
    assert model_of([float(d) for d in range(1, 11)]).remaining(0.0) == 9.0


def test_chance_done_is_a_coin_toss_while_nothing_is_known() -> None:
    assert DurationModel().chance_done(100.0) == 0.5


def test_chance_done_is_the_share_of_known_operations_done_by_then() -> None:
    model = model_of([1.0, 2.0, 3.0, 4.0])
    assert [model.chance_done(t) for t in (0.5, 2.0, 3.5, 9.0)] == [0.0, 0.5, 0.75, 1.0]


# --- Poller: when it reads -----------------------------------------------------------------------


def test_an_operation_is_first_read_at_its_not_before() -> None:
    url = f"{BASE}/a"
    client = FakeClient({url: [succeeded()]})
    done = Done(1)

    async def main() -> None:
        await track_all(Poller(client), [operation(url, done, not_before=30.0)], done)  # type: ignore[arg-type]

    virtual(main)
    assert client.times(url) == [30.0]


def test_each_read_waits_at_least_the_retry_after_of_the_previous_answer() -> None:
    url = f"{BASE}/a"
    client = FakeClient({url: [running(10), running(3), running(), succeeded()]})
    done = Done(1)

    async def main() -> None:
        await track_all(Poller(client), [operation(url, done, not_before=1.0)], done)  # type: ignore[arg-type]

    virtual(main)
    t = client.times(url)
    assert len(t) == 4
    assert t[0] >= 1.0
    assert t[1] - t[0] >= 10.0
    assert t[2] - t[1] >= 3.0
    assert t[3] - t[2] >= DEFAULT_RETRY_AFTER  # no Retry-After: the default


def test_many_operations_are_each_read_no_earlier_than_allowed() -> None:
    urls = [f"{BASE}/op{i}" for i in range(40)]
    first_allowed = {url: float(i % 7) * 3.5 for i, url in enumerate(urls)}
    retry_after = {url: 1.0 + (i % 5) for i, url in enumerate(urls)}
    client = FakeClient(
        {url: [running(retry_after[url]), running(retry_after[url]), succeeded()] for url in urls}
    )
    done = Done(len(urls))

    async def main() -> None:
        ops = [operation(url, done, not_before=first_allowed[url]) for url in urls]
        await track_all(Poller(client, concurrency=4), ops, done)  # type: ignore[arg-type]

    virtual(main)
    for url in urls:
        t = client.times(url)
        assert len(t) == 3, url
        assert t[0] >= first_allowed[url]
        assert t[1] - t[0] >= retry_after[url]
        assert t[2] - t[1] >= retry_after[url]


def test_a_learned_duration_delays_the_first_read_past_not_before() -> None:
    url = f"{BASE}/a"
    client = FakeClient({url: [succeeded()]})
    done = Done(1)

    async def main() -> None:
        poller = Poller(client, model=model_of([20.0] * MIN_SAMPLES))  # type: ignore[arg-type]
        await track_all(poller, [operation(url, done, not_before=1.0, started=0.0)], done)

    virtual(main)
    assert client.times(url) == [20.0]


def test_reads_are_single_attempt_and_prioritised_by_the_chance_of_being_done() -> None:
    url = f"{BASE}/a"
    client = FakeClient({url: [succeeded()]})
    done = Done(1)

    async def main() -> None:
        # Too few samples to place the first read, enough to say how likely it is done.
        poller = Poller(client, model=model_of([1.0, 2.0, 3.0, 4.0]))  # type: ignore[arg-type]
        await track_all(poller, [operation(url, done, not_before=3.0)], done)

    virtual(main)
    (call,) = client.calls
    assert (call.at, call.attempts) == (3.0, 1)
    assert call.priority == pytest.approx(1.0 - 0.75)  # 3 of 4 known operations took <= 3 s


def test_no_more_reads_are_in_flight_than_the_concurrency() -> None:
    urls = [f"{BASE}/op{i}" for i in range(9)]
    client = FakeClient({url: [succeeded()] for url in urls}, hold=1.0)
    done = Done(len(urls))

    async def main() -> None:
        ops = [operation(url, done, not_before=5.0) for url in urls]
        await track_all(Poller(client, concurrency=3), ops, done)  # type: ignore[arg-type]

    virtual(main)
    assert client.most_in_flight == 3
    assert sorted(call.at for call in client.calls) == [5.0] * 3 + [6.0] * 3 + [7.0] * 3


def test_a_read_runs_with_the_operations_log_context() -> None:
    url = f"{BASE}/a"
    client = FakeClient({url: [succeeded()]})
    done = Done(1)

    async def main() -> None:
        await track_all(Poller(client), [operation(url, done, not_before=0.0)], done)  # type: ignore[arg-type]

    virtual(main)
    assert client.calls[0].context == {"vault": "v1", "subscription_id": SUB}


def test_each_read_carries_its_own_operations_log_context_and_nothing_leaks() -> None:
    urls = [f"{BASE}/a", f"{BASE}/b"]
    client = FakeClient({url: [running(1), succeeded()] for url in urls})
    done = Done(2)
    after: list[dict[str, object]] = []

    async def main() -> None:
        ops = [operation(url, done, not_before=0.0) for url in urls]
        ops[1].log_context = {"vault": "v2", "subscription_id": SUB}
        await track_all(Poller(client), ops, done)  # type: ignore[arg-type]
        after.append(structlog.contextvars.get_contextvars())

    virtual(main)
    assert len(client.calls) == 4
    seen = {(call.url, call.context["vault"]) for call in client.calls}
    assert seen == {(urls[0], "v1"), (urls[1], "v2")}
    assert after == [{}]


# --- Poller: how operations end ------------------------------------------------------------------


def test_on_done_is_called_exactly_once_with_the_final_verdict() -> None:
    url = f"{BASE}/a"
    client = FakeClient({url: [running(1), running(1), succeeded()]})
    done = Done(1)
    poller_box: list[Poller] = []

    async def main() -> None:
        poller = Poller(client)  # type: ignore[arg-type]
        poller_box.append(poller)
        await track_all(poller, [operation(url, done, not_before=0.0)], done)

    virtual(main)
    ((op, verdict),) = done.verdicts
    assert (verdict.verdict, verdict.status, op.polls) == (Verdict.SUCCEEDED, "Succeeded", 3)
    assert (poller_box[0].tracked, poller_box[0].finished, poller_box[0].running) == (1, 1, 0)


def test_a_failed_operation_ends_with_its_error() -> None:
    url = f"{BASE}/a"
    body = {"status": "Failed", "error": {"code": "AutomationAccountNotFound", "message": "gone"}}
    client = FakeClient({url: [answer(200, body)]})
    done = Done(1)

    async def main() -> None:
        await track_all(Poller(client), [operation(url, done, not_before=0.0)], done)  # type: ignore[arg-type]

    virtual(main)
    ((_, verdict),) = done.verdicts
    assert verdict.verdict is Verdict.FAILED
    assert verdict.error is not None
    assert verdict.error.code == "AutomationAccountNotFound"


@pytest.mark.parametrize(
    "unreadable",
    [
        answer(500, None),
        answer(404, {"error": {"code": "NotFound", "message": "no such operation"}}),
        answer(429, None, retry_after=8),
        ArmTransportError("GET /operations/a: ServerDisconnectedError"),
    ],
    ids=["500", "404", "429", "dropped"],
)
def test_an_unreadable_status_never_fails_the_operation_it_is_read_again(
    unreadable: ArmResponse | BaseException,
) -> None:
    url = f"{BASE}/a"
    client = FakeClient({url: [unreadable, unreadable, succeeded()]})
    done = Done(1)

    async def main() -> None:
        await track_all(Poller(client), [operation(url, done, not_before=0.0)], done)  # type: ignore[arg-type]

    virtual(main)
    ((op, verdict),) = done.verdicts
    assert verdict.verdict is Verdict.SUCCEEDED
    assert (op.polls, op.failed_reads) == (3, 2)
    t = client.times(url)
    retry_after = unreadable.header("Retry-After") if isinstance(unreadable, ArmResponse) else None
    wait = float(retry_after) if retry_after else DEFAULT_RETRY_AFTER
    assert t[1] - t[0] >= wait
    assert t[2] - t[1] >= wait


def test_a_location_operation_is_read_until_it_answers_200() -> None:
    url = f"{BASE}/loc"
    client = FakeClient({url: [answer(202, None, 2), answer(202, None, 2), answer(200, None)]})
    done = Done(1)

    async def main() -> None:
        op = operation(url, done, not_before=0.0, strategy=LocationPolling(url))
        await track_all(Poller(client), [op], done)  # type: ignore[arg-type]

    virtual(main)
    ((op, verdict),) = done.verdicts
    assert (verdict.verdict, op.polls) == (Verdict.SUCCEEDED, 3)


def test_a_finished_operation_teaches_the_model_its_duration() -> None:
    url = f"{BASE}/a"
    body_times = {"startTime": "2026-11-25T01:00:00Z", "endTime": "2026-11-25T01:00:42Z"}
    client = FakeClient({url: [succeeded(**body_times)]})
    done = Done(1)
    model = DurationModel()

    async def main() -> None:
        await track_all(Poller(client, model=model), [operation(url, done, not_before=0.0)], done)  # type: ignore[arg-type]

    virtual(main)
    assert (model.chance_done(41.9), model.chance_done(42.0)) == (0.0, 1.0)


def test_without_server_times_the_model_learns_the_observed_duration() -> None:
    url = f"{BASE}/a"
    client = FakeClient({url: [succeeded()]})
    done = Done(1)
    model = DurationModel()

    async def main() -> None:
        op = operation(url, done, not_before=12.0, started=2.0)
        await track_all(Poller(client, model=model), [op], done)  # type: ignore[arg-type]

    virtual(main)
    assert (model.chance_done(9.9), model.chance_done(10.0)) == (0.0, 1.0)


# --- Poller: run() and close() -------------------------------------------------------------------


def test_run_returns_at_once_when_closed_with_nothing_tracked() -> None:
    async def main() -> float:
        poller = Poller(FakeClient({}))  # type: ignore[arg-type]
        poller.close()
        await poller.run()
        return asyncio.get_running_loop().time()

    assert virtual(main) == 0.0


def test_run_keeps_going_while_tracked_operations_remain() -> None:
    url = f"{BASE}/a"
    client = FakeClient({url: [succeeded()]})
    done = Done(1)

    async def main() -> bool:
        poller = Poller(client)  # type: ignore[arg-type]
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
    client = FakeClient({url: [running(5), succeeded()]})
    done = Done(1)

    async def main() -> None:
        poller = Poller(client)  # type: ignore[arg-type]
        poller.track(operation(url, done, not_before=1.0))
        poller.close()  # as the engine does once every PATCH was sent
        await poller.run()

    virtual(main)
    assert len(done.verdicts) == 1


def test_an_unexpected_error_in_a_read_never_leaves_the_operation_untracked() -> None:
    url = f"{BASE}/a"
    client = FakeClient({url: [ArmAuthenticationError("token endpoint down"), succeeded()]})
    done = Done(1)

    async def main() -> None:
        poller = Poller(client)  # type: ignore[arg-type]
        runner = asyncio.create_task(poller.run())
        poller.track(operation(url, done, not_before=0.0))
        await done.all_done.wait()
        poller.close()
        await runner

    virtual(main)
    assert [verdict.verdict for _, verdict in done.verdicts] == [Verdict.SUCCEEDED]
