"""Subscriptions in every state: listed with ``state``, readable one by one, their vaults still
listed; Disabled and Deleted ones refuse writes with 409 ReadOnlyDisabledSubscription."""

from __future__ import annotations

import pydantic
import pytest
from arm_client import ArmSession, LocalEmulator
from requests_for_tests import ENABLE, TEST_ACCOUNTS

from orchestrator.emulator import FleetSpec

pytestmark = pytest.mark.integration

STATES = {2: "Disabled", 3: "Warned", 4: "PastDue", 5: "Deleted"}
VAULTS = "/subscriptions/{}/providers/Microsoft.RecoveryServices/vaults"


@pytest.fixture
def emulator_spec() -> FleetSpec:
    return FleetSpec(
        seed=23,
        subscriptions=5,
        vaults_per_subscription=1,
        mappings_per_vault=(2, 2),
        subscription_states=STATES,
        automation_accounts=TEST_ACCOUNTS,
    )


def _a2a_mapping_of(emulator: LocalEmulator, subscription_id: str) -> str:
    vault = emulator.state.fleet.subscriptions_by_id[subscription_id.lower()].vaults[0]
    return next(m.id for m in vault.mappings if m.a2a)


async def test_every_subscription_is_listed_with_its_state(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    listed = await arm.list_all("/subscriptions")
    assert [s["state"] for s in listed] == ["Enabled", "Disabled", "Warned", "PastDue", "Deleted"]
    assert [s["subscriptionId"] for s in listed] == emulator.state.subscription_ids


async def test_a_subscription_can_be_read_by_its_id(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    subscription_id = emulator.state.subscription_ids[1]
    answer = await arm.get(f"/subscriptions/{subscription_id}")
    assert answer.status == 200
    assert answer.body["id"] == f"/subscriptions/{subscription_id}"
    assert answer.body["state"] == "Disabled"
    assert answer.body["tenantId"] == emulator.state.fleet.tenant_id


async def test_an_unknown_subscription_is_404_subscription_not_found(arm: ArmSession) -> None:
    answer = await arm.get("/subscriptions/00000000-0000-0000-0000-000000000000")
    assert answer.status == 404
    assert answer.body["error"]["code"] == "SubscriptionNotFound"


async def test_the_vaults_of_a_subscription_in_any_state_can_be_listed(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    for subscription_id in emulator.state.subscription_ids:
        assert len(await arm.list_all(VAULTS.format(subscription_id))) == 1


@pytest.mark.parametrize(("number", "status"), [(1, 202), (2, 409), (3, 202), (4, 202), (5, 409)])
async def test_writes_are_refused_in_disabled_and_deleted_subscriptions(
    arm: ArmSession, emulator: LocalEmulator, number: int, status: int
) -> None:
    mapping_id = _a2a_mapping_of(emulator, emulator.state.subscription_ids[number - 1])
    before = emulator.state.mapping(mapping_id)
    answer = await arm.patch(mapping_id, ENABLE)
    assert answer.status == status
    if status == 409:
        assert answer.body["error"]["code"] == "ReadOnlyDisabledSubscription"
        assert emulator.state.mapping(mapping_id) == before


def test_every_subscription_is_enabled_by_default() -> None:
    assert FleetSpec().subscription_states == {}


@pytest.mark.parametrize(
    ("states", "match"),
    [({0: "Disabled"}, "subscription number"), ({1: "Suspended"}, "subscription_states")],
)
def test_a_bad_subscription_state_entry_is_refused(states: dict[int, str], match: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=match):
        FleetSpec(subscriptions=2, subscription_states=states)
