"""The ARM resources: what each route answers, as a `Reply`, once a request got through.

Authentication, api-version, limits and faults are the pipeline's business (`app`); these
functions see only requests that passed them, and change state only through `EmulatorState`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from orchestrator.emulator.access import AUTHORIZATION_FAILED, authorization_failed
from orchestrator.emulator.faults import FaultKind
from orchestrator.emulator.fleet import MappingRecord
from orchestrator.emulator.journal import RequestKind
from orchestrator.emulator.operations import (
    FAILURE_CODE,
    FAILURE_MESSAGE,
    SUCCESSFUL,
    Operation,
    OperationStatus,
    apply_change,
    plan_operation,
)
from orchestrator.emulator.paging import decode_skiptoken, next_link, page
from orchestrator.emulator.patch_input import PatchError, parse_patch
from orchestrator.emulator.payloads import (
    JsonObject,
    arm_error,
    iso_time,
    mapping_json,
    subscription_json,
    vault_json,
)
from orchestrator.emulator.routes import Route, RouteKind
from orchestrator.emulator.state import EmulatorState

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    """What a handler needs from one request."""

    route: Route
    method: str
    path: str  # as the client sent it, percent-decoded
    raw_path: str  # as the client sent it, still percent-encoded
    base: str  # scheme://host:port the client used
    api_version: str
    skiptoken: str | None
    content_type: str
    body: bytes
    now: float


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer: status, JSON body (None for none), headers, the operation it concerns."""

    status: int
    body: JsonObject | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    operation_id: str | None = None


def error_reply(status: int, code: str, message: str, **headers: str) -> Reply:
    """An ARM error answer."""
    return Reply(status, arm_error(code, message), headers)


def _link_base(state: EmulatorState, call: Call, foreign: str | None) -> str:
    """The origin a link in an answer points at: the one the client used, or a foreign one."""
    if foreign is None:
        return call.base
    state.counters.faults[FaultKind.FOREIGN_LINK] += 1
    return foreign


def _not_found(what: str) -> Reply:
    return error_reply(404, "ResourceNotFound", f"The resource '{what}' was not found.")


def _paged(
    state: EmulatorState, call: Call, items: Sequence[T], render: Callable[[T], JsonObject]
) -> Reply:
    offset = 0
    if call.skiptoken is not None:
        decoded = decode_skiptoken(call.skiptoken)
        if decoded is None:
            return error_reply(400, "InvalidSkipToken", "The continuation token is not valid.")
        offset = decoded
    items_page, next_offset = page(items, offset, state.spec.page_size)
    body: JsonObject = {"value": [render(item) for item in items_page]}
    if next_offset is not None:
        base = _link_base(state, call, state.spec.faults.foreign_links.next_link)
        body["nextLink"] = next_link(base, call.raw_path, call.api_version, next_offset)
    return Reply(200, body)


def list_subscriptions(state: EmulatorState, call: Call) -> Reply:
    """``GET /subscriptions``."""
    tenant = state.fleet.tenant_id
    return _paged(state, call, state.fleet.subscriptions, lambda s: subscription_json(s, tenant))


def list_vaults(state: EmulatorState, call: Call) -> Reply:
    """``GET /subscriptions/{id}/providers/Microsoft.RecoveryServices/vaults``."""
    subscription = state.fleet.subscriptions_by_id.get(call.route.subscription_id)
    if subscription is None:
        return error_reply(
            404,
            "SubscriptionNotFound",
            f"The subscription '{call.route.subscription_id}' could not be found.",
        )
    return _paged(state, call, subscription.vaults, vault_json)


def list_mappings(state: EmulatorState, call: Call) -> Reply:
    """``GET {vaultId}/replicationProtectionContainerMappings``."""
    vault = state.fleet.vaults.get(call.route.vault_key)
    if vault is None:
        return _not_found(call.route.vault_key)

    def render(record: MappingRecord) -> JsonObject:
        state.operations.settle(record, call.now)
        return mapping_json(record)

    return _paged(state, call, vault.mappings, render)


def get_mapping(state: EmulatorState, call: Call) -> Reply:
    """``GET {mappingId}``."""
    record = state.mapping_record(call.route.mapping_key, call.now)
    return _not_found(call.path) if record is None else Reply(200, mapping_json(record))


def _status_path(operation: Operation) -> str:
    return f"{operation.mapping.vault_prefix}/replicationOperationStatus/{operation.id}"


def _status_url(state: EmulatorState, call: Call, operation: Operation) -> str:
    base = _link_base(state, call, state.spec.faults.foreign_links.async_operation)
    return f"{base}{_status_path(operation)}?api-version={call.api_version}"


def _result_url(state: EmulatorState, call: Call, operation: Operation) -> str:
    base = _link_base(state, call, state.spec.faults.foreign_links.location)
    path = f"{operation.mapping.id}/operationResults/{operation.id}"
    return f"{base}{path}?api-version={call.api_version}"


def _accepted(state: EmulatorState, call: Call, operation: Operation) -> Reply:
    headers = {"Retry-After": str(state.spec.retry_after_seconds)}
    if state.spec.lro_headers in ("both", "azure_async_operation"):
        headers["Azure-AsyncOperation"] = _status_url(state, call, operation)
    if state.spec.lro_headers in ("both", "location"):
        headers["Location"] = _result_url(state, call, operation)
    return Reply(202, None, headers, operation.id)


def _unsupported_media_type(call: Call) -> Reply | None:
    if call.content_type.split(";")[0].strip().lower() == "application/json":
        return None
    return error_reply(415, "UnsupportedMediaType", "The content type must be 'application/json'.")


