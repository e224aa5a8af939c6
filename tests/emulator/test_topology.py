"""Fabrics and protection containers: consistent with the mapping ids, every mapping reachable
the long way (fabrics → containers → the container's mappings), and `vault_list_forbidden_share`
refusing the vault-level list as for a *Site Recovery Contributor*."""

from __future__ import annotations

from typing import Any

import pytest
from arm_client import ArmFor, ArmSession, LocalEmulator, StartEmulator
from asr_json import read_mappings

from orchestrator.emulator import EmulatorState, FleetSpec, Shares, VaultRecord

pytestmark = pytest.mark.integration

SPEC = FleetSpec(
    seed=17,
    subscriptions=2,
    vaults_per_subscription=3,
    mappings_per_vault=(2, 6),
    page_size=2,
    shares=Shares(not_a2a=0.2),
)
FABRIC_TYPE = "Microsoft.RecoveryServices/vaults/replicationFabrics"
CONTAINER_TYPE = f"{FABRIC_TYPE}/replicationProtectionContainers"


@pytest.fixture
def emulator_spec() -> FleetSpec:
    return SPEC


def _vault(state: EmulatorState, vault_id: str) -> VaultRecord:
    """A vault the emulator lists (so it is there)."""
    vault = state.vault(vault_id)
    assert vault is not None, vault_id
    return vault


async def _long_way(arm: ArmSession, vault_id: str) -> list[dict[str, Any]]:
    """Every mapping of a vault through fabrics and containers, as the tool lists them on a 403."""
    mappings: list[dict[str, Any]] = []
    for fabric in await arm.list_all(f"{vault_id}/replicationFabrics"):
        for container in await arm.list_all(f"{fabric['id']}/replicationProtectionContainers"):
            url = f"{container['id']}/replicationProtectionContainerMappings"
            mappings.extend(await arm.list_all(url))
    return mappings


