"""Reads: subscriptions, vaults, fabrics, containers, mappings, protected items and Automation
accounts. Lists are paged like ASR's (``nextLink`` with an opaque ``$skiptoken``)."""

from __future__ import annotations

from orchestrator.emulator.access import AUTHORIZATION_FAILED, authorization_failed
from orchestrator.emulator.automation import account_json
from orchestrator.emulator.fleet import MappingRecord, VaultRecord
from orchestrator.emulator.payloads import JsonObject, subscription_json, vault_json
from orchestrator.emulator.protected_items import ProtectedItemRecord, item_json
from orchestrator.emulator.replies import Call, Reply, error_reply, not_found, paged
from orchestrator.emulator.routes import RouteKind
from orchestrator.emulator.state import EmulatorState
from orchestrator.emulator.topology import (
    ContainerRecord,
    FabricRecord,
    VaultTopology,
    container_json,
    fabric_json,
)

VAULT_LIST_FORBIDDEN = "vault_list_forbidden"  # the `faults` counter of refused vault-level lists


def _subscription_not_found(subscription_id: str) -> Reply:
    return error_reply(
        404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found."
    )


def list_subscriptions(state: EmulatorState, call: Call) -> Reply:
    """``GET /subscriptions``: every subscription with its ``state``."""
    tenant = state.fleet.tenant_id
    return paged(
        state,
        call,
        state.fleet.subscriptions,
        lambda s: subscription_json(s, tenant, state.subscription_state(s.id)),
    )


def get_subscription(state: EmulatorState, call: Call) -> Reply:
    """``GET /subscriptions/{id}``."""
    found = state.fleet.subscriptions_by_id.get(call.route.subscription_id)
    if found is None:
        return _subscription_not_found(call.route.subscription_id)
    state_name = state.subscription_state(found.id)
    return Reply(200, subscription_json(found, state.fleet.tenant_id, state_name))


def list_vaults(state: EmulatorState, call: Call) -> Reply:
    """``GET /subscriptions/{id}/providers/Microsoft.RecoveryServices/vaults``."""
    subscription = state.fleet.subscriptions_by_id.get(call.route.subscription_id)
    if subscription is None:
        return _subscription_not_found(call.route.subscription_id)
    return paged(state, call, subscription.vaults, vault_json)


def _vault(state: EmulatorState, call: Call) -> VaultRecord | Reply:
    vault = state.fleet.vaults.get(call.route.vault_key)
    return not_found(call.route.vault_key) if vault is None else vault


def _mappings(state: EmulatorState, call: Call, records: list[MappingRecord]) -> Reply:
    return paged(state, call, records, lambda record: state.render(record, call.now))


def list_mappings(state: EmulatorState, call: Call) -> Reply:
    """``GET {vaultId}/replicationProtectionContainerMappings`` (403 for the vaults drawn by
    ``vault_list_forbidden_share``, as for a Site Recovery Contributor)."""
    vault = _vault(state, call)
    if isinstance(vault, Reply):
        return vault
    if vault.key in state.list_forbidden_vaults:
        state.counters.faults[VAULT_LIST_FORBIDDEN] += 1
        message = authorization_failed(
            state.identity_client_id, RouteKind.MAPPINGS, False, call.path
        )
        return error_reply(403, AUTHORIZATION_FAILED, message)
    return _mappings(state, call, vault.mappings)


def get_mapping(state: EmulatorState, call: Call) -> Reply:
    """``GET {mappingId}``."""
    record = state.fleet.mappings.get(call.route.mapping_key)
    return not_found(call.path) if record is None else Reply(200, state.render(record, call.now))


def _topology(state: EmulatorState, call: Call) -> VaultTopology | Reply:
    vault = _vault(state, call)
    return vault if isinstance(vault, Reply) else state.topology(vault)


def _fabric(state: EmulatorState, call: Call) -> FabricRecord | Reply:
    topology = _topology(state, call)
    if isinstance(topology, Reply):
        return topology
    fabric = topology.fabrics.get(call.route.fabric)
    return not_found(call.path) if fabric is None else fabric


