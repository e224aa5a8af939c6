"""JSON bodies shaped like Microsoft's published examples and recorded ASR traffic.

Mappings follow ``ReplicationProtectionContainerMappings_List/_Get`` and the recording of
azure-cli-extensions' A2A scenarios (ids start ``/Subscriptions/``; ``providerSpecificDetails`` is
absent on non-A2A mappings). By default A2A details carry explicit nulls as recorded —
``automationAccountArmId: null``, ``automationAccountAuthenticationType: "RunAsAccount"`` even on a
mapping that never had one, schedule names null unless enabled; ``tidy`` leaves out what is null
instead. Vaults follow ``Vaults_ListBySubscriptionId`` of 2023-04-01; subscriptions
``Subscriptions_List`` of 2022-12-01; errors are ARM's ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import uuid
from typing import Final

from orchestrator.emulator.fleet import (
    ENABLED,
    RUN_AS_ACCOUNT,
    MappingRecord,
    SubscriptionRecord,
    VaultRecord,
)

JsonObject = dict[str, object]
MAPPING_TYPE: Final = (
    "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers"
    "/replicationProtectionContainerMappings"
)
VAULT_TYPE: Final = "Microsoft.RecoveryServices/vaults"


def arm_error(code: str, message: str) -> JsonObject:
    """ARM's error body."""
    return {"error": {"code": code, "message": message}}


def subscription_json(subscription: SubscriptionRecord, tenant_id: str, state: str) -> JsonObject:
    """One subscription as ``GET /subscriptions`` and ``GET /subscriptions/{id}`` return it."""
    return {
        "id": f"/subscriptions/{subscription.id}",
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": subscription.id,
        "tenantId": tenant_id,
        "displayName": subscription.display_name,
        "state": state,
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "EnterpriseAgreement_2014-09-01",
            "spendingLimit": "Off",
        },
    }


def vault_json(vault: VaultRecord) -> JsonObject:
    """One entry of the vault list of a subscription."""
    return {
        "location": vault.location,
        "name": vault.name,
        "etag": "W/\"datetime'2026-01-15T03%3A00%3A00.000Z'\"",
        "tags": {},
        "properties": {"provisioningState": "Succeeded"},
        "id": vault.id,
        "type": VAULT_TYPE,
        "sku": {"name": "Standard"},
    }


def _schedule_names(mapping: MappingRecord) -> tuple[str, str]:
    # ASR names the runbook schedule with GUIDs; derive them so they are stable.
    schedule = str(uuid.uuid5(uuid.NAMESPACE_URL, mapping.key + "#schedule"))
    return schedule, str(uuid.uuid5(uuid.NAMESPACE_URL, mapping.key + "#job"))


def _a2a_details(mapping: MappingRecord, tidy: bool) -> JsonObject:
    details: JsonObject = {"instanceType": "A2A", "agentAutoUpdateStatus": mapping.status}
    enabled = mapping.status == ENABLED
    if not tidy:
        schedule, job = _schedule_names(mapping) if enabled else (None, None)
        details["automationAccountAuthenticationType"] = mapping.auth_type or RUN_AS_ACCOUNT
        details["automationAccountArmId"] = mapping.account
        details["scheduleName"], details["jobScheduleName"] = schedule, job
        return details
    if mapping.account is not None:
        details["automationAccountArmId"] = mapping.account
    if mapping.auth_type is not None:
        details["automationAccountAuthenticationType"] = mapping.auth_type
    if enabled:
        details["scheduleName"], details["jobScheduleName"] = _schedule_names(mapping)
    return details


def mapping_json(mapping: MappingRecord, tidy: bool = False) -> JsonObject:
    """A mapping as ``GET`` and the lists return it. A fresh object every call."""
    prefix = mapping.vault_prefix
    properties: JsonObject = {
        "targetProtectionContainerId": (
            f"{prefix}/replicationFabrics/{mapping.target_fabric}"
            f"/replicationProtectionContainers/{mapping.target_container}"
            if mapping.a2a
            else "Microsoft Azure"
        ),
        "targetProtectionContainerFriendlyName": mapping.target_container,
        "health": mapping.health,
        "healthErrorDetails": [dict(error) for error in mapping.health_errors],
        "policyId": f"{prefix}/replicationPolicies/{mapping.policy_name}",
        "state": mapping.state,
        "sourceProtectionContainerFriendlyName": mapping.container,
        "sourceFabricFriendlyName": mapping.fabric,
        "targetFabricFriendlyName": mapping.target_fabric,
        "policyFriendlyName": mapping.policy_name,
    }
    if mapping.a2a:
        properties["providerSpecificDetails"] = _a2a_details(mapping, tidy)
    return {"id": mapping.id, "name": mapping.name, "type": MAPPING_TYPE, "properties": properties}
