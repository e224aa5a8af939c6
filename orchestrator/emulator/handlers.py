"""Which handler answers a route, and the checks every ARM resource shares (403 for a
subscription without a role, 409 for a write in a read-only subscription).

Authentication, api-version, limits and faults are the pipeline's business (`core`); handlers see
only requests that passed them, and change state only through `EmulatorState`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from orchestrator.emulator import operation_handlers as writes
from orchestrator.emulator import resource_handlers as reads
from orchestrator.emulator.access import AUTHORIZATION_FAILED, authorization_failed
from orchestrator.emulator.journal import RequestKind
from orchestrator.emulator.replies import Call, Reply, error_reply
from orchestrator.emulator.routes import RouteKind
from orchestrator.emulator.state import EmulatorState

# Subscription states in which ARM refuses writes (Warned and PastDue still allow them).
READ_ONLY_STATES: Final = frozenset({"Disabled", "Deleted"})

Handler = Callable[[EmulatorState, Call], Reply]
HANDLERS: Final[Mapping[tuple[RouteKind, RequestKind], Handler]] = {
    (RouteKind.SUBSCRIPTIONS, RequestKind.GET): reads.list_subscriptions,
    (RouteKind.SUBSCRIPTION, RequestKind.GET): reads.get_subscription,
    (RouteKind.VAULTS, RequestKind.GET): reads.list_vaults,
    (RouteKind.AUTOMATION_ACCOUNT, RequestKind.GET): reads.get_automation_account,
    (RouteKind.MAPPINGS, RequestKind.GET): reads.list_mappings,
    (RouteKind.ITEMS, RequestKind.GET): reads.list_items,
    (RouteKind.FABRICS, RequestKind.GET): reads.list_fabrics,
    (RouteKind.FABRIC, RequestKind.GET): reads.get_fabric,
    (RouteKind.CONTAINERS, RequestKind.GET): reads.list_containers,
    (RouteKind.CONTAINER, RequestKind.GET): reads.get_container,
    (RouteKind.CONTAINER_MAPPINGS, RequestKind.GET): reads.list_container_mappings,
    (RouteKind.CONTAINER_ITEMS, RequestKind.GET): reads.list_container_items,
    (RouteKind.ITEM, RequestKind.GET): reads.get_item,
    (RouteKind.MAPPING, RequestKind.GET): reads.get_mapping,
    (RouteKind.MAPPING, RequestKind.SET): writes.patch_mapping,
    (RouteKind.OPERATION_STATUS, RequestKind.GET): writes.operation_status,
    (RouteKind.OPERATION_RESULT, RequestKind.GET): writes.operation_result,
}


def _read_only(state: EmulatorState, subscription_id: str) -> Reply | None:
    """ARM's 409 for a write in a Disabled or Deleted subscription, or None."""
    if state.subscription_state(subscription_id) not in READ_ONLY_STATES:
        return None
    return error_reply(
        409,
        "ReadOnlyDisabledSubscription",
        f"The subscription '{subscription_id}' is disabled and therefore marked as read only. "
        "You cannot perform any write actions on this subscription until it is re-enabled.",
    )


def handle(state: EmulatorState, call: Call, kind: RequestKind) -> Reply:
    """Answer an ARM request that passed auth, limits and faults."""
    route = call.route
    if route.kind is RouteKind.UNKNOWN:
        return error_reply(404, "InvalidResourceType", f"No resource type matches '{call.path}'.")
    write = kind is RequestKind.SET
    if route.subscription_id in state.forbidden_subscriptions:
        message = authorization_failed(state.identity_client_id, route.kind, write, call.path)
        return error_reply(403, AUTHORIZATION_FAILED, message)
    handler = HANDLERS.get((route.kind, kind))
    if handler is None or call.method not in ("GET", "PATCH"):
        return error_reply(
            405, "MethodNotAllowed", f"{call.method} is not supported on '{call.path}'."
        )
    refusal = _read_only(state, route.subscription_id) if write else None
    return refusal if refusal is not None else handler(state, call)
