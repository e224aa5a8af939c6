"""Where each vault and mapping stands during a run; the report is built from these at the end.

Records are updated in place as work progresses, so whatever ends the run (completion, the
deadline, an interrupt) the records say exactly where everything stands: :func:`settle` gives
every unfinished mapping its final result from the stage it reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from orchestrator.asr import MappingSnapshot, SkipReason
from orchestrator.report import (
    ErrorInfo,
    MappingBefore,
    MappingReport,
    MappingResult,
    OperationReport,
    VaultReport,
    VaultStatus,
)
from orchestrator.targets import VaultTarget

if TYPE_CHECKING:
    from orchestrator.poller import TrackedOperation


class Stage(StrEnum):
    LISTED = "listed"  # read; nothing decided yet
    QUEUED = "queued"  # needs a PATCH, not sent yet
    PATCHING = "patching"  # PATCH under way
    RUNNING = "running"  # accepted; the operation is being tracked
    DONE = "done"  # has its final result


class Ending(StrEnum):
    """Why a run stopped before every mapping was done."""

    DEADLINE = "deadline"
    INTERRUPT = "interrupt"


@dataclass(slots=True, eq=False)
class MappingWork:
    """One listed mapping: what it was, what was done to it, how that ended."""

    id: str
    name: str
    subscription_id: str
    vault_name: str
    before: MappingBefore
    stage: Stage = Stage.LISTED
    body: dict[str, object] | None = field(default=None, repr=False)
    result: MappingResult | None = None
    skip_reason: SkipReason | None = None
    operation: TrackedOperation | None = field(default=None, repr=False)
    operation_url: str | None = None
    status: str | None = None
    error: ErrorInfo | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @classmethod
    def listed(cls, snapshot: MappingSnapshot, vault: VaultWork) -> MappingWork:
        return cls(
            id=snapshot.id,
            name=snapshot.name,
            subscription_id=vault.target.vault.subscription_id,
            vault_name=vault.target.vault.name,
            before=MappingBefore.from_snapshot(snapshot),
        )

    @property
    def log_context(self) -> dict[str, str]:
        return {"vault": self.vault_name, "subscription_id": self.subscription_id}

    @property
    def polls(self) -> int:
        return self.operation.polls if self.operation is not None else 0

    @property
    def error_code(self) -> str | None:
        return self.error.code if self.error else None

    def queue(self, body: dict[str, object]) -> None:
        self.body = body
        self.stage = Stage.QUEUED

    def run(self, operation: TrackedOperation) -> None:
        self.operation = operation
        self.operation_url = operation.strategy.url
        self.status = "InProgress"
        self.stage = Stage.RUNNING

    def finish(
        self,
        result: MappingResult,
        *,
        skip_reason: SkipReason | None = None,
        status: str | None = None,
        error: ErrorInfo | None = None,
    ) -> None:
        self.result = result
        self.skip_reason = skip_reason
        if status is not None:
            self.status = status
        self.error = error
        if self.started_at is not None:
            self.finished_at = datetime.now(UTC)
        self.stage = Stage.DONE

    def settle(self, ending: Ending) -> None:
        """Give an unfinished mapping its final result from the stage it reached."""
        if self.stage is Stage.DONE:
            return
        last = self.operation.last_verdict if self.operation is not None else None
        status = last.status if last is not None and last.status else self.status
        if self.stage in (Stage.LISTED, Stage.QUEUED):
            self.finish(MappingResult.NOT_STARTED)
        elif ending is Ending.INTERRUPT:
            self.finish(MappingResult.INTERRUPTED, status=status)
        else:
            self.finish(MappingResult.TIMED_OUT, status=status)
        self.finished_at = None  # the operation did not finish: only its start is known

    def to_report(self) -> MappingReport:
        assert self.result is not None, "settle() every record before reporting"
        operation = None
        if self.started_at is not None or self.error is not None:
            operation = OperationReport(
                url=self.operation_url,
                status=self.status,
                polls=self.polls,
                started_at=self.started_at,
                finished_at=self.finished_at,
                error=self.error,
            )
        return MappingReport(
            id=self.id,
            result=self.result,
            skip_reason=self.skip_reason,
            before=self.before,
            operation=operation,
        )


@dataclass(slots=True, eq=False)
class VaultWork:
    """One targeted vault: its listing's status and its mappings' records."""

    target: VaultTarget
    status: VaultStatus = VaultStatus.OK
    error: ErrorInfo | None = None
    listed: bool = False  # the whole listing was read (or failed for good)
    mappings: list[MappingWork] = field(default_factory=list)
    _ids: set[str] = field(default_factory=set, repr=False)

    def has_mapping(self, mapping_id: str) -> bool:
        return mapping_id.lower() in self._ids

    def add(self, work: MappingWork) -> None:
        self._ids.add(work.id.lower())
        self.mappings.append(work)

    def fail(self, error: ErrorInfo) -> None:
        self.status = VaultStatus.ERROR
        self.error = error

    def settle(self, ending: Ending) -> None:
        """Give every unfinished mapping its final result; a vault never fully listed is in error."""
        for mapping in self.mappings:
            mapping.settle(ending)
        if not self.listed:
            self.listed = True
            self.fail(
                ErrorInfo(
                    code="timed_out" if ending is Ending.DEADLINE else "interrupted",
                    message=f"the run ended ({ending}) before this vault's mappings were all listed",
                )
            )

    def to_report(self) -> VaultReport:
        return VaultReport(
            id=self.target.vault.arm_id,
            subscription_id=self.target.vault.subscription_id,
            status=self.status,
            error=self.error,
            mappings=[m.to_report() for m in self.mappings],
        )
