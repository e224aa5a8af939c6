"""When the poller reads, on virtual time: the rules of its docstring, one behaviour per test.

Two tiers: the poller alone against a fake ARM whose operations end at set loop times (every
read is recorded with its time), and the whole run in process against the emulator
(`inprocess.Rig`), where what counts is what the emulator saw.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from arm_stub import ArmStub
from inprocess import Rig
from multidict import CIMultiDict, CIMultiDictProxy
from virtual_clock import run_virtual

from orchestrator.arm.api import ArmResponse, CallCounters
from orchestrator.asr.rules import Verdict
from orchestrator.work.durations import DurationModel
from orchestrator.work.lro import AsyncOperationPolling, PollVerdict, StrategyKind
from orchestrator.work.pacing import (
    DEADLINE_MARGIN,
    MAX_POLL_INTERVAL,
    SCOUTS,
    SERVER_TIME_RESOLUTION,
)
from orchestrator.work.poller import Poller, TrackedOperation
from orchestrator.work.progress import Progress
from orchestrator.work.resume import ResumePoint
from orchestrator.work.takeover import Takeover, TakeoverHooks

T = TypeVar("T")
SUB = "11111111-1111-1111-1111-111111111111"
BASE = "https://management.azure.com/operations"
NEVER = float("inf")
VIRTUAL_TIMEOUT = 100_000.0  # virtual seconds: turns a hang into a fast TimeoutError


def virtual(main: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(main(), VIRTUAL_TIMEOUT)

    return run_virtual(bounded())


def now() -> float:
    return asyncio.get_running_loop().time()


def stamp(seconds: float) -> str:
    return (datetime(2026, 11, 25, tzinfo=UTC) + timedelta(seconds=seconds)).isoformat()


@dataclass
class Operations(ArmStub):
    """A fake ARM: each status URL is an operation that ends (succeeds) at a loop time.

    ``server_offset`` is added to the endTime it prints (a server whose clock or times are off);
    ``retry_after`` goes on every in-progress answer; ``hold``: virtual seconds a read takes.
    """

    ends: dict[str, float] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)
    server_offset: float = 0.0
    retry_after: float | None = None
    hold: float = 0.0
    quick: int = 0  # the first this many operations added are read without ``hold``
    reads: list[tuple[str, float]] = field(default_factory=list)
    in_flight: Counter[str] = field(default_factory=Counter)
    overlapping: int = 0  # reads of a URL that began while another read of it was in flight
    counters: CallCounters = field(default_factory=CallCounters)

    def add(self, name: str, *, start: float, duration: float) -> str:
        url = f"{BASE}/{name}"
        self.started[url] = start
        self.ends[url] = start + duration
        return url

    def check_origin(self, url: str) -> None:
        return None

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
        self.reads.append((url, now()))
        self.overlapping += self.in_flight[url] > 0
        self.in_flight[url] += 1
        try:
            if self.hold and list(self.ends).index(url) >= self.quick:
                await asyncio.sleep(self.hold)
        finally:
            self.in_flight[url] -= 1
        headers = CIMultiDict[str]()
        if now() < self.ends[url]:
            if self.retry_after is not None:
                headers["Retry-After"] = f"{self.retry_after:g}"
            body: dict[str, Any] = {"status": "InProgress", "startTime": stamp(0), "endTime": None}
        else:
            start = self.started.get(url, 0.0)
            end = self.ends[url] + self.server_offset
            body = {"status": "Succeeded", "startTime": stamp(start), "endTime": stamp(end)}
        return ArmResponse(200, CIMultiDictProxy(headers), body)

    def times(self, url: str) -> list[float]:
        return [at for u, at in self.reads if u == url]

    def polls_per_operation(self) -> float:
        return len(self.reads) / len(self.ends)


@dataclass
class Ended:
    """Collects on_done calls; ``all`` is set once every expected operation ended."""

    expected: int
    verdicts: list[tuple[TrackedOperation, PollVerdict]] = field(default_factory=list)
    all: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, op: TrackedOperation, verdict: PollVerdict) -> None:
        self.verdicts.append((op, verdict))
        if len(self.verdicts) >= self.expected:
            self.all.set()

    def by_url(self) -> Counter[str]:
        return Counter(op.strategy.url for op, _ in self.verdicts)


def tracked(
    url: str, ended: Ended, *, not_before: float = 0.0, resumed: bool = False
) -> TrackedOperation:
    return TrackedOperation(
        strategy=AsyncOperationPolling(url),
        subscription_id=SUB,
        log_context={"vault": "v1", "subscription_id": SUB},
        started=now(),
        on_done=ended,
        not_before=not_before,
        resumed=resumed,
    )


def taught(durations: Sequence[float]) -> DurationModel:
    model = DurationModel()
    for duration in durations:
        model.observe(duration)
    return model


async def until_all_ended(poller: Poller, ended: Ended) -> None:
    runner = asyncio.create_task(poller.run())
    await ended.all.wait()
    poller.close()
    await runner


# --- the poller alone ----------------------------------------------------------------------------


def test_a_resumed_operation_is_read_at_once() -> None:
    """Its start is not ours: however long similar operations take, it is read when tracked."""
    arm = Operations()
    ended = Ended(1)

    async def main() -> float:
        poller = Poller(arm, model=taught([600.0] * 10))
        runner = asyncio.create_task(poller.run())
        await asyncio.sleep(7.0)
        url = arm.add("resumed", start=-100.0, duration=100.0)  # long done: ended at 0
        poller.track(tracked(url, ended, resumed=True))
        await ended.all.wait()
        poller.close()
        await runner
        return arm.times(url)[0]

    assert virtual(main) == 7.0


def test_resumed_operations_are_read_at_once_and_counted_as_running() -> None:
    """Taken over from a journal or a report: shown running before its mapping is even listed."""
    arm = Operations()
    progress = Progress()
    points = [
        ResumePoint(
            mapping_id=f"/subscriptions/{SUB}/resourceGroups/rg/providers/"
            f"Microsoft.RecoveryServices/vaults/v1/replicationFabrics/f/"
            f"replicationProtectionContainers/c/replicationProtectionContainerMappings/m{n}",
            vault_id=f"/subscriptions/{SUB}/resourceGroups/rg/providers/"
            "Microsoft.RecoveryServices/vaults/v1",
            subscription_id=SUB,
            url=arm.add(f"journalled-{n}", start=0.0, duration=30.0),
            kind=StrategyKind.AZURE_ASYNC_OPERATION,
            polls=3,
            started_at=None,
        )
        for n in range(2)
    ]

    async def main() -> tuple[int, list[float]]:
        poller = Poller(arm, model=taught([600.0] * 10))
        hooks = TakeoverHooks(
            conclude=lambda *_: None, redecide=lambda *_: None, changed=lambda: None
        )
        takeover = Takeover(arm, poller, progress, points, hooks, journal=None)
        runner = asyncio.create_task(poller.run())
        await asyncio.sleep(3.0)
        takeover.track_all()
        running = progress.snapshot().operations_running
        await asyncio.sleep(0.001)  # the reads are dispatched (at 3.0: nothing else waits)
        poller.close()
        runner.cancel()
        return running, [at for _, at in arm.reads]

    running, reads = virtual(main)
    assert running == 2
    assert reads == [3.0, 3.0]


def test_no_read_waits_longer_than_max_poll_interval() -> None:
    """Even when every known duration is an hour, a running operation is read at least every
    MAX_POLL_INTERVAL (and first within it of its start)."""
    arm = Operations()
    url = arm.add("slow", start=0.0, duration=NEVER)

    async def main() -> list[float]:
        poller = Poller(arm, model=taught([3_600.0] * 10))
        runner = asyncio.create_task(poller.run())
        poller.track(tracked(url, Ended(1)))
        await asyncio.sleep(1_000.0)
        runner.cancel()
        return arm.times(url)

    times = virtual(main)
    gaps = [b - a for a, b in itertools.pairwise([0.0, *times, 1_000.0])]
    assert len(times) >= 1_000.0 / MAX_POLL_INTERVAL - 1
    assert max(gaps) <= MAX_POLL_INTERVAL + 1e-9


@pytest.mark.parametrize("model", [None, taught([3_600.0] * 10), taught([1.0] * 10)])
def test_no_read_is_scheduled_past_the_deadline(model: DurationModel | None) -> None:
    """The last read is due DEADLINE_MARGIN before the deadline; nothing after it."""
    arm = Operations()
    url = arm.add("never", start=0.0, duration=NEVER)
    deadline = 300.0

    async def main() -> list[float]:
        poller = Poller(arm, model=model, deadline=deadline)
        runner = asyncio.create_task(poller.run())
        poller.track(tracked(url, Ended(1)))
        await asyncio.sleep(1_000.0)
        runner.cancel()
        return arm.times(url)

    times = virtual(main)
    assert times
    assert max(times) == pytest.approx(deadline - DEADLINE_MARGIN)


def test_an_operation_is_read_by_one_task_at_a_time_and_ends_once() -> None:
    """Parked operations are read at MAX_POLL_INTERVAL, slowly; meanwhile the scouts end and
    release them, and the tail begins: none is read twice at once, each ends exactly once."""
    durations = [100.0 + 40.0 * n / 39 for n in range(40)]
    random.Random(5).shuffle(durations)
    arm = Operations(hold=40.0, quick=SCOUTS)
    ended = Ended(len(durations))

    async def main() -> int:
        poller = Poller(arm)
        runner = asyncio.create_task(poller.run())
        for n, duration in enumerate(durations):
            poller.track(tracked(arm.add(f"op-{n}", start=0.0, duration=duration), ended))
        await asyncio.sleep(125.0)
        poller.sending_done()
        await ended.all.wait()
        poller.close()
        await runner
        return poller.running

    assert virtual(main) == 0
    assert arm.overlapping == 0
    assert set(ended.by_url().values()) == {1}
    assert all(verdict.verdict is Verdict.SUCCEEDED for _, verdict in ended.verdicts)


def test_while_the_model_knows_nothing_scouts_are_read_one_at_a_time() -> None:
    """A burst of operations with nothing learned yet: one read at a time finds their scale,
    the others wait for that lesson, and the whole burst costs about one read each."""
    arm = Operations(hold=0.01)
    durations = [2.0 + 4.0 * n / 99 for n in range(100)]
    random.Random(3).shuffle(durations)  # the first ones sent are no quicker than the rest
    ended = Ended(len(durations))
    flight: list[int] = []

    async def main() -> None:
        poller = Poller(arm)
        for n, duration in enumerate(durations):
            poller.track(tracked(arm.add(f"op-{n}", start=0.0, duration=duration), ended))
        watcher = asyncio.create_task(watch_flight(arm, flight, until=2.0))
        await until_all_ended(poller, ended)
        watcher.cancel()

    virtual(main)
    assert max(flight) == 1  # before the first one ends: one read at a time
    assert min(at for _, at in arm.reads) >= 0.5
    assert arm.polls_per_operation() <= 1.25


async def watch_flight(arm: Operations, flight: list[int], *, until: float) -> None:
    while now() < until:
        flight.append(sum(arm.in_flight.values()))
        await asyncio.sleep(0.001)


@pytest.mark.parametrize("offset", [3_600.0, -3_600.0, 0.5])
def test_a_learned_duration_is_never_more_than_the_poller_saw(offset: float) -> None:
    """A server's endTime an hour off (or just late) teaches nothing longer than what was seen
    to pass between the start and the read that found the operation done."""
    arm = Operations(server_offset=offset)
    url = arm.add("op", start=0.0, duration=2.0)
    model = DurationModel()

    async def main() -> None:
        ended = Ended(1)
        poller = Poller(arm, model=model)
        poller.track(tracked(url, ended, not_before=2.5))
        await until_all_ended(poller, ended)

    virtual(main)
    assert model.finished == 1
    assert model.longest() <= arm.times(url)[-1]


def test_a_server_duration_shorter_than_what_was_seen_is_learned() -> None:
    """To the end of the second its endTime names: ASR prints endTime in whole seconds."""
    arm = Operations()
    url = arm.add("op", start=0.0, duration=2.25)
    model = DurationModel()

    async def main() -> None:
        ended = Ended(1)
        poller = Poller(arm, model=model)
        poller.track(tracked(url, ended, not_before=5.0))
        await until_all_ended(poller, ended)

    virtual(main)
    assert model.longest() == pytest.approx(2.25 + SERVER_TIME_RESOLUTION)


def bulk_then_last(
    *, spare: float, retry_after: float | None = None, last: float = 7.3
) -> tuple[Operations, str]:
    """300 operations of 1-10 s, then (as after a set window) one last of ``last`` s, and the
    engine sends nothing more."""
    arm = Operations(retry_after=retry_after)
    durations = [1.0 + 9.0 * n / 299 for n in range(300)]
    random.Random(4).shuffle(durations)
    ended = Ended(len(durations) + 1)

    async def main() -> None:
        poller = Poller(arm, model=taught(durations), spare=lambda _: spare)
        runner = asyncio.create_task(poller.run())
        for n, duration in enumerate(durations):
            url = arm.add(f"op-{n}", start=now(), duration=duration)
            poller.track(tracked(url, ended, not_before=now() + (retry_after or 0.0)))
            await asyncio.sleep(0.05)
        await asyncio.sleep(6.0)
        url = arm.add("last", start=now(), duration=last)
        poller.track(tracked(url, ended, not_before=now() + (retry_after or 0.0)))
        poller.sending_done()
        await ended.all.wait()
        poller.close()
        await runner

    virtual(main)
    return arm, f"{BASE}/last"


def test_in_the_tail_spare_reads_find_the_last_operation_soon_after_it_ends() -> None:
    """What the bulk did not need is spent on the operation that ends the run: read about 20
    times over its expected duration (about 10 s here; the spare reads of 300 operations allow
    no more than that), it is found within a twentieth of it."""
    arm, last = bulk_then_last(spare=1.0)
    lag = arm.times(last)[-1] - arm.ends[last]
    assert len(arm.times(last)) >= 15
    assert 0.0 <= lag <= (10.0 + SERVER_TIME_RESOLUTION) / 20
    assert len(arm.times(last)) > 1
    assert arm.polls_per_operation() <= 1.25


def test_when_the_get_budget_is_scarce_the_tail_reads_no_more_than_the_rest() -> None:
    arm, last = bulk_then_last(spare=0.05)
    assert len(arm.times(last)) == 1
    assert arm.polls_per_operation() <= 1.05


def test_under_a_retry_after_no_read_comes_before_it() -> None:
    arm, _ = bulk_then_last(spare=1.0, retry_after=3.0)
    for url, start in arm.started.items():
        times = arm.times(url)
        assert times[0] >= start + 3.0 - 1e-9
        assert all(b - a >= 3.0 - 1e-9 for a, b in itertools.pairwise(times))
    assert arm.polls_per_operation() <= 1.25


# --- the whole run, in process against the emulator ---------------------------------------------


def polls_per_operation(rig: Rig) -> tuple[float, dict[str, list[float]]]:
    """Status reads per operation the emulator started, and each operation's read times since
    its PATCH was answered (the emulator's journal)."""
    started: dict[str, float] = {}
    reads: defaultdict[str, list[float]] = defaultdict(list)
    for entry in rig.state.journal:
        if entry.operation_id is None:
            continue
        key = entry.operation_id.lower()
        if entry.kind == "set":
            started[key] = entry.time
        elif entry.kind == "get":
            reads[key].append(entry.time - started[key])
    operations = rig.state.counters.operations_started
    return sum(len(r) for r in reads.values()) / operations, dict(reads)


@pytest.mark.parametrize("seconds", [(0.5, 6.0), (20.0, 110.0)])
def test_without_any_retry_after_a_mid_size_fleet_is_read_about_once_per_operation(
    tmp_path: Path, seconds: tuple[float, float]
) -> None:
    spec = {
        "seed": 5,
        "subscriptions": 2,
        "vaults_per_subscription": 40,
        "mappings_per_vault": [2, 6],
        "operation_seconds": list(seconds),
        "operation_failure_rate": 0.0,
    }
    rig = Rig(tmp_path, spec)
    run = rig.run("apply", rig.write_config(subscriptions="all"))
    assert run.exit_code == 0
    assert run.report is not None
    assert run.report["totals"]["changed"] >= 150
    polls, _ = polls_per_operation(rig)
    assert polls <= 1.25


def test_server_times_an_hour_off_delay_no_read(tmp_path: Path) -> None:
    """37 changes of 2-s operations on a server whose times are an hour off, with a deadline of
    a minute: each is found done about when it ends, and none times out."""
    spec = {
        "subscriptions": 1,
        "vaults_per_subscription": 37,
        "mappings_per_vault": [1, 1],
        "shares": {"not_a2a": 0, "not_paired": 0, "compliant": 0, "unhealthy": 0},
        "operation_seconds": [2.0, 2.0],
        "operation_failure_rate": 0.0,
        "server_time_skew_seconds": -3_600,
        "end_time_extra_seconds": 3_600,
        "timestamps_without_zone": True,
    }
    rig = Rig(tmp_path, spec)
    run = rig.run("apply", rig.write_config(subscriptions="all", timeout_minutes=1))
    assert run.exit_code == 0
    assert run.report is not None
    assert run.report["totals"]["succeeded"] == 37
    _, reads = polls_per_operation(rig)
    assert len(reads) == 37
    assert max(times[-1] for times in reads.values()) <= 2.0 * 1.5 + 0.1
    assert run.virtual_seconds <= 5.0
