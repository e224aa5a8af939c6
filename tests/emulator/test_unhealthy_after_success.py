"""An enable judged by its Automation account: a missing account fails the operation; one whose
identity lacks rights (or has no system-assigned identity when that is asked) succeeds but
leaves the mapping Enabled and unhealthy; `unhealthy_after_success_rate` does so anyway."""

from __future__ import annotations

from typing import Any

import pytest
from arm_client import ArmAnswer, ArmFor, StartEmulator
from asr_json import MappingJson, read_mapping
from requests_for_tests import ACCOUNT, enable, mapping_in

from orchestrator.emulator import (
    ACCOUNT_NOT_FOUND,
    AFTER_SUCCESS_CODE,
    NO_IDENTITY_CODE,
    NO_RIGHTS_CODE,
    AutomationAccountSpec,
    Condition,
    FleetSpec,
    ManualClock,
    Shares,
)

pytestmark = pytest.mark.integration

HEALTH_KEYS = {
    "errorCode",
    "errorMessage",
    "possibleCauses",
    "recommendedAction",
    "summaryMessage",
    "errorLevel",
    "errorCategory",
    "creationTimeUtc",
    "innerHealthErrors",
}


def _spec(*accounts: AutomationAccountSpec, **changes: object) -> FleetSpec:
    return FleetSpec(
        seed=19,
        vaults_per_subscription=2,
        mappings_per_vault=(3, 3),
        shares=Shares(not_a2a=0, not_paired=0, compliant=0.3, unhealthy=0),
        operation_seconds=(10.0, 10.0),
        operation_failure_rate=0.0,
        automation_accounts=accounts,
        **changes,
    )


async def _enable(
    start_emulator: StartEmulator,
    arm_for: ArmFor,
    clock: ManualClock,
    spec: FleetSpec,
    **provider: object,
) -> tuple[MappingJson, Any, ArmAnswer]:
    """Enable a mapping with the fleet's account; (its JSON after the operation, the status)."""
    server = await start_emulator(spec)
    arm = arm_for(server)
    mapping_id = mapping_in(server, Condition.NEEDS_CHANGE)
    body = enable(automationAccountArmId=server.state.fleet.automation_account, **provider)
    accepted = await arm.patch(mapping_id, body)
    clock.advance(10)
    status = await arm.get(accepted.headers["Azure-AsyncOperation"])
    return read_mapping(server.state, mapping_id), status.body, accepted


def _health(mapping: MappingJson) -> tuple[str, list[str]]:

    properties = mapping["properties"]
    return properties["health"], [e["errorCode"] for e in properties["healthErrorDetails"]]


SYSTEM = {"automationAccountAuthenticationType": "SystemAssignedIdentity"}


