"""`faults.status_403_forever` / `status_404_forever`: an operation's status and Location URLs
stay unreadable while the operation itself runs and ends as drawn."""

from __future__ import annotations

import pytest
from arm_client import ArmAnswer, ArmFor, ArmSession, LocalEmulator, StartEmulator
from asr_json import read_mapping
from requests_for_tests import ENABLE, TEST_ACCOUNTS, changeable

from orchestrator.emulator import Faults, FleetSpec, ManualClock

pytestmark = pytest.mark.integration

SPEC = FleetSpec(
    seed=14,
    vaults_per_subscription=2,
    mappings_per_vault=(3, 3),
    operation_seconds=(10.0, 10.0),
    operation_failure_rate=0.0,
    token_lifetime_seconds=86_400,  # one token for reads spread over hours
    automation_accounts=TEST_ACCOUNTS,
)


async def _accepted(
    start_emulator: StartEmulator, arm_for: ArmFor, **faults: float
) -> tuple[LocalEmulator, ArmSession, str, ArmAnswer]:
    server = await start_emulator(SPEC.model_copy(update={"faults": Faults(**faults)}))
    arm = arm_for(server)
    mapping_id = changeable(server)[0]
    return server, arm, mapping_id, await arm.patch(mapping_id, ENABLE)


async def test_a_status_403_forever_operation_is_unreadable_but_still_applied(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server, arm, mapping_id, accepted = await _accepted(
        start_emulator, arm_for, status_403_forever=1.0
    )
    for _ in range(3):
        for header in ("Azure-AsyncOperation", "Location"):
            answer = await arm.get(accepted.headers[header])
            assert answer.status == 403, header
            assert answer.body["error"]["code"] == "AuthorizationFailed"
        emulator_clock.advance(3_000)
    status_read = await arm.get(accepted.headers["Azure-AsyncOperation"])
    assert "replicationOperationStatus/read" in status_read.body["error"]["message"]
    details = read_mapping(server.state, mapping_id)["properties"]["providerSpecificDetails"]
    assert details["agentAutoUpdateStatus"] == "Enabled"
    assert server.state.counters.faults["status_403_forever"] == 1


async def test_a_status_404_forever_operation_answers_operation_not_found_for_good(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server, arm, _, accepted = await _accepted(start_emulator, arm_for, status_404_forever=1.0)
    for _ in range(3):
        for header in ("Azure-AsyncOperation", "Location"):
            answer = await arm.get(accepted.headers[header])
            assert answer.status == 404
            assert answer.body["error"]["code"] == "OperationNotFound"
        emulator_clock.advance(3_600)
    assert server.state.counters.faults["status_404_forever"] == 1
    assert server.state.counters.faults["status_404"] == 0  # not the temporary kind


async def test_unreadable_reads_are_journalled_against_their_operation(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server, arm, _, accepted = await _accepted(start_emulator, arm_for, status_403_forever=1.0)
    await arm.get(accepted.headers["Azure-AsyncOperation"])
    operation_id = accepted.headers["Azure-AsyncOperation"].split("?")[0].rsplit("/", 1)[1]
    assert [e.status for e in server.state.journal.of_operation(operation_id)] == [202, 403]


async def test_the_share_is_drawn_per_operation(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(
        SPEC.model_copy(update={"faults": Faults(status_403_forever=0.5)})
    )
    arm = arm_for(server)
    statuses = []
    for mapping_id in changeable(server):
        accepted = await arm.patch(mapping_id, ENABLE)
        statuses.append((await arm.get(accepted.headers["Azure-AsyncOperation"])).status)
    assert set(statuses) == {200, 403}
    assert server.state.counters.faults["status_403_forever"] == statuses.count(403)


def test_both_shares_together_may_not_exceed_one() -> None:
    with pytest.raises(ValueError, match="status_40x_forever"):
        Faults(status_403_forever=0.7, status_404_forever=0.7)
