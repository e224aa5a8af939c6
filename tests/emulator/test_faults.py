"""Injected faults: each kind answers as it should, is counted, and changes state only if it is
an `*_after_effect` kind."""

from __future__ import annotations

import asyncio

import pydantic
import pytest
from arm_client import (
    ArmAnswer,
    ArmFor,
    ArmSession,
    DroppedConnection,
    Emulator,
    LocalEmulator,
    StartEmulator,
)
from asr_json import read_mapping
from requests_for_tests import ENABLE, TEST_ACCOUNTS, changeable

from orchestrator.emulator import NO_ANSWER, Faults, FleetSpec, ManualClock

pytestmark = pytest.mark.integration


async def _faulty(
    start_emulator: StartEmulator, retry_after: int | None = 3, **faults: object
) -> LocalEmulator:
    spec = FleetSpec(
        seed=4,
        retry_after_seconds=retry_after,
        faults=Faults(**faults),
        automation_accounts=TEST_ACCOUNTS,
        operation_seconds=(10.0, 10.0),
    )
    return await start_emulator(spec)


async def _patch_changes_nothing(
    server: Emulator, arm: ArmSession, expected_status: int
) -> ArmAnswer:
    mapping_id = changeable(server)[0]
    before = server.state.mapping(mapping_id)
    answer = await arm.patch(mapping_id, ENABLE)
    assert answer.status == expected_status
    assert server.state.mapping(mapping_id) == before
    assert server.state.counters.operations_started == 0
    return answer


async def test_http_500_answers_an_arm_error_and_changes_nothing(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await _faulty(start_emulator, http_500=1.0)
    answer = await _patch_changes_nothing(server, arm_for(server), 500)
    assert answer.body["error"]["code"] == "InternalServerError"
    assert server.state.counters.faults["http_500"] == 1


async def test_http_503_carries_retry_after_seconds_when_configured(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await _faulty(start_emulator, http_503=1.0)
    answer = await _patch_changes_nothing(server, arm_for(server), 503)
    assert answer.headers["Retry-After"] == "3"
    assert answer.body["error"]["code"] == "ServiceUnavailable"
    assert server.state.counters.faults["http_503"] == 1


async def test_http_503_carries_no_retry_after_by_default(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await _faulty(start_emulator, retry_after=None, http_503=1.0)
    answer = await _patch_changes_nothing(server, arm_for(server), 503)
    assert "Retry-After" not in answer.headers


async def test_throttle_answers_a_spurious_429_with_retry_after(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await _faulty(start_emulator, throttle=1.0)
    answer = await _patch_changes_nothing(server, arm_for(server), 429)
    assert answer.headers["Retry-After"] == "3"
    assert server.state.counters.faults["throttle"] == 1
    assert server.state.counters.throttled["set"] == 0  # not the limiter's doing


async def test_drop_closes_the_connection_without_an_answer_or_effect(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await _faulty(start_emulator, drop=1.0)
    arm = arm_for(server)
    mapping_id = changeable(server)[0]
    before = server.state.mapping(mapping_id)
    await arm.bearer()
    with pytest.raises(DroppedConnection):
        await arm.patch(mapping_id, ENABLE)
    assert server.state.mapping(mapping_id) == before
    assert server.state.counters.faults["drop"] == 1
    assert [e.status for e in server.state.journal if e.kind == "set"] == [NO_ANSWER]


async def test_drop_after_effect_applies_the_patch_then_loses_the_answer(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server = await _faulty(start_emulator, drop_after_effect=1.0)
    arm = arm_for(server)
    mapping_id = changeable(server)[0]
    await arm.bearer()
    with pytest.raises(DroppedConnection):
        await arm.patch(mapping_id, ENABLE)
    assert server.state.counters.operations_started == 1
    assert server.state.counters.faults["drop_after_effect"] == 1
    [entry] = [e for e in server.state.journal if e.kind == "set"]
    assert entry.status == NO_ANSWER and entry.operation_id  # the operation it started
    emulator_clock.advance(10)
    details = read_mapping(server.state, mapping_id)["properties"]["providerSpecificDetails"]
    assert details["agentAutoUpdateStatus"] == "Enabled"


async def test_slow_after_effect_applies_the_patch_and_answers_slow_seconds_later(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await _faulty(start_emulator, slow_after_effect=1.0, slow_seconds=0.05)
    arm = arm_for(server)
    mapping_id = changeable(server)[0]
    await arm.bearer()
    loop = asyncio.get_running_loop()
    started = loop.time()
    answer = await arm.patch(mapping_id, ENABLE)
    assert loop.time() - started >= 0.05
    assert answer.status == 202
    assert server.state.counters.operations_started == 1
    assert server.state.counters.faults["slow_after_effect"] == 1


async def test_slow_delays_the_answer_and_still_answers(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await _faulty(start_emulator, slow=1.0, slow_seconds=0.01)
    answer = await arm_for(server).get("/subscriptions")
    assert answer.status == 200
    assert server.state.counters.faults["slow"] == 1


async def test_the_first_token_failures_token_requests_answer_500(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await _faulty(start_emulator, token_failures=2)
    arm = arm_for(server)
    statuses = [(await arm.token()).status for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert server.state.counters.faults["token_failure"] == 2


async def test_faults_do_not_touch_the_token_endpoint(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await _faulty(start_emulator, http_500=1.0, drop=0.0)
    assert (await arm_for(server).token()).status == 200


async def test_fault_draws_repeat_for_the_same_seed(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    runs = []
    for _ in range(2):
        server = await _faulty(start_emulator, http_500=0.3, http_503=0.3)
        arm = arm_for(server)
        runs.append([(await arm.get("/subscriptions")).status for _ in range(30)])
    assert runs[0] == runs[1]
    assert {200, 500, 503} <= set(runs[0])


def test_failure_rates_adding_up_to_more_than_one_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="add up to more than 1"):
        Faults(http_500=0.6, drop_after_effect=0.6)
