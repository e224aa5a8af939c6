"""An accepted PATCH's operation, from InProgress to each terminal status, on a manual clock."""

from __future__ import annotations

import pytest
from arm_client import ArmFor, ArmSession, Emulator, LocalEmulator, StartEmulator
from asr_json import A2ADetailsJson, read_mapping
from requests_for_tests import ACCOUNT, DISABLE, ENABLE, TEST_ACCOUNTS, enable, mapping_in
from yarl import URL

from orchestrator.emulator import (
    Condition,
    Faults,
    FleetSpec,
    ManualClock,
    OperationOutcomes,
    Shares,
)

pytestmark = pytest.mark.integration

SPEC = FleetSpec(
    seed=5,
    vaults_per_subscription=3,
    mappings_per_vault=(3, 3),
    shares=Shares(not_a2a=0.0, not_paired=0.0, compliant=0.3, unhealthy=0.3, run_as_account=0.0),
    operation_seconds=(30.0, 30.0),
    operation_failure_rate=0.0,
    retry_after_seconds=5,
    automation_accounts=TEST_ACCOUNTS,
)


def details(server: Emulator, mapping_id: str) -> A2ADetailsJson:
    return read_mapping(server.state, mapping_id)["properties"]["providerSpecificDetails"]


async def start(
    start_emulator: StartEmulator, arm_for: ArmFor, **changes: object
) -> tuple[LocalEmulator, ArmSession]:
    server = await start_emulator(SPEC.model_copy(update=changes))
    return server, arm_for(server)


