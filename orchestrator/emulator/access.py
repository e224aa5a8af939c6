"""Role checks: ARM's 403 ``AuthorizationFailed`` and the RBAC action it names.

A fleet's ``forbidden_subscriptions`` are listed by ``GET /subscriptions`` (the identity can see
them) but every ARM call under them is refused, as ARM refuses a caller with no role that
grants the call's action there. The vault-level mapping list has an action of its own, which
Microsoft's *Site Recovery Contributor* role does not grant (``vault_list_forbidden_share``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from orchestrator.emulator.routes import RouteKind

AUTHORIZATION_FAILED: Final = "AuthorizationFailed"
_FABRICS: Final = "Microsoft.RecoveryServices/vaults/replicationFabrics"
_CONTAINERS: Final = f"{_FABRICS}/replicationProtectionContainers"
_MAPPINGS: Final = f"{_CONTAINERS}/replicationProtectionContainerMappings"
_ITEMS: Final = f"{_CONTAINERS}/replicationProtectedItems"
# The RBAC action ARM names when it refuses a route: (route kind, is a write) -> action.
ACTIONS: Final[Mapping[tuple[RouteKind, bool], str]] = {
    (RouteKind.SUBSCRIPTION, False): "Microsoft.Resources/subscriptions/read",
    (RouteKind.VAULTS, False): "Microsoft.RecoveryServices/vaults/read",
    (RouteKind.AUTOMATION_ACCOUNT, False): "Microsoft.Automation/automationAccounts/read",
    (RouteKind.FABRICS, False): f"{_FABRICS}/read",
    (RouteKind.FABRIC, False): f"{_FABRICS}/read",
    (RouteKind.CONTAINERS, False): f"{_CONTAINERS}/read",
    (RouteKind.CONTAINER, False): f"{_CONTAINERS}/read",
    (RouteKind.CONTAINER_MAPPINGS, False): f"{_MAPPINGS}/read",
    (RouteKind.ITEMS, False): "Microsoft.RecoveryServices/vaults/replicationProtectedItems/read",
    (RouteKind.CONTAINER_ITEMS, False): f"{_ITEMS}/read",
    (RouteKind.ITEM, False): f"{_ITEMS}/read",
    # the vault-level list has an action of its own, apart from the mappings under fabrics
    (RouteKind.MAPPINGS, False): (
        "Microsoft.RecoveryServices/vaults/replicationProtectionContainerMappings/read"
    ),
    (RouteKind.MAPPING, False): f"{_MAPPINGS}/read",
    (RouteKind.MAPPING, True): f"{_MAPPINGS}/write",
    (RouteKind.OPERATION_STATUS, False): (
        "Microsoft.RecoveryServices/vaults/replicationOperationStatus/read"
    ),
    (RouteKind.OPERATION_RESULT, False): f"{_MAPPINGS}/operationResults/read",
}


def authorization_failed(client_id: str, route: RouteKind, write: bool, scope: str) -> str:
    """ARM's message for a call the identity ``client_id`` has no role for at ``scope``."""
    action = ACTIONS.get((route, write), "*/read")
    return (
        f"The client '{client_id}' with object id '{client_id}' does not have authorization to "
        f"perform action '{action}' over scope '{scope}' or the scope is invalid. If access "
        "was recently granted, please refresh your credentials."
    )
