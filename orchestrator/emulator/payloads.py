"""JSON bodies shaped like Microsoft's published examples (azure-rest-api-specs).

Mappings follow ``ReplicationProtectionContainerMappings_List/_Get`` of
``Microsoft.RecoveryServices`` 2021-12-01 (ids start ``/Subscriptions/``; fields that are null
are left out, as ASR does; ``providerSpecificDetails`` is absent on non-A2A mappings). Vaults
follow ``Vaults_ListBySubscriptionId`` of 2023-04-01; errors are ARM's
``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from orchestrator.emulator.fleet import ENABLED, MappingRecord, SubscriptionRecord, VaultRecord

JsonObject = dict[str, object]
MAPPING_TYPE = (
    "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers"
    "/replicationProtectionContainerMappings"
)
VAULT_TYPE = "Microsoft.RecoveryServices/vaults"


def arm_error(code: str, message: str) -> JsonObject:
    """ARM's error body."""
    return {"error": {"code": code, "message": message}}


def iso_time(epoch_seconds: float) -> str:
    """An ARM timestamp: UTC, seven fractional digits, ``Z``."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def subscription_json(subscription: SubscriptionRecord, tenant_id: str) -> JsonObject:
    """One entry of ``GET /subscriptions``."""
    return {
        "id": f"/subscriptions/{subscription.id}",
        "authorizationSource": "RoleBased",
        "subscriptionId": subscription.id,
        "tenantId": tenant_id,
        "displayName": subscription.display_name,
        "state": "Enabled",
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


def _a2a_details(mapping: MappingRecord) -> JsonObject:
    details: JsonObject = {"instanceType": "A2A", "agentAutoUpdateStatus": mapping.status}
    if mapping.account is not None:
        details["automationAccountArmId"] = mapping.account
    if mapping.auth_type is not None:
        details["automationAccountAuthenticationType"] = mapping.auth_type
    if mapping.status == ENABLED:
        # ASR names the runbook schedule with GUIDs; derive them so they are stable.
        details["scheduleName"] = str(uuid.uuid5(uuid.NAMESPACE_URL, mapping.key + "#schedule"))
        details["jobScheduleName"] = str(uuid.uuid5(uuid.NAMESPACE_URL, mapping.key + "#job"))
    return details


def mapping_json(mapping: MappingRecord) -> JsonObject:
    """A mapping as ``GET`` and the list return it. A fresh object every call."""
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
        properties["providerSpecificDetails"] = _a2a_details(mapping)
    return {"id": mapping.id, "name": mapping.name, "type": MAPPING_TYPE, "properties": properties}
