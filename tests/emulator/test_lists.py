"""Paged lists over HTTP: subscriptions, vaults, mappings; every item exactly once."""

from __future__ import annotations

import pytest
from arm_client import ArmFor, ArmSession, LocalEmulator, StartEmulator
from asr_json import read_mappings
from yarl import URL

from orchestrator.emulator import FleetSpec

pytestmark = pytest.mark.integration

VAULTS_PATH = "/subscriptions/{}/providers/Microsoft.RecoveryServices/vaults"


async def test_the_subscription_list_pages_through_every_subscription(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    subscriptions = await arm.list_all("/subscriptions", "2022-12-01")
    assert [s["subscriptionId"] for s in subscriptions] == emulator.state.subscription_ids
    first = subscriptions[0]
    assert first["id"] == f"/subscriptions/{first['subscriptionId']}"
    assert first["state"] == "Enabled"
    assert isinstance(first["displayName"], str)


async def test_the_vault_list_pages_through_every_vault_of_a_subscription(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    sub = emulator.state.subscription_ids[1]
    first_page = await arm.get(VAULTS_PATH.format(sub), "2023-04-01")
    assert len(first_page.body["value"]) == 2  # page_size
    vaults = await arm.list_all(VAULTS_PATH.format(sub), "2023-04-01")
    expected = [v for v in emulator.state.vault_ids() if f"/subscriptions/{sub}/" in v]
    assert [v["id"] for v in vaults] == expected
    assert vaults[0]["type"] == "Microsoft.RecoveryServices/vaults"
    assert vaults[0]["properties"] == {"provisioningState": "Succeeded"}


async def test_next_links_are_absolute_urls_on_the_same_base_url(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    vault_id = emulator.state.vault_ids()[0]
    answer = await arm.get(f"{vault_id}/replicationProtectionContainerMappings")
    link = URL(answer.body["nextLink"])
    assert link.is_absolute()
    assert str(link.origin()) == emulator.base_url
    assert link.query["api-version"] == "2021-12-01"
    assert "$skiptoken" in link.query


async def test_every_mapping_of_every_vault_is_listed_exactly_once(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    listed = []
    for vault_id in emulator.state.vault_ids():
        listed.extend(await arm.list_all(f"{vault_id}/replicationProtectionContainerMappings"))
    expected = list(emulator.state.mappings())
    assert [m["id"] for m in listed] == [m["id"] for m in expected]
    assert listed == expected


async def test_a_mapping_can_be_read_by_its_id(arm: ArmSession, emulator: LocalEmulator) -> None:
    mapping = next(read_mappings(emulator.state))
    answer = await arm.get(mapping["id"])

    assert answer.status == 200
    assert answer.body == mapping


async def test_a_single_page_list_has_no_next_link(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(FleetSpec(mappings_per_vault=(3, 3), page_size=3))
    answer = await arm_for(server).get(
        f"{server.state.vault_ids()[0]}/replicationProtectionContainerMappings"
    )
    assert len(answer.body["value"]) == 3
    assert "nextLink" not in answer.body


async def test_a_vault_without_mappings_lists_an_empty_page(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(FleetSpec(mappings_per_vault=(0, 0)))
    answer = await arm_for(server).get(
        f"{server.state.vault_ids()[0]}/replicationProtectionContainerMappings"
    )
    assert answer.status == 200
    assert answer.body == {"value": []}


@pytest.mark.parametrize(
    ("path", "code"),
    [
        (VAULTS_PATH.format("00000000-0000-0000-0000-000000000000"), "SubscriptionNotFound"),
        (
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/nope"
            "/replicationProtectionContainerMappings",
            "ResourceNotFound",
        ),
        (
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/nope"
            "/replicationFabrics/f/replicationProtectionContainers/c/replicationProtectionContainerMappings/m",
            "ResourceNotFound",
        ),
        (
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines",
            "InvalidResourceType",
        ),
    ],
)
async def test_unknown_resources_answer_404_with_an_arm_error(
    arm: ArmSession, path: str, code: str
) -> None:
    answer = await arm.get(path)
    assert answer.status == 404
    assert answer.body["error"]["code"] == code
    assert answer.body["error"]["message"]


async def test_a_forged_continuation_token_is_refused(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    vault_id = emulator.state.vault_ids()[0]
    answer = await arm.get(
        f"{vault_id}/replicationProtectionContainerMappings", params={"$skiptoken": "not-ours"}
    )
    assert answer.status == 400
    assert answer.body["error"]["code"] == "InvalidSkipToken"


async def test_unsupported_methods_answer_405(arm: ArmSession, emulator: LocalEmulator) -> None:
    vault_id = emulator.state.vault_ids()[0]
    answer = await arm.request(
        "DELETE",
        f"{vault_id}/replicationProtectionContainerMappings",
        params={"api-version": "2021-12-01"},
    )
    assert answer.status == 405
    assert answer.body["error"]["code"] == "MethodNotAllowed"
