"""Long-running operations started by accepted PATCHes, evaluated lazily from the clock.

An operation has a start and an end time and an outcome drawn when it starts; its status at
any moment follows from the clock, so no task runs per operation. A mapping's pending
operations are *settled* (successful ones applied, in the order they ended) whenever anything
looks at the mapping or at the operation, so every answer is consistent with the clock.

Draws are seeded per mapping and attempt (``random.Random(f"{seed}|{mapping}|{attempt}")``), so
the n-th accepted PATCH of a mapping behaves the same in every run, whatever the order of
requests across mappings.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from enum import StrEnum

from orchestrator.emulator.draws import pick
from orchestrator.emulator.faults import FaultKind
from orchestrator.emulator.fleet import MappingRecord
from orchestrator.emulator.fleet_spec import FleetSpec
from orchestrator.emulator.health import HealthError, health_of
from orchestrator.emulator.patch_input import Change

FAILURE_CODE = "ProtectionContainerMappingUpdateFailed"
FAILURE_MESSAGE = (
    "Site Recovery could not update the extension update settings of the container mapping."
)


class OperationStatus(StrEnum):
    """The statuses ARM's Azure-AsyncOperation answers carry."""

    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    PARTIALLY_SUCCEEDED = "PartiallySucceeded"
    COMPLETED_WITH_INFORMATION = "CompletedWithInformation"
    FAILED = "Failed"


SUCCESSFUL = frozenset(
    {
        OperationStatus.SUCCEEDED,
        OperationStatus.PARTIALLY_SUCCEEDED,
        OperationStatus.COMPLETED_WITH_INFORMATION,
    }
)


@dataclass(frozen=True, slots=True)
class OperationPlan:
    """What one accepted PATCH will do, drawn before it starts."""

    operation_id: str
    duration: float
    outcome: OperationStatus
    never_finish: bool  # the `faults.never_finish` share: stays InProgress forever
    sync: bool  # the `sync_patch_rate` share: applied at once, answered 200
    accepted_200: bool  # the `accepted_200_rate` share: 200 with async headers, still runs
    status_fault: FaultKind | None  # STATUS_40x_FOREVER: its status URLs stay unreadable
    unhealthy_anyway: bool  # the `unhealthy_after_success_rate` share (enables only)


@dataclass(slots=True)
class Operation:
    """A running or finished operation on one mapping."""

    id: str
    mapping: MappingRecord
    change: Change
    started: float  # clock seconds
    ends: float  # clock seconds; math.inf when it never finishes
    outcome: OperationStatus  # the status it ends with
    error: tuple[str, str] | None = None  # (code, message) when it fails
    health_after: tuple[HealthError, ...] = ()  # what a success leaves on the mapping
    status_fault: FaultKind | None = None

    def status(self, now: float) -> OperationStatus:
        """InProgress until it ends, then its outcome."""
        return OperationStatus.IN_PROGRESS if now < self.ends else self.outcome


def _draw_outcome(rng: random.Random, spec: FleetSpec) -> OperationStatus:
    outcomes = (
        (OperationStatus.FAILED, spec.operation_failure_rate),
        (OperationStatus.PARTIALLY_SUCCEEDED, spec.operation_outcomes.partially_succeeded),
        (
            OperationStatus.COMPLETED_WITH_INFORMATION,
            spec.operation_outcomes.completed_with_information,
        ),
    )
    return pick(rng.random(), outcomes, OperationStatus.SUCCEEDED)


def _draw_status_fault(rng: random.Random, spec: FleetSpec) -> FaultKind | None:
    faults = (
        (FaultKind.STATUS_403_FOREVER, spec.faults.status_403_forever),
        (FaultKind.STATUS_404_FOREVER, spec.faults.status_404_forever),
    )
    return pick(rng.random(), faults, None)


