"""Where each vault and mapping stands during a run; the report is built from these at the end.

Records are updated in place as work progresses, so whatever ends the run (completion, the
deadline, an interrupt) the records say exactly where everything stands: :func:`settle` gives
every unfinished mapping its final result from the stage it reached. A run keeps one record per
mapping until its end, so a finished record holds only what the report needs; the report's
models are built from the records one vault at a time, as the report is written
(:class:`RunReport`).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, TextIO

from orchestrator.asr.rules import MappingSnapshot, SkipReason
from orchestrator.asr.targets import VaultTarget
from orchestrator.output.report import (
    ErrorInfo,
    MappingBefore,
    MappingReport,
    MappingResult,
    OperationReport,
    Report,
    VaultReport,
    VaultStatus,
)
from orchestrator.output.report_file import write_report

if TYPE_CHECKING:
    from orchestrator.work.poller import TrackedOperation


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


def _shared(value: str | None) -> str | None:
    """One copy of a value that many mappings repeat (states, statuses, an account's id)."""
    return sys.intern(value) if value is not None else None


@dataclass(frozen=True, slots=True)
class Before:
    """A mapping's settings as listed; a pydantic :class:`MappingBefore` only while reported.

    Kept for every mapping until the end of the run, so kept small: a model would cost ~0.8 KB.
    """

    agent_auto_update_status: str | None
    automation_account_arm_id: str | None
    authentication_type: str | None
    health_errors: int
    state: str | None

    @classmethod
    def of(cls, snapshot: MappingSnapshot) -> Before:
        return cls(
            agent_auto_update_status=_shared(snapshot.agent_auto_update_status),
            automation_account_arm_id=_shared(snapshot.automation_account_arm_id),
            authentication_type=_shared(snapshot.authentication_type),
            health_errors=snapshot.health_errors,
            state=_shared(snapshot.state),
        )

    def to_model(self) -> MappingBefore:
        return MappingBefore(
            agent_auto_update_status=self.agent_auto_update_status,
            automation_account_arm_id=self.automation_account_arm_id,
            authentication_type=self.authentication_type,
            health_errors=self.health_errors,
            state=self.state,
        )


@dataclass(slots=True, eq=False)
class MappingWork:
    """One listed mapping: what it was, what was done to it, how that ended.

    Once done it keeps only what the report needs: the PATCH body goes once sent, the tracked
    operation (callbacks, verdicts, log context) once it ended; its poll count stays.
    """

    id: str
    name: str
    subscription_id: str
    vault_name: str
    before: Before
    stage: Stage = Stage.LISTED
    body: dict[str, object] | None = field(default=None, repr=False)
    result: MappingResult | None = None
    skip_reason: SkipReason | None = None
    operation: TrackedOperation | None = field(default=None, repr=False)  # while it is tracked
    operation_url: str | None = None
    status: str | None = None
    error: ErrorInfo | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    final_polls: int = 0  # the operation's polls, once it is no longer tracked

    @classmethod
    def listed(cls, snapshot: MappingSnapshot, vault: VaultWork) -> MappingWork:
        return cls(
            id=snapshot.id,
            name=snapshot.name,
            subscription_id=vault.target.vault.subscription_id,
            vault_name=vault.target.vault.name,
            before=Before.of(snapshot),
        )

    @property
    def log_context(self) -> dict[str, str]:
        return {"vault": self.vault_name, "subscription_id": self.subscription_id}

    @property
    def polls(self) -> int:
        return self.operation.polls if self.operation is not None else self.final_polls

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
            self.status = sys.intern(status)
        self.error = error
        if self.started_at is not None:
            self.finished_at = datetime.now(UTC)
        self.stage = Stage.DONE
        if self.operation is not None:
            self.final_polls = self.operation.polls
            self.operation = None

    def settle(self, ending: Ending) -> None:
        """Give an unfinished mapping its final result from the stage it reached."""
        if self.stage is Stage.DONE:
            return
        last = self.operation.last_verdict if self.operation is not None else None
        status = last.status if last is not None and last.status else self.status
        if self.stage in (Stage.LISTED, Stage.QUEUED):
            self.finish(MappingResult.NOT_STARTED)
            return
        result = (
            MappingResult.INTERRUPTED if ending is Ending.INTERRUPT else MappingResult.TIMED_OUT
        )
        unanswered = None
        if self.stage is Stage.PATCHING:
            # No operation URL to name: say why, and that the change may or may not be under way.
            unanswered = ErrorInfo(
                code="patch_unanswered",
                message=f"the run ended ({ending}) while this mapping's PATCH was being sent "
                "or retried; whether ASR accepted it is unknown",
            )
        self.finish(result, status=status, error=unanswered)
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
            before=self.before.to_model(),
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
    # Lower-cased ids of the mappings listed so far, to drop a mapping a page repeats; only
    # listing needs them, so end_listing() lets them go.
    _ids: set[str] | None = field(default_factory=set, repr=False)

    def has_mapping(self, mapping_id: str) -> bool:
        """Whether this mapping was listed already; only while listing."""
        assert self._ids is not None, "the vault's listing has ended"
        return mapping_id.lower() in self._ids

    def add(self, work: MappingWork) -> None:
        assert self._ids is not None, "the vault's listing has ended"
        self._ids.add(work.id.lower())
        self.mappings.append(work)

    def end_listing(self) -> None:
        """The listing was read whole, or failed for good: no mapping will be added."""
        self.listed = True
        self._ids = None

    def fail(self, error: ErrorInfo) -> None:
        self.status = VaultStatus.ERROR
        self.error = error

    def settle(self, ending: Ending) -> None:
        """Give every unfinished mapping its final result; a vault never fully listed is in error."""
        for mapping in self.mappings:
            mapping.settle(ending)
        if not self.listed:
            self.end_listing()
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


def count_results(vaults: Sequence[VaultWork]) -> Counter[MappingResult]:
    """How many settled mappings ended with each result."""
    results: Counter[MappingResult] = Counter()
    for vault in vaults:
        for mapping in vault.mappings:
            assert mapping.result is not None, "settle() every record before counting"
            results[mapping.result] += 1
    return results


@dataclass(frozen=True, slots=True)
class RunReport:
    """A finished run's report in two parts, so it is written one vault at a time.

    ``head`` is the report but its vaults: ``vaults`` is empty, ``totals`` were counted from the
    settled records. Each vault's models are built from its record only when it is written.
    """

    head: Report
    records: Sequence[VaultWork] = field(repr=False)

    @property
    def exit_code(self) -> int:
        return self.head.exit_code

    def vaults(self) -> Iterator[VaultReport]:
        return (vault.to_report() for vault in self.records)

    def whole(self) -> Report:
        """The report as one model, every vault in it: costly for a large run."""
        return self.head.model_copy(update={"vaults": list(self.vaults())})

    def write(self, path: str | os.PathLike[str] | None, *, stdout: TextIO) -> None:
        """:func:`write_report`, vault by vault: atomically to ``path``, or to ``stdout``."""
        write_report(self.head, path, stdout=stdout, vaults=self.vaults())
