"""Replication protected items (replicated VMs) and the state of their Mobility agents.

A vault's items are drawn the first time its topology is built, from
``random.Random(f"{seed}|items|{vault key}")``: the same seed gives the same items whatever the
order of requests. Dates are kept as offsets from *now* and printed against the server's current
wall time (skew included), so an `expiring` agent is within 30 days of expiry whenever it is read.
Item JSON follows ``ReplicationProtectedItems_Get`` with ``A2AReplicationDetails``.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from orchestrator.emulator.draws import pick
from orchestrator.emulator.fleet_spec import FleetSpec
from orchestrator.emulator.payloads import JsonObject
from orchestrator.emulator.server_time import ServerTime
from orchestrator.emulator.topology import ContainerRecord, VaultTopology

ITEM_TYPE: Final = (
    "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers"
    "/replicationProtectedItems"
)
DAY: Final = 86_400.0
CURRENT_VERSION_PREFIX: Final = "9.62"  # agents drawn `current` run 9.62.x.y
_OLD_VERSIONS: Final = ("9.55.6765.1", "9.56.6879.1", "9.57.6920.1", "9.58.7007.1")
_AGENT_FIELDS: Final = (
    "agentVersion",
    "isReplicationAgentUpdateRequired",
    "agentExpiryDate",
    "isReplicationAgentCertificateUpdateRequired",
    "agentCertificateExpiryDate",
    "lastHeartbeat",
)


class AgentState(StrEnum):
    """The state a generated A2A item's Mobility agent was drawn into."""

    CURRENT = "current"
    UPDATE_REQUIRED = "update_required"  # isReplicationAgent(Certificate)UpdateRequired is true
    EXPIRING = "expiring"  # agent expiry within 30 days from now
    EXPIRED = "expired"  # agent expiry passed
    UNKNOWN = "unknown"  # the agent fields are null


@dataclass(frozen=True, slots=True)
class ProtectedItemRecord:
    """One replicated VM. Offsets are seconds from the moment the item is read."""

    id: str
    name: str
    friendly_name: str
    container: ContainerRecord
    a2a: bool
    agent: AgentState | None  # None for a non-A2A item
    agent_version: str | None
    update_required: bool
    certificate_update_required: bool
    expiry_offset: float
    certificate_expiry_offset: float
    heartbeat_offset: float  # negative: the last heartbeat was this long ago


def _draw_agent(rng: random.Random, spec: FleetSpec) -> AgentState:
    shares = spec.protected_items
    states = (
        (AgentState.UPDATE_REQUIRED, shares.update_required),
        (AgentState.EXPIRING, shares.expiring),
        (AgentState.EXPIRED, shares.expired),
        (AgentState.UNKNOWN, shares.unknown),
    )
    return pick(rng.random(), states, AgentState.CURRENT)


def _agent_fields(rng: random.Random, agent: AgentState) -> tuple[str, bool, bool, float, float]:
    """(version, update flag, certificate flag, expiry offset, certificate expiry offset)."""
    current = f"{CURRENT_VERSION_PREFIX}.{rng.randint(7000, 7299)}.1"
    later = rng.uniform(60, 365) * DAY
    certificate = rng.uniform(60, 730) * DAY
    if agent is AgentState.UPDATE_REQUIRED:
        agent_flag = rng.random() < 0.7  # else only the certificate needs an update
        return rng.choice(_OLD_VERSIONS), agent_flag, not agent_flag, later, certificate
    if agent is AgentState.EXPIRING:
        return current, False, False, rng.uniform(1, 29) * DAY, certificate
    if agent is AgentState.EXPIRED:
        return rng.choice(_OLD_VERSIONS), False, False, -rng.uniform(1, 90) * DAY, certificate
    return current, False, False, later, certificate


def _pick_container(
    rng: random.Random, sources: list[ContainerRecord], a2a: bool
) -> ContainerRecord:
    fitting = [c for c in sources if c.fabric.azure == a2a] or sources
    return rng.choice(fitting)


