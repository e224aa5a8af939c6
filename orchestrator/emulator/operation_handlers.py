"""Writes and their operations: the PATCH of a mapping, its Azure-AsyncOperation status URL and
its Location (operation result) URL.

An accepted PATCH is answered 202 (or 200 with the async headers, or 200 applied at once) and
starts an operation whose outcome is drawn up front. What the enable can achieve is judged from
its Automation account when it is accepted: an account that does not exist fails the operation
(`ACCOUNT_NOT_FOUND`); one whose identity cannot do the job lets it succeed with a health error.
"""

from __future__ import annotations

from typing import Final

from orchestrator.emulator.access import AUTHORIZATION_FAILED, authorization_failed
from orchestrator.emulator.automation import Verdict
from orchestrator.emulator.faults import FaultKind
from orchestrator.emulator.fleet import ENABLED, MappingRecord
from orchestrator.emulator.health import HealthError, Unhealthy, health_after_success
from orchestrator.emulator.operations import (
    SUCCESSFUL,
    Operation,
    OperationPlan,
    OperationStatus,
    apply_change,
    plan_operation,
)
from orchestrator.emulator.patch_input import Change, PatchError, parse_patch
from orchestrator.emulator.payloads import JsonObject, arm_error
from orchestrator.emulator.replies import (
    Call,
    Reply,
    error_reply,
    link_base,
    not_found,
    retry_after,
)
from orchestrator.emulator.routes import RouteKind
from orchestrator.emulator.state import EmulatorState

ACCOUNT_NOT_FOUND: Final = "AutomationAccountNotFound"
Consequences = tuple[tuple[str, str] | None, tuple[HealthError, ...]]
_UNHEALTHY: Final = {
    Verdict.NO_RIGHTS: Unhealthy.NO_RIGHTS,
    Verdict.NO_IDENTITY: Unhealthy.NO_IDENTITY,
}


def _status_path(operation: Operation) -> str:
    return f"{operation.mapping.vault_prefix}/replicationOperationStatus/{operation.id}"


def _status_url(state: EmulatorState, call: Call, operation: Operation) -> str:
    base = link_base(state, call, state.spec.faults.foreign_links.async_operation)
    return f"{base}{_status_path(operation)}?api-version={call.api_version}"


def _result_url(state: EmulatorState, call: Call, operation: Operation) -> str:
    base = link_base(state, call, state.spec.faults.foreign_links.location)
    path = f"{operation.mapping.id}/operationResults/{operation.id}"
    return f"{base}{path}?api-version={call.api_version}"


def _accepted(state: EmulatorState, call: Call, operation: Operation, status: int) -> Reply:
    """202, or 200 with the mapping as it is now (unchanged): both carry the async headers."""
    headers = retry_after(state)
    if state.spec.lro_headers in ("both", "azure_async_operation"):
        headers["Azure-AsyncOperation"] = _status_url(state, call, operation)
    if state.spec.lro_headers in ("both", "location"):
        headers["Location"] = _result_url(state, call, operation)
    body = state.render(operation.mapping, call.now) if status == 200 else None
    return Reply(status, body, headers, operation.id)


def _consequences(
    state: EmulatorState, record: MappingRecord, change: Change, plan: OperationPlan
) -> Consequences:
    """(the error the operation fails with, the health errors a success leaves)."""
    if change.status != ENABLED or change.account is None:
        return None, ()
    verdict = state.automation_accounts.verdict(change.account, change.auth_type)
    if verdict is Verdict.MISSING:
        message = f"The Automation account '{change.account}' could not be found."
        return (ACCOUNT_NOT_FOUND, message), ()
    reasons = [_UNHEALTHY[verdict]] if verdict in _UNHEALTHY else []
    if plan.unhealthy_anyway:
        reasons.append(Unhealthy.ANYWAY)
    return None, tuple(health_after_success(why, record.id, change.account) for why in reasons)


def _refusal(state: EmulatorState, call: Call, record: MappingRecord) -> Change | Reply:
    """The change a PATCH asks for, or why it is refused (415, 400, 409)."""
    if call.content_type.split(";")[0].strip().lower() != "application/json":
        return error_reply(
            415, "UnsupportedMediaType", "The content type must be 'application/json'."
        )
    change = parse_patch(call.body, state.spec.default_authentication_type)
    if isinstance(change, PatchError):
        return error_reply(400, change.code, change.message)
    if not record.a2a:
        return error_reply(
            400,
            "InvalidProviderSpecificInput",
            f"The container mapping '{record.name}' is not an Azure-to-Azure (A2A) mapping.",
        )
    if state.spec.conflict_while_running and state.operations.running(record, call.now):
        state.counters.conflicts += 1
        return error_reply(
            409,
            "Conflict",
            f"An operation is already in progress on the protection container mapping "
            f"'{record.name}'. Retry after it has completed.",
        )
    return change