async def test_an_operation_is_in_progress_until_its_duration_has_passed(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server, arm = await start(start_emulator, arm_for)
    mapping_id = mapping_in(server, Condition.NEEDS_CHANGE)
    accepted = await arm.patch(mapping_id, ENABLE)
    status_url = accepted.headers["Azure-AsyncOperation"]
    emulator_clock.advance(29.9)
    running = await arm.get(status_url)
    assert running.status == 200
    assert running.body["status"] == "InProgress"
    assert running.headers["Retry-After"] == "5"
    assert running.body["endTime"] is None
    assert details(server, mapping_id)["agentAutoUpdateStatus"] == "Disabled"
    emulator_clock.advance(0.1)
    done = await arm.get(status_url)
    assert done.body["status"] == "Succeeded"
    assert done.body["name"] == URL(status_url).path.rsplit("/", 1)[1]
    assert done.body["id"] is None
    assert done.body["startTime"] < done.body["endTime"]
    assert done.body["error"] is None
    assert "Retry-After" not in done.headers


async def test_a_succeeded_enable_changes_the_mapping_and_clears_its_health_errors(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server, arm = await start(start_emulator, arm_for)
    mapping_id = mapping_in(server, Condition.UNHEALTHY)
    await arm.patch(mapping_id, enable(automationAccountAuthenticationType="RunAsAccount"))
    emulator_clock.advance(30)
    mapping = (await arm.get(mapping_id)).body
    assert mapping["properties"]["providerSpecificDetails"]["agentAutoUpdateStatus"] == "Enabled"
    assert mapping["properties"]["providerSpecificDetails"]["automationAccountArmId"] == ACCOUNT
    assert (
        mapping["properties"]["providerSpecificDetails"]["automationAccountAuthenticationType"]
        == "RunAsAccount"
    )
    assert mapping["properties"]["healthErrorDetails"] == []
    assert mapping["properties"]["health"] == "Normal"


async def test_an_enable_without_authentication_type_gets_run_as_account_as_the_spec_says(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server, arm = await start(start_emulator, arm_for)
    mapping_id = mapping_in(server, Condition.NEEDS_CHANGE)
    await arm.patch(mapping_id, ENABLE)
    emulator_clock.advance(30)
    assert details(server, mapping_id)["automationAccountAuthenticationType"] == "RunAsAccount"


async def test_default_authentication_type_can_make_that_system_assigned_identity(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server, arm = await start(
        start_emulator, arm_for, default_authentication_type="SystemAssignedIdentity"
    )
    mapping_id = mapping_in(server, Condition.NEEDS_CHANGE)
    await arm.patch(mapping_id, ENABLE)
    emulator_clock.advance(30)
    assert (
        details(server, mapping_id)["automationAccountAuthenticationType"]
        == "SystemAssignedIdentity"
    )


async def test_a_disable_sets_disabled_and_keeps_the_account(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server, arm = await start(start_emulator, arm_for)
    mapping_id = mapping_in(server, Condition.COMPLIANT)
    before = details(server, mapping_id)
    await arm.patch(mapping_id, DISABLE)
    emulator_clock.advance(30)
    after = details(server, mapping_id)
    assert after["agentAutoUpdateStatus"] == "Disabled"
    assert after["automationAccountArmId"] == before["automationAccountArmId"]
    assert (
        after["automationAccountAuthenticationType"]
        == before["automationAccountAuthenticationType"]
    )
    assert after["scheduleName"] is None
    assert after["jobScheduleName"] is None


async def test_a_failed_operation_reports_its_error_and_leaves_the_mapping_alone(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server, arm = await start(start_emulator, arm_for, operation_failure_rate=1.0)
    mapping_id = mapping_in(server, Condition.UNHEALTHY)
    before = server.state.mapping(mapping_id)
    accepted = await arm.patch(mapping_id, ENABLE)
    emulator_clock.advance(31)
    status = await arm.get(accepted.headers["Azure-AsyncOperation"])
    assert status.body["status"] == "Failed"
    assert status.body["error"]["code"]
    assert status.body["error"]["message"]
    assert status.body["endTime"] is not None
    result = await arm.get(accepted.headers["Location"])
    assert result.status == 400
    assert result.body["error"]["code"] == status.body["error"]["code"]
    assert server.state.mapping(mapping_id) == before


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        (OperationOutcomes(partially_succeeded=1.0), "PartiallySucceeded"),
        (OperationOutcomes(completed_with_information=1.0), "CompletedWithInformation"),
    ],
)
async def test_the_other_successful_statuses_also_change_the_mapping(
    start_emulator: StartEmulator,
    arm_for: ArmFor,
    emulator_clock: ManualClock,
    outcomes: OperationOutcomes,
    expected: str,
) -> None:
    server, arm = await start(start_emulator, arm_for, operation_outcomes=outcomes)
    mapping_id = mapping_in(server, Condition.NEEDS_CHANGE)
    accepted = await arm.patch(mapping_id, ENABLE)
    emulator_clock.advance(30)
    status = await arm.get(accepted.headers["Azure-AsyncOperation"])
    assert status.body["status"] == expected
    assert details(server, mapping_id)["agentAutoUpdateStatus"] == "Enabled"


async def test_the_location_url_answers_202_while_running_then_200_with_the_mapping(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server, arm = await start(start_emulator, arm_for)
    mapping_id = mapping_in(server, Condition.NEEDS_CHANGE)
    accepted = await arm.patch(mapping_id, ENABLE)
    running = await arm.get(accepted.headers["Location"])
    assert running.status == 202
    assert running.headers["Retry-After"] == "5"
    emulator_clock.advance(30)
    done = await arm.get(accepted.headers["Location"])
    assert done.status == 200
    assert done.body == server.state.mapping(mapping_id)
    assert done.body["properties"]["providerSpecificDetails"]["agentAutoUpdateStatus"] == "Enabled"


async def test_a_never_finishing_operation_stays_in_progress(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server, arm = await start(start_emulator, arm_for, faults=Faults(never_finish=1.0))
    mapping_id = mapping_in(server, Condition.NEEDS_CHANGE)
    accepted = await arm.patch(mapping_id, ENABLE)
    emulator_clock.advance(3_000)  # 100 times the duration, within the token lifetime
    status = await arm.get(accepted.headers["Azure-AsyncOperation"])
    assert status.body["status"] == "InProgress"
    assert (await arm.get(accepted.headers["Location"])).status == 202
    assert details(server, mapping_id)["agentAutoUpdateStatus"] == "Disabled"
    assert server.state.counters.faults["never_finish"] == 1


async def test_status_urls_answer_404_for_status_404_seconds_after_the_patch(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server, arm = await start(start_emulator, arm_for, faults=Faults(status_404_seconds=10))
    accepted = await arm.patch(mapping_in(server, Condition.NEEDS_CHANGE), ENABLE)
    emulator_clock.advance(9)
    assert (await arm.get(accepted.headers["Azure-AsyncOperation"])).status == 404
    assert (await arm.get(accepted.headers["Location"])).status == 404
    emulator_clock.advance(1)
    assert (await arm.get(accepted.headers["Azure-AsyncOperation"])).status == 200
    assert (await arm.get(accepted.headers["Location"])).status == 202
    assert server.state.counters.faults["status_404"] == 2


async def test_an_unknown_operation_is_404(start_emulator: StartEmulator, arm_for: ArmFor) -> None:
    server, arm = await start(start_emulator, arm_for)
    accepted = await arm.patch(mapping_in(server, Condition.NEEDS_CHANGE), ENABLE)
    url = URL(accepted.headers["Azure-AsyncOperation"])
    forged = url.with_path(url.path.rsplit("/", 1)[0] + "/00000000-0000-4000-8000-000000000000")
    answer = await arm.get(str(forged))
    assert answer.status == 404
    assert answer.body["error"]["code"] == "OperationNotFound"


async def test_an_operation_is_not_found_under_another_vault(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server, arm = await start(start_emulator, arm_for)
    accepted = await arm.patch(mapping_in(server, Condition.NEEDS_CHANGE), ENABLE)
    operation_id = URL(accepted.headers["Azure-AsyncOperation"]).path.rsplit("/", 1)[1]
    other_vault = server.state.vault_ids()[-1]
    answer = await arm.get(f"{other_vault}/replicationOperationStatus/{operation_id}")
    assert answer.status == 404


async def test_a_patch_while_an_operation_runs_is_answered_409_conflict_and_counted(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server, arm = await start(start_emulator, arm_for)
    mapping_id = mapping_in(server, Condition.NEEDS_CHANGE)
    await arm.patch(mapping_id, ENABLE)
    emulator_clock.advance(10)
    second = await arm.patch(mapping_id, DISABLE)
    assert second.status == 409
    assert second.body["error"]["code"] == "Conflict"
    assert second.body["error"]["message"]
    assert server.state.counters.patches_while_running == 1
    assert server.state.counters.conflicts == 1
    assert server.state.counters.operations_started == 1  # the second was not admitted
    emulator_clock.advance(20)
    assert details(server, mapping_id)["agentAutoUpdateStatus"] == "Enabled"


async def test_without_conflict_while_running_a_second_patch_is_accepted_and_counted(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server, arm = await start(start_emulator, arm_for, conflict_while_running=False)
    mapping_id = mapping_in(server, Condition.NEEDS_CHANGE)
    await arm.patch(mapping_id, ENABLE)
    emulator_clock.advance(10)
    assert (await arm.patch(mapping_id, DISABLE)).status == 202
    assert server.state.counters.patches_while_running == 1
    assert server.state.counters.conflicts == 0
    assert server.state.counters.operations_started == 2


async def test_a_patch_while_a_never_ending_operation_runs_is_409_for_good(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server, arm = await start(start_emulator, arm_for, faults=Faults(never_finish=1.0))
    mapping_id = mapping_in(server, Condition.NEEDS_CHANGE)
    await arm.patch(mapping_id, ENABLE)
    emulator_clock.advance(3_000)
    assert (await arm.patch(mapping_id, ENABLE)).status == 409


async def test_a_patch_after_the_operation_ended_is_not_counted(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server, arm = await start(start_emulator, arm_for)
    mapping_id = mapping_in(server, Condition.NEEDS_CHANGE)
    await arm.patch(mapping_id, ENABLE)
    emulator_clock.advance(30)
    await arm.patch(mapping_id, DISABLE)
    emulator_clock.advance(30)
    assert server.state.counters.patches_while_running == 0
    assert details(server, mapping_id)["agentAutoUpdateStatus"] == "Disabled"


async def test_operation_draws_repeat_for_the_same_seed_mapping_and_attempt(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    spec = SPEC.model_copy(
        update={"operation_seconds": (1.0, 100.0), "operation_failure_rate": 0.5}
    )
    seen = []
    for _ in range(2):
        server = await start_emulator(spec)
        arm = arm_for(server)
        urls = [
            (await arm.patch(m.id, ENABLE)).headers["Azure-AsyncOperation"]
            for m in server.state.fleet.mappings.values()
        ]
        seen.append([URL(url).path for url in urls])
    assert seen[0] == seen[1]


async def test_the_journal_ties_the_patch_and_its_polls_to_the_operation(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server, arm = await start(start_emulator, arm_for)
    accepted = await arm.patch(mapping_in(server, Condition.NEEDS_CHANGE), ENABLE)
    operation_id = URL(accepted.headers["Azure-AsyncOperation"]).path.rsplit("/", 1)[1]
    emulator_clock.advance(5)
    await arm.get(accepted.headers["Azure-AsyncOperation"])
    emulator_clock.advance(5)
    await arm.get(accepted.headers["Location"])
    entries = server.state.journal.of_operation(operation_id)
    assert [(e.method, e.kind, e.status) for e in entries] == [
        ("PATCH", "set", 202),
        ("GET", "get", 200),
        ("GET", "get", 202),
    ]
    assert [e.time - entries[0].time for e in entries] == [0, 5, 10]
