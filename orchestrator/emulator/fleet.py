"""The emulated fleet: subscriptions, vaults and container mappings, generated from a seed.

`generate_fleet` draws everything from one ``random.Random(spec.seed)``, never the global RNG,
so the same spec always yields the same fleet. Records are small slotted objects indexed by
lower-cased ARM id (O(1), case-insensitive lookups); JSON is rendered from them on demand
(`payloads`), which keeps 40,000 mappings cheap in memory.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from orchestrator.emulator.draws import pick
from orchestrator.emulator.fleet_spec import FleetSpec, Shares
from orchestrator.emulator.health import HealthError, generated_health_error, health_of
from orchestrator.emulator.routes import arm_key

ENABLED = "Enabled"
DISABLED = "Disabled"
SYSTEM_ASSIGNED_IDENTITY = "SystemAssignedIdentity"
RUN_AS_ACCOUNT = "RunAsAccount"
PAIRED = "Paired"
NOT_PAIRED_STATES = ("Unpairing", "PairingInProgress", "PairingFailed")
_REGION_PAIRS = (
    ("eastus", "westus"),
    ("westeurope", "northeurope"),
    ("southeastasia", "eastasia"),
    ("centralus", "eastus2"),
    ("uksouth", "ukwest"),
    ("japaneast", "japanwest"),
)


class Condition(StrEnum):
    """The starting condition a generated mapping was drawn into (see `Shares`)."""

    NOT_A2A = "not_a2a"
    NOT_PAIRED = "not_paired"
    COMPLIANT = "compliant"
    UNHEALTHY = "unhealthy"
    RUN_AS_ACCOUNT = "run_as_account"
    NEEDS_CHANGE = "needs_change"


@dataclass(slots=True)
class MappingRecord:
    """One replication protection container mapping; the mutable fields change on success."""

    id: str  # canonical, "/Subscriptions/…" as ASR returns it
    key: str  # arm_key(id)
    name: str
    vault_key: str
    fabric: str
    container: str
    target_fabric: str
    target_container: str
    policy_name: str
    condition: Condition
    a2a: bool  # False: providerSpecificDetails is absent
    state: str
    health: str = "Normal"
    health_errors: list[HealthError] = field(default_factory=list)
    status: str | None = None  # agentAutoUpdateStatus (A2A only)
    account: str | None = None  # automationAccountArmId
    auth_type: str | None = None  # automationAccountAuthenticationType
    attempts: int = 0  # accepted PATCHes so far; seeds each operation's draw

    @property
    def vault_prefix(self) -> str:
        """The vault part of `id`, in the mapping id's spelling ("/Subscriptions/…")."""
        return self.id[: self.id.index("/replicationFabrics/")]


@dataclass(slots=True)
class VaultRecord:
    """A Recovery Services vault and its mappings, in listing order."""

    id: str
    key: str
    name: str
    subscription_id: str
    resource_group: str
    location: str
    mappings: list[MappingRecord] = field(default_factory=list)


@dataclass(slots=True)
class SubscriptionRecord:
    """A subscription and its vaults, in listing order."""

    id: str  # the bare subscription id (a uuid)
    display_name: str
    vaults: list[VaultRecord] = field(default_factory=list)


@dataclass(slots=True)
class Fleet:
    """Everything generated; dicts are keyed by `arm_key` and keep generation order."""

    tenant_id: str
    automation_account: str  # what compliant mappings are enabled with
    subscriptions: list[SubscriptionRecord]
    subscriptions_by_id: dict[str, SubscriptionRecord]  # lower-cased subscription id
    vaults: dict[str, VaultRecord]
    mappings: dict[str, MappingRecord]


def fleet_automation_account(first_subscription: str) -> str:
    """The Automation account generated compliant mappings use."""
    return (
        f"/subscriptions/{first_subscription}/resourceGroups/rg-automation/providers/"
        "Microsoft.Automation/automationAccounts/aa-asr-fleet"
    )


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _draw_condition(rng: random.Random, shares: Shares) -> Condition:
    conditions = (
        (Condition.NOT_A2A, shares.not_a2a),
        (Condition.NOT_PAIRED, shares.not_paired),
        (Condition.COMPLIANT, shares.compliant),
        (Condition.UNHEALTHY, shares.unhealthy),
        (Condition.RUN_AS_ACCOUNT, shares.run_as_account),
    )
    return pick(rng.random(), conditions, Condition.NEEDS_CHANGE)