def patch_mapping(state: EmulatorState, call: Call) -> Reply:
    """``PATCH {mappingId}``: validate, then start an operation (or apply at once)."""
    record = state.mapping_record(call.route.mapping_key, call.now)
    if record is None:
        return not_found(call.path)
    change = _refusal(state, call, record)
    if isinstance(change, Reply):
        return change
    record.attempts += 1
    plan = plan_operation(state.spec, record.key, record.attempts)
    error, health = _consequences(state, record, change, plan)
    if plan.sync:
        if error is not None:
            return error_reply(400, *error)
        apply_change(record, change, health)
        return Reply(200, state.render(record, call.now))
    operation = state.operations.start(
        record, change, plan, call.now, error=error, health_after=health
    )
    state.counters.operations_started += 1
    if plan.never_finish:
        state.counters.faults[FaultKind.NEVER_FINISH] += 1
    if plan.status_fault is not None:
        state.counters.faults[plan.status_fault] += 1
    return _accepted(state, call, operation, 200 if plan.accepted_200 else 202)


def _unreadable(state: EmulatorState, call: Call, operation: Operation) -> Reply | None:
    """The answer of a status URL that cannot be read now (or ever), or None."""
    fault = operation.status_fault
    if fault is FaultKind.STATUS_403_FOREVER:
        message = authorization_failed(state.identity_client_id, call.route.kind, False, call.path)
        return Reply(403, arm_error(AUTHORIZATION_FAILED, message), {}, operation.id)
    gone = fault is FaultKind.STATUS_404_FOREVER
    if gone or call.now < operation.started + state.spec.faults.status_404_seconds:
        if not gone:
            state.counters.faults[FaultKind.STATUS_404] += 1
        body = arm_error("OperationNotFound", "The operation was not found.")
        return Reply(404, body, {}, operation.id)
    return None


def _operation_for(state: EmulatorState, call: Call) -> Operation | Reply:
    """The operation a status or result URL names, or the answer to give instead."""
    operation = state.operations.find(call.route.operation_id)
    route = call.route
    if (
        operation is None
        or operation.mapping.vault_key != route.vault_key
        or (route.kind is RouteKind.OPERATION_RESULT and operation.mapping.key != route.mapping_key)
    ):
        return error_reply(
            404, "OperationNotFound", f"The operation '{route.operation_id}' was not found."
        )
    refusal = _unreadable(state, call, operation)
    if refusal is not None:
        return refusal
    state.operations.settle(operation.mapping, call.now)
    return operation


def _status_body(state: EmulatorState, operation: Operation, status: OperationStatus) -> JsonObject:
    ended = status is not OperationStatus.IN_PROGRESS
    tidy = state.spec.tidy_bodies
    # ASR prints endTime in whole seconds; end_time_extra_seconds makes it disagree further.
    end = operation.ends + state.spec.end_time_extra_seconds
    end_time = state.print_time(end, whole_seconds=not tidy) if ended else None
    error = None
    if status is OperationStatus.FAILED and operation.error is not None:
        error = {"code": operation.error[0], "message": operation.error[1]}
    start_time = state.print_time(operation.started)
    if tidy:
        body: JsonObject = {"id": _status_path(operation), "name": operation.id}
        body.update(status=status.value, startTime=start_time)
        if end_time is not None:
            body["endTime"] = end_time
        if error is not None:
            body["error"] = error
        return body
    return {
        "id": None,
        "name": operation.id,
        "status": status.value,
        "startTime": start_time,
        "endTime": end_time,
        "error": error,
        "properties": None,
        "percentComplete": None,
    }


def operation_status(state: EmulatorState, call: Call) -> Reply:
    """``GET …/replicationOperationStatus/{id}`` (the Azure-AsyncOperation URL): always 200
    while readable, ``Retry-After`` only if configured and the operation still runs."""
    operation = _operation_for(state, call)
    if isinstance(operation, Reply):
        return operation
    status = operation.status(call.now)
    headers = retry_after(state) if status is OperationStatus.IN_PROGRESS else {}
    return Reply(200, _status_body(state, operation, status), headers, operation.id)


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
        headers = {**retry_after(state), "Location": _result_url(state, call, operation)}
        return Reply(202, None, headers, operation.id)
    if status in SUCCESSFUL:
        return Reply(200, state.render(operation.mapping, call.now), {}, operation.id)
    code, message = operation.error or ("", "")
    return Reply(400, arm_error(code, message), {}, operation.id)