def patch_mapping(state: EmulatorState, call: Call) -> Reply:
    """``PATCH {mappingId}``: validate, then start an operation (or apply at once)."""
    record = state.mapping_record(call.route.mapping_key, call.now)
    if record is None:
        return _not_found(call.path)
    refusal = _unsupported_media_type(call)
    if refusal is not None:
        return refusal
    change = parse_patch(call.body)
    if isinstance(change, PatchError):
        return error_reply(400, change.code, change.message)
    if not record.a2a:
        return error_reply(
            400,
            "InvalidProviderSpecificInput",
            f"The container mapping '{record.name}' is not an Azure-to-Azure (A2A) mapping.",
        )
    record.attempts += 1
    plan = plan_operation(state.spec, record.key, record.attempts)
    if plan.sync:
        apply_change(record, change)
        return Reply(200, mapping_json(record))
    operation = state.operations.start(record, change, plan, call.now)
    state.counters.operations_started += 1
    if plan.never_finish:
        state.counters.faults["never_finish"] += 1
    return _accepted(state, call, operation)


def _operation_for(state: EmulatorState, call: Call) -> Operation | Reply:
    """The operation a status or result URL names, or the 404 to answer instead."""
    operation = state.operations.find(call.route.operation_id)
    route = call.route
    if operation is None or operation.mapping.vault_key != route.vault_key:
        return error_reply(
            404, "OperationNotFound", f"The operation '{route.operation_id}' was not found."
        )
    if route.kind is RouteKind.OPERATION_RESULT and operation.mapping.key != route.mapping_key:
        return error_reply(
            404, "OperationNotFound", f"The operation '{route.operation_id}' was not found."
        )
    if call.now < operation.started + state.spec.faults.status_404_seconds:
        state.counters.faults["status_404"] += 1
        return Reply(
            404, arm_error("OperationNotFound", "The operation was not found."), {}, operation.id
        )
    state.operations.settle(operation.mapping, call.now)
    return operation


def operation_status(state: EmulatorState, call: Call) -> Reply:
    """``GET …/replicationOperationStatus/{id}`` (the Azure-AsyncOperation URL).

    Always 200 with ``id``, ``name``, ``status``, ``startTime``; ``endTime`` only once the
    operation ended and ``error`` only when it failed (ARM leaves out what does not apply).
    ``Retry-After`` while it is in progress.
    """
    operation = _operation_for(state, call)
    if isinstance(operation, Reply):
        return operation
    status = operation.status(call.now)
    body: JsonObject = {
        "id": _status_path(operation),
        "name": operation.id,
        "status": status.value,
        "startTime": iso_time(state.epoch(operation.started)),
    }
    if status is OperationStatus.IN_PROGRESS:
        return Reply(200, body, {"Retry-After": str(state.spec.retry_after_seconds)}, operation.id)
    body["endTime"] = iso_time(state.epoch(operation.ends))
    if status is OperationStatus.FAILED:
        body["error"] = {"code": FAILURE_CODE, "message": FAILURE_MESSAGE}
    return Reply(200, body, {}, operation.id)


def operation_result(state: EmulatorState, call: Call) -> Reply:
    """``GET {mappingId}/operationResults/{id}`` (the Location URL).

    202 while running; 200 with the mapping after success; after failure 400 with the
    operation's error (ARM's Location pattern answers a failed operation with its error status).
    """
    operation = _operation_for(state, call)
    if isinstance(operation, Reply):
        return operation
    status = operation.status(call.now)
    if status is OperationStatus.IN_PROGRESS:
        headers = {
            "Retry-After": str(state.spec.retry_after_seconds),
            "Location": _result_url(state, call, operation),
        }
        return Reply(202, None, headers, operation.id)
    if status in SUCCESSFUL:
        return Reply(200, mapping_json(operation.mapping), {}, operation.id)
    return Reply(400, arm_error(FAILURE_CODE, FAILURE_MESSAGE), {}, operation.id)


Handler = Callable[[EmulatorState, Call], Reply]
HANDLERS: Mapping[tuple[RouteKind, RequestKind], Handler] = {
    (RouteKind.SUBSCRIPTIONS, RequestKind.GET): list_subscriptions,
    (RouteKind.VAULTS, RequestKind.GET): list_vaults,
    (RouteKind.MAPPINGS, RequestKind.GET): list_mappings,
    (RouteKind.MAPPING, RequestKind.GET): get_mapping,
    (RouteKind.MAPPING, RequestKind.SET): patch_mapping,
    (RouteKind.OPERATION_STATUS, RequestKind.GET): operation_status,
    (RouteKind.OPERATION_RESULT, RequestKind.GET): operation_result,
}


def handle(state: EmulatorState, call: Call, kind: RequestKind) -> Reply:
    """Answer an ARM request that passed auth, limits and faults."""
    if call.route.kind is RouteKind.UNKNOWN:
        return error_reply(404, "InvalidResourceType", f"No resource type matches '{call.path}'.")
    if call.route.subscription_id in state.forbidden_subscriptions:
        message = authorization_failed(
            state.identity_client_id, call.route.kind, kind is RequestKind.SET, call.path
        )
        return error_reply(403, AUTHORIZATION_FAILED, message)
    handler = HANDLERS.get((call.route.kind, kind))
    if handler is None or call.method not in ("GET", "PATCH"):
        return error_reply(
            405, "MethodNotAllowed", f"{call.method} is not supported on '{call.path}'."
        )
    return handler(state, call)