async def test_a_fit_account_leaves_the_mapping_enabled_and_healthy(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    mapping, status, _ = await _enable(start_emulator, arm_for, emulator_clock, _spec(), **SYSTEM)
    assert status["status"] == "Succeeded"
    assert mapping["properties"]["providerSpecificDetails"]["agentAutoUpdateStatus"] == "Enabled"
    assert _health(mapping) == ("Normal", [])


async def test_an_account_without_rights_on_the_vault_succeeds_unhealthy(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    spec = _spec(AutomationAccountSpec(id="fleet", rights_on_vaults=False))
    mapping, status, _ = await _enable(start_emulator, arm_for, emulator_clock, spec, **SYSTEM)
    assert status["status"] == "Succeeded"
    assert mapping["properties"]["providerSpecificDetails"]["agentAutoUpdateStatus"] == "Enabled"
    assert _health(mapping) == ("Critical", [NO_RIGHTS_CODE])
    assert set(mapping["properties"]["healthErrorDetails"][0]) >= HEALTH_KEYS


@pytest.mark.parametrize("identity", ["None", None, "UserAssigned"])
async def test_system_assigned_identity_asked_of_an_account_without_one_succeeds_unhealthy(
    start_emulator: StartEmulator,
    arm_for: ArmFor,
    emulator_clock: ManualClock,
    identity: str | None,
) -> None:
    spec = _spec(AutomationAccountSpec(id="fleet", identity=identity))
    mapping, status, _ = await _enable(start_emulator, arm_for, emulator_clock, spec, **SYSTEM)
    assert status["status"] == "Succeeded"
    assert _health(mapping) == ("Critical", [NO_IDENTITY_CODE])


async def test_run_as_account_asks_nothing_of_the_accounts_identity(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    spec = _spec(AutomationAccountSpec(id="fleet", identity="None"))
    mapping, _, _ = await _enable(
        start_emulator, arm_for, emulator_clock, spec,
        automationAccountAuthenticationType="RunAsAccount",
    )  # fmt: skip
    assert _health(mapping) == ("Normal", [])


async def test_an_account_that_does_not_exist_fails_the_operation(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server = await start_emulator(_spec())
    arm = arm_for(server)
    mapping_id = mapping_in(server, Condition.NEEDS_CHANGE)
    before = server.state.mapping(mapping_id)
    missing = server.state.fleet.automation_account + "-gone"
    accepted = await arm.patch(mapping_id, enable(automationAccountArmId=missing))
    assert accepted.status == 202  # accepted: the account is looked up by the operation
    emulator_clock.advance(10)
    status = (await arm.get(accepted.headers["Azure-AsyncOperation"])).body
    assert status["status"] == "Failed"
    assert status["error"]["code"] == ACCOUNT_NOT_FOUND
    assert missing in status["error"]["message"]
    result = await arm.get(accepted.headers["Location"])
    assert (result.status, result.body["error"]["code"]) == (400, ACCOUNT_NOT_FOUND)
    assert server.state.mapping(mapping_id) == before


async def test_a_sync_patch_naming_a_missing_account_is_refused_at_once(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(_spec(sync_patch_rate=1.0))
    mapping_id = mapping_in(server, Condition.NEEDS_CHANGE)
    missing = server.state.fleet.automation_account + "-gone"
    answer = await arm_for(server).patch(mapping_id, enable(automationAccountArmId=missing))
    assert (answer.status, answer.body["error"]["code"]) == (400, ACCOUNT_NOT_FOUND)


async def test_without_checks_an_unknown_account_enables_healthy(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server = await start_emulator(_spec(check_automation_accounts=False))
    arm = arm_for(server)
    mapping_id = mapping_in(server, Condition.NEEDS_CHANGE)
    unknown = (
        "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Automation/automationAccounts/y"
    )
    accepted = await arm.patch(mapping_id, enable(automationAccountArmId=unknown, **SYSTEM))
    emulator_clock.advance(10)
    assert (await arm.get(accepted.headers["Azure-AsyncOperation"])).body["status"] == "Succeeded"
    assert _health(read_mapping(server.state, mapping_id)) == ("Normal", [])


async def test_unhealthy_after_success_rate_leaves_a_warning_on_a_fit_enable(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    spec = _spec(unhealthy_after_success_rate=1.0)
    mapping, status, _ = await _enable(start_emulator, arm_for, emulator_clock, spec, **SYSTEM)
    assert status["status"] == "Succeeded"
    assert _health(mapping) == ("Warning", [AFTER_SUCCESS_CODE])


async def test_a_repair_with_a_fit_account_clears_the_health_errors(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    unfit = AutomationAccountSpec(id="fleet", rights_on_vaults=False)
    server = await start_emulator(_spec(unfit, AutomationAccountSpec(id=ACCOUNT)))
    arm = arm_for(server)
    mapping_id = mapping_in(server, Condition.NEEDS_CHANGE)
    fleet_account = server.state.fleet.automation_account
    await arm.patch(mapping_id, enable(automationAccountArmId=fleet_account, **SYSTEM))
    emulator_clock.advance(10)
    assert _health(read_mapping(server.state, mapping_id))[0] == "Critical"
    await arm.patch(mapping_id, enable(**SYSTEM))  # the fit account
    emulator_clock.advance(10)
    assert _health(read_mapping(server.state, mapping_id)) == ("Normal", [])