def plan_operation(spec: FleetSpec, mapping_key: str, attempt: int) -> OperationPlan:
    """Draw the plan of the ``attempt``-th accepted PATCH (1-based) of a mapping.

    Later keys draw after earlier ones, so a key left at 0 changes no other draw.
    """
    rng = random.Random(f"{spec.seed}|{mapping_key}|{attempt}")
    operation_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    duration = rng.uniform(*spec.operation_seconds)
    outcome = _draw_outcome(rng, spec)
    never_finish = rng.random() < spec.faults.never_finish
    answer = rng.random()  # one draw picks the answer: 200 at once, 200 + headers, or 202
    sync = answer < spec.sync_patch_rate
    accepted_200 = not sync and answer < spec.sync_patch_rate + spec.accepted_200_rate
    status_fault = _draw_status_fault(rng, spec)
    unhealthy = rng.random() < spec.unhealthy_after_success_rate
    return OperationPlan(
        operation_id, duration, outcome, never_finish, sync, accepted_200, status_fault, unhealthy
    )


def apply_change(
    mapping: MappingRecord, change: Change, health_errors: tuple[HealthError, ...] = ()
) -> None:
    """What a successful update does to a mapping: the asked fields, and its health.

    A disable sets the status only and keeps the account fields unless the PATCH named them
    (what the portal shows after turning auto-update off: the account stays associated). The
    mapping's health errors become ``health_errors`` (none: healthy).
    """
    mapping.status = change.status
    if change.account is not None:
        mapping.account = change.account
    if change.auth_type is not None:
        mapping.auth_type = change.auth_type
    mapping.health_errors = [dict(error) for error in health_errors]
    mapping.health = health_of(mapping.health_errors)


class OperationBook:
    """Every operation by id, and each mapping's operations that have not been settled."""

    __slots__ = ("_by_id", "_pending")

    def __init__(self) -> None:
        self._by_id: dict[str, Operation] = {}  # lower-cased operation id
        self._pending: dict[str, list[Operation]] = {}  # mapping key -> not yet settled

    def __len__(self) -> int:
        return len(self._by_id)

    def __repr__(self) -> str:
        return f"OperationBook(operations={len(self._by_id)}, pending={len(self._pending)})"

    def start(
        self,
        mapping: MappingRecord,
        change: Change,
        plan: OperationPlan,
        now: float,
        *,
        error: tuple[str, str] | None = None,
        health_after: tuple[HealthError, ...] = (),
    ) -> Operation:
        """Record a new operation on ``mapping`` starting ``now``.

        An ``error`` makes it fail whatever its plan drew; ``health_after`` is what a success
        leaves on the mapping.
        """
        ends = math.inf if plan.never_finish else now + plan.duration
        outcome = OperationStatus.FAILED if error is not None else plan.outcome
        if outcome is OperationStatus.FAILED and error is None:
            error = (FAILURE_CODE, FAILURE_MESSAGE)
        operation = Operation(
            plan.operation_id,
            mapping,
            change,
            now,
            ends,
            outcome,
            error,
            health_after,
            plan.status_fault,
        )
        self._by_id[operation.id.lower()] = operation
        self._pending.setdefault(mapping.key, []).append(operation)
        return operation

    def find(self, operation_id: str) -> Operation | None:
        """The operation with this id (case-insensitive), or None."""
        return self._by_id.get(operation_id.lower())

    def running(self, mapping: MappingRecord, now: float) -> Operation | None:
        """The operation on ``mapping`` still in progress at ``now``, if any."""
        pending = self._pending.get(mapping.key, ())
        return next((operation for operation in pending if now < operation.ends), None)

    def settle(self, mapping: MappingRecord, now: float) -> None:
        """Apply the mapping's operations that ended by ``now``, in the order they ended."""
        pending = self._pending.get(mapping.key)
        if not pending:
            return
        ended = sorted((op for op in pending if op.ends <= now), key=lambda op: op.ends)
        for operation in ended:
            if operation.outcome in SUCCESSFUL:
                apply_change(mapping, operation.change, operation.health_after)
            pending.remove(operation)
        if not pending:
            del self._pending[mapping.key]
