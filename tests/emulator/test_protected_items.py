"""Replication protected items and their Mobility agents, for an audit: per vault and per
container, paged, with A2A agent details whose dates are relative to the server's now."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pydantic
import pytest
from arm_client import ArmFor, StartEmulator

from orchestrator.emulator import (
    AgentState,
    EmulatorState,
    FleetSpec,
    ProtectedItemsSpec,
    Shares,
)

pytestmark = pytest.mark.integration

ITEM_TYPE = (
    "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers"
    "/replicationProtectedItems"
)
AGENT_FIELDS = (
    "agentVersion",
    "isReplicationAgentUpdateRequired",
    "agentExpiryDate",
    "isReplicationAgentCertificateUpdateRequired",
    "agentCertificateExpiryDate",
    "lastHeartbeat",
)
DAY = 86_400


NO_SHARES = {"non_a2a": 0, "update_required": 0, "expiring": 0, "expired": 0, "unknown": 0}


def _spec(**items: object) -> FleetSpec:
    """Items whose shares are all 0 (every agent current, every item A2A) but ``items``."""
    return FleetSpec(
        seed=29,
        subscriptions=1,
        vaults_per_subscription=3,
        mappings_per_vault=(2, 3),
        shares=Shares(not_a2a=0.0),
        page_size=3,
        protected_items=ProtectedItemsSpec.model_validate(
            {**NO_SHARES, "per_vault": (4, 6), **items}
        ),
    )


def _days_from_now(stamp: str) -> float:
    moment = datetime.strptime(stamp[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
    return (moment.timestamp() - time.time()) / DAY


async def _items(
    start_emulator: StartEmulator, arm_for: ArmFor, **items: object
) -> list[dict[str, Any]]:
    server = await start_emulator(_spec(**items))
    arm = arm_for(server)
    found: list[dict[str, Any]] = []
    for vault_id in server.state.vault_ids():
        found.extend(await arm.list_all(f"{vault_id}/replicationProtectedItems"))
    return found


def _details(item: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = item["properties"]["providerSpecificDetails"]
    return details


async def test_a_vaults_items_are_listed_paged_and_shaped_like_the_rest_api(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(_spec())
    arm = arm_for(server)
    vault_id = server.state.vault_ids()[0]
    first = await arm.get(f"{vault_id}/replicationProtectedItems")
    assert len(first.body["value"]) == 3 and "nextLink" in first.body
    items = await arm.list_all(f"{vault_id}/replicationProtectedItems")
    assert 4 <= len(items) <= 6
    for item in items:
        assert item["type"] == ITEM_TYPE
        assert item["id"].endswith(f"/replicationProtectedItems/{item['name']}")
        assert item["id"].startswith("/Subscriptions/")
        assert item["properties"]["protectionState"] == "Protected"
        assert isinstance(item["properties"]["friendlyName"], str)
        assert _details(item)["instanceType"] == "A2A"


async def test_each_item_is_listed_by_its_container_and_readable_by_its_id(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(_spec())
    arm = arm_for(server)
    vault_id = server.state.vault_ids()[1]
    items = await arm.list_all(f"{vault_id}/replicationProtectedItems")
    containers = {item["id"].rsplit("/replicationProtectedItems/", 1)[0] for item in items}
    by_container = []
    for container in sorted(containers):
        assert (await arm.get(container)).status == 200  # the container exists
        by_container.extend(await arm.list_all(f"{container}/replicationProtectedItems"))
    assert sorted(i["id"] for i in by_container) == sorted(i["id"] for i in items)
    single = await arm.get(items[0]["id"])
    assert single.status == 200
    assert single.body["id"] == items[0]["id"]


async def test_current_agents_run_9_62_and_expire_well_after_30_days(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    items = await _items(start_emulator, arm_for)
    for item in items:
        details = _details(item)
        assert str(details["agentVersion"]).startswith("9.62.")
        assert details["isReplicationAgentUpdateRequired"] is False
        assert details["isReplicationAgentCertificateUpdateRequired"] is False
        assert _days_from_now(str(details["agentExpiryDate"])) > 30
        assert _days_from_now(str(details["agentCertificateExpiryDate"])) > 30
        assert -1 < _days_from_now(str(details["lastHeartbeat"])) < 0


async def test_update_required_agents_raise_an_update_flag(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    items = await _items(start_emulator, arm_for, update_required=1.0)
    for item in items:
        details = _details(item)
        flags = (
            details["isReplicationAgentUpdateRequired"],
            details["isReplicationAgentCertificateUpdateRequired"],
        )
        assert True in flags
        assert _days_from_now(str(details["agentExpiryDate"])) > 30


async def test_expiring_agents_expire_within_30_days_of_now(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    items = await _items(start_emulator, arm_for, expiring=1.0)
    for item in items:
        assert 0 < _days_from_now(str(_details(item)["agentExpiryDate"])) < 30


async def test_expired_agents_expired_in_the_past(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    items = await _items(start_emulator, arm_for, expired=1.0)
    for item in items:
        assert _days_from_now(str(_details(item)["agentExpiryDate"])) < 0


async def test_unknown_agents_have_their_fields_null(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    items = await _items(start_emulator, arm_for, unknown=1.0)
    for item in items:
        assert all(_details(item)[key] is None for key in AGENT_FIELDS)


async def test_non_a2a_items_have_other_provider_details(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    items = await _items(start_emulator, arm_for, non_a2a=1.0)
    assert {_details(item)["instanceType"] for item in items} == {"HyperVReplicaAzure"}


async def test_dates_follow_the_servers_clock_skew(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    spec = _spec(expiring=1.0)
    reference = EmulatorState(spec, clock=lambda: 0.0)
    plain = reference.protected_items(reference.vault_ids()[0])
    server = await start_emulator(spec.model_copy(update={"server_time_skew_seconds": -2 * DAY}))
    vault_id = server.state.vault_ids()[0]
    items = await arm_for(server).list_all(f"{vault_id}/replicationProtectedItems")
    for record, item in zip(plain, items, strict=True):
        skewed = _days_from_now(str(_details(item)["agentExpiryDate"]))
        assert skewed == pytest.approx(record.expiry_offset / DAY - 2, abs=0.01)


def test_items_are_drawn_from_the_seed_whatever_the_order_of_reads() -> None:
    spec = _spec(update_required=0.3, expiring=0.2, expired=0.2, unknown=0.2)
    one, two = (EmulatorState(spec, clock=lambda: 0.0) for _ in range(2))
    vaults = one.vault_ids()
    first = [one.protected_items(v) for v in vaults]
    second = [two.protected_items(v) for v in reversed(vaults)][::-1]
    assert [[(i.id, i.agent) for i in items] for items in first] == [
        [(i.id, i.agent) for i in items] for items in second
    ]
    assert {i.agent for items in first for i in items} >= {AgentState.CURRENT}


def test_agent_shares_are_roughly_respected() -> None:
    spec = FleetSpec(
        seed=3,
        subscriptions=1,
        vaults_per_subscription=200,
        shares=Shares(not_a2a=0.0),
        protected_items=ProtectedItemsSpec(
            per_vault=(5, 5), non_a2a=0, update_required=0.2, expiring=0.2, expired=0.1, unknown=0.1
        ),
    )
    state = EmulatorState(spec, clock=lambda: 0.0)
    agents = [item.agent for v in state.vault_ids() for item in state.protected_items(v)]
    assert len(agents) == 1000
    for agent, share in (
        (AgentState.UPDATE_REQUIRED, 0.2),
        (AgentState.EXPIRING, 0.2),
        (AgentState.EXPIRED, 0.1),
        (AgentState.UNKNOWN, 0.1),
        (AgentState.CURRENT, 0.4),
    ):
        assert agents.count(agent) / 1000 == pytest.approx(share, abs=0.05), agent


@pytest.mark.parametrize(
    "items",
    [{"per_vault": (3, 1)}, {"per_vault": (-1, 2)}, {"expiring": 0.6, "expired": 0.6}],
)
def test_bad_protected_item_keys_are_refused(items: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError, match="protected_items"):
        FleetSpec.model_validate({"protected_items": items})
