"""Over loopback HTTP: what only the HTTP layer can show (connections dropped, bodies cut off at
the cap, answers as an HTTP client sees them)."""

from __future__ import annotations

import aiohttp
import pytest
from arm_client import ArmFor, StartHttpEmulator
from requests_for_tests import ENABLE, TEST_ACCOUNTS, changeable

from orchestrator.emulator import MAX_BODY_BYTES, NO_ANSWER, Faults, FleetSpec, ManualClock

pytestmark = pytest.mark.integration

SPEC = FleetSpec(
    seed=21,
    vaults_per_subscription=2,
    mappings_per_vault=(2, 3),
    operation_seconds=(10.0, 10.0),
    operation_failure_rate=0.0,
    automation_accounts=TEST_ACCOUNTS,
)


async def test_a_patch_and_its_status_read_over_http(
    start_http_emulator: StartHttpEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server = await start_http_emulator(SPEC)
    arm = arm_for(server)
    accepted = await arm.patch(changeable(server)[0], ENABLE)
    assert accepted.status == 202
    assert "Retry-After" not in accepted.headers
    assert accepted.headers["Azure-AsyncOperation"].startswith(server.base_url)
    emulator_clock.advance(10)
    done = await arm.get(accepted.headers["Azure-AsyncOperation"])
    assert (done.status, done.body["status"]) == (200, "Succeeded")
    assert done.headers["Content-Type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize("kind", ["drop", "drop_after_effect"])
async def test_a_dropped_answer_closes_the_http_connection(
    start_http_emulator: StartHttpEmulator, arm_for: ArmFor, kind: str
) -> None:
    server = await start_http_emulator(SPEC.model_copy(update={"faults": Faults(**{kind: 1.0})}))
    arm = arm_for(server)
    await arm.bearer()
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await arm.patch(changeable(server)[0], ENABLE)
    assert [e.status for e in server.state.journal if e.kind == "set"] == [NO_ANSWER]
    assert server.state.counters.operations_started == (kind == "drop_after_effect")


async def test_a_body_over_the_cap_is_refused_with_413_over_http(
    start_http_emulator: StartHttpEmulator, arm_for: ArmFor
) -> None:
    server = await start_http_emulator(SPEC)
    answer = await arm_for(server).patch(changeable(server)[0], b" " * (MAX_BODY_BYTES + 1))
    assert answer.status == 413
    assert answer.body["error"]["code"] == "RequestEntityTooLarge"
    assert server.state.counters.responses[("set", 413)] == 1


async def test_statistics_are_served_over_http_without_a_token(
    start_http_emulator: StartHttpEmulator, arm_for: ArmFor
) -> None:
    server = await start_http_emulator(SPEC)
    answer = await arm_for(server).request("GET", "/_emulator/counters", auth=False)
    assert answer.status == 200
    assert answer.body["conflicts"] == 0
