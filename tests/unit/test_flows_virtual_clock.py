"""The run's waits on a clock whose timers fire early, as asyncio allows (up to the clock's
resolution): the poller must wait again for what is left, not spin at that instant.

On a virtual clock (the in-process tier's), time moves only when the loop has nothing ready;
a poller that made a fresh task for each wait kept the loop busy at the instant its timer fired
early, so time never reached the operation's due read: the run hung (seen as a 120 s test
timeout, one run in a few, in `test_flows_ambiguous.py`).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from arm_stub import ArmStub
from multidict import CIMultiDict, CIMultiDictProxy
from virtual_clock import run_virtual

from orchestrator.arm.api import ArmResponse, CallCounters
from orchestrator.work.lro import PollVerdict, StrategyKind, strategy_of
from orchestrator.work.poller import Poller, TrackedOperation

COARSE = 0.5  # the loop may run a timer this early
WATCHDOG_SECONDS = 5.0  # real seconds: a spinning loop is cancelled, and the test fails


class DoneAtOnce(ArmStub):
    """An ArmApi whose status reads all say Succeeded; it notes when each came."""

    def __init__(self) -> None:
        self.counters = CallCounters()
        self.reads: list[float] = []

    async def get(self, url: str, **_: Any) -> ArmResponse:
        self.reads.append(asyncio.get_running_loop().time())
        headers = CIMultiDictProxy(CIMultiDict[str]())
        return ArmResponse(200, headers, {"status": "Succeeded"})


def test_a_read_due_after_an_early_timer_is_waited_for_not_spun_for() -> None:
    client = DoneAtOnce()
    ended: list[str] = []

    async def main() -> bool:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        def finished(_: TrackedOperation, verdict: PollVerdict) -> None:
            ended.append(str(verdict.verdict))
            done.set()

        poller = Poller(client)
        operation = TrackedOperation(
            strategy=strategy_of(StrategyKind.AZURE_ASYNC_OPERATION, "https://arm/op"),
            subscription_id="s",
            log_context={},
            started=loop.time(),
            not_before=loop.time() + 1.0,  # the server's Retry-After: read no sooner
            resumed=True,
            on_done=finished,
        )
        poller.track(operation)
        loop.call_at(0.7, lambda: None)  # time stops here; the poller's timer is then "due"
        run = asyncio.create_task(poller.run())
        this = asyncio.current_task()
        assert this is not None
        watchdog = threading.Timer(WATCHDOG_SECONDS, loop.call_soon_threadsafe, (this.cancel,))
        watchdog.start()
        try:
            await done.wait()
            poller.close()
            await run
        except asyncio.CancelledError:
            run.cancel()
            return False
        finally:
            watchdog.cancel()
        return True

    assert run_virtual(main(), clock_resolution=COARSE), "the poller spun: time never moved on"
    assert ended == ["succeeded"]
    assert len(client.reads) == 1 and client.reads[0] >= 1.0 - COARSE
