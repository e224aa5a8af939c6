"""Injected faults: each kind answers as it should, is counted, and changes no state."""

from __future__ import annotations

import aiohttp
import pytest
from requests_for_tests import ENABLE

from orchestrator.emulator import NO_ANSWER, Condition, EmulatorServer, FleetSpec
from orchestrator.emulator.fleet_spec import Faults

pytestmark = pytest.mark.integration


async def _faulty(start_emulator, **faults: object) -> EmulatorServer:
    return await start_emulator(FleetSpec(seed=4, retry_after_seconds=3, faults=Faults(**faults)))


def _target(server: EmulatorServer) -> str:
    return next(
        m.id for m in server.state.fleet.mappings.values() if m.condition is Condition.NEEDS_CHANGE
    )


async def _patch_changes_nothing(server: EmulatorServer, arm, expected_status: int):
    mapping_id = _target(server)
    before = server.state.mapping(mapping_id)
    answer = await arm.patch(mapping_id, ENABLE)
    assert answer.status == expected_status
    assert server.state.mapping(mapping_id) == before
    assert server.state.counters.operations_started == 0
    return answer


async def test_http_500_answers_an_arm_error_and_changes_nothing(start_emulator, arm_for) -> None:
    server = await _faulty(start_emulator, http_500=1.0)
    answer = await _patch_changes_nothing(server, arm_for(server), 500)
    assert answer.body["error"]["code"] == "InternalServerError"
    assert server.state.counters.faults["http_500"] == 1


async def test_http_503_answers_with_retry_after(start_emulator, arm_for) -> None:
    server = await _faulty(start_emulator, http_503=1.0)
    answer = await _patch_changes_nothing(server, arm_for(server), 503)
    assert answer.headers["Retry-After"] == "3"
    assert answer.body["error"]["code"] == "ServiceUnavailable"
    assert server.state.counters.faults["http_503"] == 1


async def test_throttle_answers_a_spurious_429_with_retry_after(start_emulator, arm_for) -> None:
    server = await _faulty(start_emulator, throttle=1.0)
    answer = await _patch_changes_nothing(server, arm_for(server), 429)
    assert answer.headers["Retry-After"] == "3"
    assert server.state.counters.faults["throttle"] == 1
    assert server.state.counters.throttled["set"] == 0  # not the limiter's doing


async def test_drop_closes_the_connection_without_an_answer(start_emulator, arm_for) -> None:
    server = await _faulty(start_emulator, drop=1.0)
    arm = arm_for(server)
    mapping_id = _target(server)
    before = server.state.mapping(mapping_id)
    await arm.bearer()
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await arm.patch(mapping_id, ENABLE)
    assert server.state.mapping(mapping_id) == before
    assert server.state.counters.faults["drop"] == 1
    assert [e.status for e in server.state.journal if e.kind == "set"] == [NO_ANSWER]


async def test_slow_delays_the_answer_and_still_answers(start_emulator, arm_for) -> None:
    server = await _faulty(start_emulator, slow=1.0, slow_seconds=0.01)
    answer = await arm_for(server).get("/subscriptions")
    assert answer.status == 200
    assert server.state.counters.faults["slow"] == 1


async def test_the_first_token_failures_token_requests_answer_500(start_emulator, arm_for) -> None:
    server = await _faulty(start_emulator, token_failures=2)
    arm = arm_for(server)
    statuses = [(await arm.token()).status for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert server.state.counters.faults["token_failure"] == 2


async def test_faults_do_not_touch_the_token_endpoint(start_emulator, arm_for) -> None:
    server = await _faulty(start_emulator, http_500=1.0, drop=0.0)
    assert (await arm_for(server).token()).status == 200


async def test_fault_draws_repeat_for_the_same_seed(start_emulator, arm_for) -> None:
    runs = []
    for _ in range(2):
        server = await _faulty(start_emulator, http_500=0.3, http_503=0.3)
        arm = arm_for(server)
        runs.append([(await arm.get("/subscriptions")).status for _ in range(30)])
    assert runs[0] == runs[1]
    assert {200, 500, 503} <= set(runs[0])
