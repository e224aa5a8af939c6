"""Automation accounts: ``GET {account id}`` answers ARM's shape with or without a system-assigned
identity, 404 for an unknown one, 403 for one the identity may not read; accounts can be
declared one by one, per subscription or per vault."""

from __future__ import annotations

import pydantic
import pytest
from arm_client import ArmFor, StartEmulator

from orchestrator.emulator import AutomationAccountSpec, FleetSpec, fleet_automation_account

pytestmark = pytest.mark.integration

RG = "/subscriptions/{sub}/resourceGroups/rg-auto/providers/Microsoft.Automation/automationAccounts"


def _spec(*accounts: AutomationAccountSpec, **changes: object) -> FleetSpec:
    return FleetSpec(
        seed=8, subscriptions=2, vaults_per_subscription=2, automation_accounts=accounts, **changes
    )


async def test_the_fleet_account_exists_with_a_system_assigned_identity(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(_spec())
    account_id = server.state.fleet.automation_account
    assert account_id == fleet_automation_account(server.state.subscription_ids[0])
    answer = await arm_for(server).get(account_id)
    assert answer.status == 200
    body = answer.body
    assert (body["id"], body["name"]) == (account_id, "aa-asr-fleet")
    assert body["type"] == "Microsoft.Automation/AutomationAccounts"
    assert isinstance(body["location"], str)
    assert body["identity"]["type"] == "SystemAssigned"
    assert body["identity"]["tenantId"] == server.state.fleet.tenant_id
    assert body["identity"]["principalId"]
    assert body["properties"]["state"] == "Ok"


async def test_an_unknown_account_is_404_resource_not_found(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(_spec())
    sub = server.state.subscription_ids[0]
    answer = await arm_for(server).get(RG.format(sub=sub) + "/nope")
    assert answer.status == 404
    assert answer.body["error"]["code"] == "ResourceNotFound"
    assert "'Microsoft.Automation/automationAccounts/nope'" in answer.body["error"]["message"]


@pytest.mark.parametrize(
    ("identity", "expected"),
    [("None", {"type": "None"}), (None, None)],
)
async def test_an_account_without_a_system_assigned_identity(
    start_emulator: StartEmulator,
    arm_for: ArmFor,
    identity: str | None,
    expected: dict[str, str] | None,
) -> None:
    server = await start_emulator(_spec(AutomationAccountSpec(id="fleet", identity=identity)))
    body = (await arm_for(server).get(server.state.fleet.automation_account)).body
    assert body.get("identity") == expected


async def test_an_account_the_identity_may_not_read_is_403(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(_spec(AutomationAccountSpec(id="fleet", readable=False)))
    answer = await arm_for(server).get(server.state.fleet.automation_account)
    assert answer.status == 403
    assert answer.body["error"]["code"] == "AuthorizationFailed"
    assert "Microsoft.Automation/automationAccounts/read" in answer.body["error"]["message"]


async def test_a_per_subscription_template_declares_one_account_in_each(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    template = RG.replace("{sub}", "{subscription_id}") + "/aa-dr"
    server = await start_emulator(_spec(AutomationAccountSpec(id=template)))
    arm = arm_for(server)
    for sub in server.state.subscription_ids:
        assert (await arm.get(RG.format(sub=sub) + "/aa-dr")).status == 200
    assert len(server.state.automation_accounts) == 1 + 2


async def test_a_per_vault_template_declares_one_account_per_vault(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    template = (
        "/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/"
        "Microsoft.Automation/automationAccounts/aa-{vault}"
    )
    server = await start_emulator(_spec(AutomationAccountSpec(id=template, identity="None")))
    arm = arm_for(server)
    for vault in server.state.fleet.vaults.values():
        account_id = (
            f"/subscriptions/{vault.subscription_id}/resourceGroups/{vault.resource_group}"
            f"/providers/Microsoft.Automation/automationAccounts/aa-{vault.name}"
        )
        answer = await arm.get(account_id.upper())
        assert answer.status == 200
        assert answer.body["identity"] == {"type": "None"}


async def test_without_checks_any_account_exists(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(_spec(check_automation_accounts=False))
    answer = await arm_for(server).get(RG.format(sub="x") + "/anything")
    assert answer.status == 200
    assert answer.body["identity"]["type"] == "SystemAssigned"


@pytest.mark.parametrize(
    "bad",
    [
        "aa-asr-fleet",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/aa",
        "/subscriptions/{tenant}/resourceGroups/rg/providers/Microsoft.Automation/automationAccounts/a",
    ],
)
def test_a_malformed_account_id_or_placeholder_is_refused(bad: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="automation_accounts"):
        FleetSpec.model_validate({"automation_accounts": [{"id": bad}]})