async def test_every_mapping_is_reachable_through_its_fabric_and_container(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    for vault_id in emulator.state.vault_ids():
        direct = await arm.list_all(f"{vault_id}/replicationProtectionContainerMappings")
        by_container = await _long_way(arm, vault_id)
        assert sorted(m["id"] for m in by_container) == sorted(m["id"] for m in direct)
        assert sorted(by_container, key=lambda m: m["id"]) == sorted(direct, key=lambda m: m["id"])


async def test_mapping_ids_name_the_fabric_and_container_that_list_them(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    vault_id = emulator.state.vault_ids()[0]
    for fabric in await arm.list_all(f"{vault_id}/replicationFabrics"):
        for container in await arm.list_all(f"{fabric['id']}/replicationProtectionContainers"):
            assert container["id"].startswith(fabric["id"] + "/replicationProtectionContainers/")
            url = f"{container['id']}/replicationProtectionContainerMappings"
            for mapping in await arm.list_all(url):
                prefix = container["id"] + "/replicationProtectionContainerMappings/"
                assert mapping["id"].startswith(prefix)


async def test_a_fabric_is_shaped_like_the_rest_api_example(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    vault_id = emulator.state.vault_ids()[0]
    fabrics = await arm.list_all(f"{vault_id}/replicationFabrics")
    azure = next(f for f in fabrics if f["properties"]["customDetails"]["instanceType"] == "Azure")
    assert azure["type"] == FABRIC_TYPE
    assert azure["id"].startswith("/Subscriptions/")
    assert azure["id"].endswith(f"/replicationFabrics/{azure['name']}")
    custom = azure["properties"]["customDetails"]
    assert custom["location"] == azure["location"]
    assert custom["containerIds"]
    assert isinstance(azure["properties"]["friendlyName"], str)
    assert azure["properties"]["health"] == "Normal"
    single = await arm.get(azure["id"])
    assert single.status == 200
    assert single.body == azure


async def test_a_container_is_shaped_like_the_recorded_one(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    vault_id = emulator.state.vault_ids()[0]
    fabric = (await arm.list_all(f"{vault_id}/replicationFabrics"))[0]
    container = (await arm.list_all(f"{fabric['id']}/replicationProtectionContainers"))[0]
    assert container["type"] == CONTAINER_TYPE
    properties = container["properties"]
    assert properties["role"] in {"Primary", "Recovery"}
    assert properties["pairingStatus"] == "Paired"
    assert properties["fabricSpecificDetails"] is None
    custom = fabric["properties"]["customDetails"]
    if custom["instanceType"] == "Azure":
        assert container["id"] in custom["containerIds"]
    assert (await arm.get(container["id"])).body == container


async def test_a_recovery_container_exists_for_every_a2a_target(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    mapping = next(
        m for m in read_mappings(emulator.state) if "providerSpecificDetails" in m["properties"]
    )
    target = mapping["properties"]["targetProtectionContainerId"]
    answer = await arm.get(target)
    assert answer.status == 200
    assert answer.body["properties"]["role"] == "Recovery"


async def test_lists_of_fabrics_are_paged(arm: ArmSession, emulator: LocalEmulator) -> None:
    vault_id = max(
        emulator.state.vault_ids(),
        key=lambda v: len(emulator.state.topology(_vault(emulator.state, v)).fabrics),
    )
    first = await arm.get(f"{vault_id}/replicationFabrics")
    assert len(first.body["value"]) == 2
    assert "nextLink" in first.body


@pytest.mark.parametrize(
    "tail",
    [
        "/replicationFabrics/nope",
        "/replicationFabrics/nope/replicationProtectionContainers",
        "/replicationFabrics/{fabric}/replicationProtectionContainers/nope",
        "/replicationFabrics/{fabric}/replicationProtectionContainers/nope/replicationProtectionContainerMappings",
    ],
)
async def test_an_unknown_fabric_or_container_is_404(
    arm: ArmSession, emulator: LocalEmulator, tail: str
) -> None:
    vault_id = emulator.state.vault_ids()[0]
    fabric = emulator.state.fleet.vaults[vault_id.lower()].mappings[0].fabric
    answer = await arm.get(vault_id + tail.format(fabric=fabric))
    assert answer.status == 404
    assert answer.body["error"]["code"] == "ResourceNotFound"


async def test_vault_list_forbidden_vaults_refuse_the_vault_level_list_only(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(SPEC.model_copy(update={"vault_list_forbidden_share": 0.5}))
    arm = arm_for(server)
    forbidden = server.state.list_forbidden_vault_ids()
    assert 0 < len(forbidden) < len(server.state.vault_ids())
    for vault_id in server.state.vault_ids():
        answer = await arm.get(f"{vault_id}/replicationProtectionContainerMappings")
        if vault_id not in forbidden:
            assert answer.status == 200
            continue
        assert answer.status == 403
        assert answer.body["error"]["code"] == "AuthorizationFailed"
        action = "Microsoft.RecoveryServices/vaults/replicationProtectionContainerMappings/read"
        assert f"'{action}'" in answer.body["error"]["message"]
        assert len(await _long_way(arm, vault_id)) == len(_vault(server.state, vault_id).mappings)
    assert server.state.counters.faults["vault_list_forbidden"] == len(forbidden)


def test_the_forbidden_vaults_are_drawn_from_the_seed() -> None:
    spec = SPEC.model_copy(update={"vault_list_forbidden_share": 0.5})
    first = EmulatorState(spec, clock=lambda: 0.0).list_forbidden_vault_ids()
    assert EmulatorState(spec, clock=lambda: 0.0).list_forbidden_vault_ids() == first
    assert EmulatorState(SPEC, clock=lambda: 0.0).list_forbidden_vault_ids() == []
    every = SPEC.model_copy(update={"vault_list_forbidden_share": 1.0})
    state = EmulatorState(every, clock=lambda: 0.0)
    assert state.list_forbidden_vault_ids() == state.vault_ids()
