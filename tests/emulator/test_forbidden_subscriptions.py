"""`forbidden_subscriptions`: subscriptions the identity sees but holds no role in answer 403."""

from __future__ import annotations

import pydantic
import pytest
from arm_client import ArmSession, LocalEmulator
from asr_json import read_mappings

from orchestrator.emulator import FleetSpec

pytestmark = pytest.mark.integration

VAULTS_PATH = "/subscriptions/{}/providers/Microsoft.RecoveryServices/vaults"
MAPPINGS_ACTION = (
    "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers"
    "/replicationProtectionContainerMappings"
)
DISABLE = {
    "properties": {
        "providerSpecificInput": {"instanceType": "A2A", "agentAutoUpdateStatus": "Disabled"}
    }
}


@pytest.fixture
def emulator_spec() -> FleetSpec:
    return FleetSpec(
        seed=31,
        subscriptions=3,
        vaults_per_subscription=2,
        mappings_per_vault=(1, 2),
        forbidden_subscriptions=(2,),
    )


def _in(subscription: str, arm_id: str) -> bool:
    return f"/subscriptions/{subscription}/".lower() in arm_id.lower()


async def test_a_forbidden_subscription_is_still_listed_by_get_subscriptions(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    listed = await arm.list_all("/subscriptions", "2022-12-01")
    assert [s["subscriptionId"] for s in listed] == emulator.state.subscription_ids


async def test_listing_its_vaults_is_403_authorization_failed_naming_action_and_scope(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    forbidden = emulator.state.subscription_ids[1]
    answer = await arm.get(VAULTS_PATH.format(forbidden), "2023-04-01")
    assert answer.status == 403
    assert answer.body["error"]["code"] == "AuthorizationFailed"
    message = answer.body["error"]["message"]
    assert "'Microsoft.RecoveryServices/vaults/read'" in message
    assert f"over scope '{VAULTS_PATH.format(forbidden)}'" in message


async def test_the_other_subscriptions_answer_as_usual(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    for number in (0, 2):
        sub = emulator.state.subscription_ids[number]
        vaults = await arm.list_all(VAULTS_PATH.format(sub), "2023-04-01")
        assert len(vaults) == 2


async def test_reading_or_patching_its_mappings_is_403_and_changes_nothing(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    forbidden = emulator.state.subscription_ids[1]
    vault = next(v for v in emulator.state.vault_ids() if _in(forbidden, v))
    mapping = next(m for m in read_mappings(emulator.state) if _in(forbidden, m["id"]))
    listing = await arm.get(f"{vault}/replicationProtectionContainerMappings")
    assert listing.status == 403
    vault_level = "Microsoft.RecoveryServices/vaults/replicationProtectionContainerMappings/read"
    assert f"'{vault_level}'" in listing.body["error"]["message"]
    reading = await arm.get(mapping["id"])
    assert reading.status == 403
    assert f"'{MAPPINGS_ACTION}/read'" in reading.body["error"]["message"]
    patched = await arm.patch(mapping["id"], DISABLE)
    assert patched.status == 403
    assert f"'{MAPPINGS_ACTION}/write'" in patched.body["error"]["message"]
    assert emulator.state.counters.operations_started == 0
    assert emulator.state.mapping(mapping["id"]) == mapping


@pytest.mark.parametrize("number", [0, 4])
def test_a_number_that_names_no_subscription_is_refused(number: int) -> None:
    with pytest.raises(pydantic.ValidationError, match="forbidden_subscriptions"):
        FleetSpec(subscriptions=3, forbidden_subscriptions=(number,))


def test_no_subscription_is_forbidden_by_default() -> None:
    assert FleetSpec().forbidden_subscriptions == ()
