"""A vault's replication fabrics and protection containers, derived from its mappings' ids.

Every mapping id names its source fabric and container
(``…/replicationFabrics/{f}/replicationProtectionContainers/{c}/replicationProtectionContainerMappings/{m}``);
an A2A mapping also names its target (recovery) fabric and container. A vault's topology is built
from them the first time anything asks, so generating a large fleet costs nothing more, and it is
the same whatever order requests come in. Protected items are attached to the source containers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from orchestrator.emulator.fleet import MappingRecord, VaultRecord
from orchestrator.emulator.payloads import JsonObject

if TYPE_CHECKING:  # the items module builds on this one
    from orchestrator.emulator.protected_items import ProtectedItemRecord

FABRIC_TYPE: Final = "Microsoft.RecoveryServices/vaults/replicationFabrics"
CONTAINER_TYPE: Final = f"{FABRIC_TYPE}/replicationProtectionContainers"
A2A_FABRIC_PREFIX: Final = "asr-a2a-default-"  # generated A2A fabrics: this + the Azure region
PRIMARY: Final = "Primary"
RECOVERY: Final = "Recovery"


@dataclass(slots=True)
class ContainerRecord:
    """A protection container, its mappings (source side) and its protected items."""

    id: str  # "/Subscriptions/…", as ASR spells ids
    name: str
    fabric: FabricRecord
    role: str  # PRIMARY (holds mappings) or RECOVERY (a mapping's target)
    mappings: list[MappingRecord] = field(default_factory=list)
    items: list[ProtectedItemRecord] = field(default_factory=list)


@dataclass(slots=True)
class FabricRecord:
    """A replication fabric: an Azure region (A2A) or a Hyper-V site."""

    id: str
    name: str
    azure: bool
    location: str | None  # the Azure region of an A2A fabric
    containers: dict[str, ContainerRecord] = field(default_factory=dict)  # by lower-cased name


@dataclass(slots=True)
class VaultTopology:
    """Fabrics in order of first mention by the vault's mappings (source before target)."""

    vault: VaultRecord
    prefix: str  # the vault id as mapping ids spell it ("/Subscriptions/…")
    fabrics: dict[str, FabricRecord] = field(default_factory=dict)  # by lower-cased name

    def containers(self) -> list[ContainerRecord]:
        """Every container, fabric by fabric."""
        return [c for fabric in self.fabrics.values() for c in fabric.containers.values()]

    def container(self, fabric: str, container: str) -> ContainerRecord | None:
        """A container by lower-cased fabric and container names."""
        found = self.fabrics.get(fabric)
        return None if found is None else found.containers.get(container)


def _vault_prefix(vault: VaultRecord) -> str:
    if vault.mappings:
        return vault.mappings[0].vault_prefix
    return "/Subscriptions/" + vault.id[len("/subscriptions/") :]


def _fabric(topology: VaultTopology, name: str) -> FabricRecord:
    found = topology.fabrics.get(name.lower())
    if found is None:
        azure = name.startswith(A2A_FABRIC_PREFIX)
        location = name[len(A2A_FABRIC_PREFIX) :] if azure else None
        fabric_id = f"{topology.prefix}/replicationFabrics/{name}"
        found = FabricRecord(fabric_id, name, azure, location)
        topology.fabrics[name.lower()] = found
    return found


def _container(topology: VaultTopology, fabric_name: str, name: str, role: str) -> ContainerRecord:
    fabric = _fabric(topology, fabric_name)
    found = fabric.containers.get(name.lower())
    if found is None:
        container_id = f"{fabric.id}/replicationProtectionContainers/{name}"
        found = ContainerRecord(container_id, name, fabric, role)
        fabric.containers[name.lower()] = found
    return found


def build_topology(vault: VaultRecord) -> VaultTopology:
    """The fabrics and containers a vault's mappings name, each mapping in its container."""
    topology = VaultTopology(vault, _vault_prefix(vault))
    for mapping in vault.mappings:
        _container(topology, mapping.fabric, mapping.container, PRIMARY).mappings.append(mapping)
        if mapping.a2a:
            _container(topology, mapping.target_fabric, mapping.target_container, RECOVERY)
    return topology


_REGION_NAMES: Final = {
    "eastus": "East US",
    "eastus2": "East US 2",
    "westus": "West US",
    "centralus": "Central US",
    "westeurope": "West Europe",
    "northeurope": "North Europe",
    "southeastasia": "Southeast Asia",
    "eastasia": "East Asia",
    "uksouth": "UK South",
    "ukwest": "UK West",
    "japaneast": "Japan East",
    "japanwest": "Japan West",
}


def friendly_region(location: str) -> str:
    """A region's display name as ASR prints it in friendly names ("eastus2" -> "East US 2")."""
    return _REGION_NAMES.get(location, location)


def fabric_json(fabric: FabricRecord, tidy: bool) -> JsonObject:
    """A fabric as ``ReplicationFabrics_Get``/``_List`` return it (A2A: ``instanceType`` Azure)."""
    custom: JsonObject
    if fabric.azure and fabric.location is not None:
        custom = {
            "instanceType": "Azure",
            "location": fabric.location,
            "containerIds": [c.id for c in fabric.containers.values()],
            "zones": [],
        }
        friendly = friendly_region(fabric.location)
    else:
        custom, friendly = {"instanceType": "HyperVSite"}, fabric.name
    encryption: JsonObject = (
        {"kekState": "None"} if tidy else {"kekState": "None", "kekCertThumbprint": None}
    )
    return {
        "id": fabric.id,
        "name": fabric.name,
        "type": FABRIC_TYPE,
        "location": fabric.location or "",
        "properties": {
            "friendlyName": friendly,
            "encryptionDetails": encryption,
            "rolloverEncryptionDetails": dict(encryption),
            "bcdrState": "Valid",
            "customDetails": custom,
            "healthErrorDetails": [],
            "health": "Normal",
        },
    }


def container_json(container: ContainerRecord, tidy: bool) -> JsonObject:
    """A protection container as ``ReplicationProtectionContainers_Get``/``_List`` return it."""
    fabric = container.fabric
    properties: JsonObject = {
        "fabricFriendlyName": friendly_region(fabric.location) if fabric.location else fabric.name,
        "friendlyName": container.name,
        "fabricType": "Azure" if fabric.azure else "HyperVSite",
        "protectedItemCount": len(container.items),
        "pairingStatus": "Paired",
        "role": container.role,
    }
    if not tidy:
        properties["fabricSpecificDetails"] = None
    return {
        "id": container.id,
        "name": container.name,
        "type": CONTAINER_TYPE,
        "location": fabric.location or "",
        "properties": properties,
    }