def _container(state: EmulatorState, call: Call) -> ContainerRecord | Reply:
    fabric = _fabric(state, call)
    if isinstance(fabric, Reply):
        return fabric
    container = fabric.containers.get(call.route.container)
    return not_found(call.path) if container is None else container


def list_fabrics(state: EmulatorState, call: Call) -> Reply:
    """``GET {vaultId}/replicationFabrics``."""
    topology = _topology(state, call)
    if isinstance(topology, Reply):
        return topology
    tidy = state.spec.tidy_bodies
    return paged(state, call, list(topology.fabrics.values()), lambda f: fabric_json(f, tidy))


def get_fabric(state: EmulatorState, call: Call) -> Reply:
    """``GET {vaultId}/replicationFabrics/{fabric}``."""
    fabric = _fabric(state, call)
    return (
        fabric
        if isinstance(fabric, Reply)
        else Reply(200, fabric_json(fabric, state.spec.tidy_bodies))
    )


def list_containers(state: EmulatorState, call: Call) -> Reply:
    """``GET {fabricId}/replicationProtectionContainers``."""
    fabric = _fabric(state, call)
    if isinstance(fabric, Reply):
        return fabric
    tidy = state.spec.tidy_bodies
    containers = list(fabric.containers.values())
    return paged(state, call, containers, lambda c: container_json(c, tidy))


def get_container(state: EmulatorState, call: Call) -> Reply:
    """``GET {containerId}``."""
    container = _container(state, call)
    if isinstance(container, Reply):
        return container
    return Reply(200, container_json(container, state.spec.tidy_bodies))


def list_container_mappings(state: EmulatorState, call: Call) -> Reply:
    """``GET {containerId}/replicationProtectionContainerMappings``."""
    container = _container(state, call)
    return container if isinstance(container, Reply) else _mappings(state, call, container.mappings)


def _items(state: EmulatorState, call: Call, items: list[ProtectedItemRecord]) -> Reply:
    wall, tidy = state.epoch(call.now), state.spec.tidy_bodies
    return paged(state, call, items, lambda item: item_json(item, wall, state.server_time, tidy))


def list_items(state: EmulatorState, call: Call) -> Reply:
    """``GET {vaultId}/replicationProtectedItems``."""
    topology = _topology(state, call)
    if isinstance(topology, Reply):
        return topology
    return _items(state, call, [item for c in topology.containers() for item in c.items])


def list_container_items(state: EmulatorState, call: Call) -> Reply:
    """``GET {containerId}/replicationProtectedItems``."""
    container = _container(state, call)
    return container if isinstance(container, Reply) else _items(state, call, container.items)


def get_item(state: EmulatorState, call: Call) -> Reply:
    """``GET {containerId}/replicationProtectedItems/{item}``."""
    container = _container(state, call)
    if isinstance(container, Reply):
        return container
    item = next((i for i in container.items if i.name.lower() == call.route.item), None)
    if item is None:
        return not_found(call.path)
    body = item_json(item, state.epoch(call.now), state.server_time, state.spec.tidy_bodies)
    return Reply(200, body)


def get_automation_account(state: EmulatorState, call: Call) -> Reply:
    """``GET …/providers/Microsoft.Automation/automationAccounts/{name}``."""
    account = state.automation_accounts.get(call.path)
    if account is None:
        name = call.path.rstrip("/").rsplit("/", 1)[-1]
        group = call.path.split("/")[4]
        return error_reply(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.Automation/automationAccounts/{name}' under resource group "
            f"'{group}' was not found. For more details please go to "
            "https://aka.ms/ARMResourceNotFoundFix",
        )
    if not account.readable:
        message = authorization_failed(
            state.identity_client_id, RouteKind.AUTOMATION_ACCOUNT, False, account.id
        )
        return error_reply(403, AUTHORIZATION_FAILED, message)
    body: JsonObject = account_json(account, state.fleet.tenant_id, state.spec.tidy_bodies)
    return Reply(200, body)