def _condition_fields(record: MappingRecord, rng: random.Random, account: str) -> None:
    """Set state, health and auto-update fields for the record's drawn condition."""
    condition = record.condition
    if condition is Condition.NOT_A2A:
        return
    record.status = DISABLED
    if condition is Condition.NOT_PAIRED:
        record.state = rng.choice(NOT_PAIRED_STATES)
        return
    if condition is Condition.NEEDS_CHANGE:
        return
    record.status, record.account, record.auth_type = ENABLED, account, SYSTEM_ASSIGNED_IDENTITY
    if condition is Condition.RUN_AS_ACCOUNT:
        record.auth_type = RUN_AS_ACCOUNT
    elif condition is Condition.UNHEALTHY:
        record.health_errors = [generated_health_error(rng, record.id)]
        record.health = health_of(record.health_errors)


def _new_mapping(
    vault: VaultRecord, index: int, rng: random.Random, spec: FleetSpec
) -> MappingRecord:
    condition = _draw_condition(rng, spec.shares)
    prefix = (
        f"/Subscriptions/{vault.subscription_id}/resourceGroups/{vault.resource_group}"
        f"/providers/Microsoft.RecoveryServices/vaults/{vault.name}"
    )
    if condition is Condition.NOT_A2A:
        fabric, container = f"hyperv-site-{index + 1}", f"cloud_{_uuid(rng)}"
        target_fabric = target_container = "Microsoft Azure"
        name, policy = f"hyperv-cloud{index + 1}-protection-profile", "protectionprofile1"
    else:
        source, target = rng.choice(_REGION_PAIRS)
        fabric, target_fabric = f"asr-a2a-default-{source}", f"asr-a2a-default-{target}"
        container, target_container = f"{fabric}-container", f"{target_fabric}-container"
        name, policy = f"{source}-{target}-policy-{index + 1}", "24-hour-retention-policy"
    mapping_id = (
        f"{prefix}/replicationFabrics/{fabric}/replicationProtectionContainers/{container}"
        f"/replicationProtectionContainerMappings/{name}"
    )
    return MappingRecord(
        id=mapping_id,
        key=arm_key(mapping_id),
        name=name,
        vault_key=vault.key,
        fabric=fabric,
        container=container,
        target_fabric=target_fabric,
        target_container=target_container,
        policy_name=policy,
        condition=condition,
        a2a=condition is not Condition.NOT_A2A,
        state=PAIRED,
    )


def _new_vault(subscription: str, name: str, group: str, rng: random.Random) -> VaultRecord:
    vault_id = (
        f"/subscriptions/{subscription}/resourceGroups/{group}"
        f"/providers/Microsoft.RecoveryServices/vaults/{name}"
    )
    location = rng.choice(_REGION_PAIRS)[1]
    return VaultRecord(vault_id, arm_key(vault_id), name, subscription, group, location)


def generate_fleet(spec: FleetSpec) -> Fleet:
    """Build the fleet a spec describes. Deterministic: same spec (seed), same fleet."""
    rng = random.Random(spec.seed)
    tenant_id = _uuid(rng)
    subscription_ids = [_uuid(rng) for _ in range(spec.subscriptions)]
    account = fleet_automation_account(subscription_ids[0])
    fleet = Fleet(tenant_id, account, [], {}, {}, {})
    width = max(3, len(str(spec.vaults_per_subscription)))
    low, high = spec.mappings_per_vault
    for sub_number, subscription_id in enumerate(subscription_ids, start=1):
        subscription = SubscriptionRecord(subscription_id, f"DR subscription {sub_number}")
        fleet.subscriptions.append(subscription)
        fleet.subscriptions_by_id[subscription_id.lower()] = subscription
        for number in range(1, spec.vaults_per_subscription + 1):
            name = f"vault-s{sub_number}-{number:0{width}d}"
            group = f"rg-dr-{(number - 1) % spec.resource_groups_per_subscription + 1}"
            vault = _new_vault(subscription_id, name, group, rng)
            subscription.vaults.append(vault)
            fleet.vaults[vault.key] = vault
            for index in range(rng.randint(low, high)):
                record = _new_mapping(vault, index, rng, spec)
                _condition_fields(record, rng, account)
                vault.mappings.append(record)
                fleet.mappings[record.key] = record
    return fleet