def _new_item(
    rng: random.Random, spec: FleetSpec, sources: list[ContainerRecord], number: int
) -> ProtectedItemRecord:
    a2a = rng.random() >= spec.protected_items.non_a2a
    container = _pick_container(rng, sources, a2a)
    name = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    agent = _draw_agent(rng, spec) if a2a else None
    version, flag, certificate_flag, expiry, certificate = _agent_fields(
        rng, agent or AgentState.CURRENT
    )
    heartbeat = -rng.uniform(30, 900)
    return ProtectedItemRecord(
        id=f"{container.id}/replicationProtectedItems/{name}",
        name=name,
        friendly_name=f"vm-{number:03d}",
        container=container,
        a2a=a2a,
        agent=agent,
        agent_version=version,
        update_required=flag,
        certificate_update_required=certificate_flag,
        expiry_offset=expiry,
        certificate_expiry_offset=certificate,
        heartbeat_offset=heartbeat,
    )


def add_protected_items(topology: VaultTopology, spec: FleetSpec) -> None:
    """Draw the vault's items and put each in a source container (none without containers)."""
    rng = random.Random(f"{spec.seed}|items|{topology.vault.key}")
    sources = [c for c in topology.containers() if c.mappings]
    if not sources:
        return
    low, high = spec.protected_items.per_vault
    for number in range(1, rng.randint(low, high) + 1):
        item = _new_item(rng, spec, sources, number)
        item.container.items.append(item)


def _a2a_details(
    item: ProtectedItemRecord, now: float, clock: ServerTime, tidy: bool
) -> JsonObject:
    fabric = item.container.fabric
    details: JsonObject = {
        "instanceType": "A2A",
        "fabricObjectId": f"/subscriptions/vm-host/virtualMachines/{item.friendly_name}",
        "primaryFabricLocation": fabric.location,
        "osType": "Windows",
        "vmProtectionState": "Protected",
        "vmProtectionStateDescription": "Protected",
        "monitoringPercentageCompletion": None,
        "rpoInSeconds": 42,
    }
    if item.agent is AgentState.UNKNOWN:
        if not tidy:
            details.update(dict.fromkeys(_AGENT_FIELDS))
        return details
    details["agentVersion"] = item.agent_version
    details["isReplicationAgentUpdateRequired"] = item.update_required
    details["agentExpiryDate"] = clock.print(now + item.expiry_offset)
    details["isReplicationAgentCertificateUpdateRequired"] = item.certificate_update_required
    details["agentCertificateExpiryDate"] = clock.print(now + item.certificate_expiry_offset)
    details["lastHeartbeat"] = clock.print(now + item.heartbeat_offset)
    return details


def item_json(item: ProtectedItemRecord, now: float, clock: ServerTime, tidy: bool) -> JsonObject:
    """An item as ``ReplicationProtectedItems_Get``/``_List`` return it; ``now`` is wall time."""
    container = item.container
    details: JsonObject
    if item.a2a:
        details = _a2a_details(item, now, clock, tidy)
    else:
        details = {"instanceType": "HyperVReplicaAzure", "vmProtectionState": "Protected"}
    return {
        "id": item.id,
        "name": item.name,
        "type": ITEM_TYPE,
        "properties": {
            "friendlyName": item.friendly_name,
            "protectedItemType": "Microsoft.Compute/virtualMachines"
            if item.a2a
            else "HyperVVirtualMachine",
            "primaryFabricFriendlyName": container.fabric.name,
            "primaryProtectionContainerFriendlyName": container.name,
            "protectionState": "Protected",
            "protectionStateDescription": "Protected",
            "activeLocation": "Primary",
            "replicationHealth": "Normal",
            "failoverHealth": "Normal",
            "healthErrors": [],
            "providerSpecificDetails": details,
        },
    }
