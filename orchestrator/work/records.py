"""Where each vault and mapping stands during a run: the run's state, updated in place.

Whatever ends the run (completion, the deadline, an interrupt), the records say exactly where
everything stands: :meth:`VaultWork.settle` gives every unfinished mapping its final result from
the stage it reached. Records do no I/O and know nothing of the report's shape: the report is
made from them (:mod:`orchestrator.output.assemble`). A run keeps one record per mapping until
its end, so a finished record holds only what the report needs.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from orchestrator.asr.agents import AgentRecord
from orchestrator.asr.desired import DesiredSettings
from orchestrator.asr.mapping import MappingSettings, MappingSnapshot
from orchestrator.asr.rules import SkipReason
from orchestrator.asr.targets import VaultTarget
from orchestrator.work.outcomes import (
    ErrorInfo,
    ListedVia,
    MappingResult,
    VaultStatus,
)


class Stage(StrEnum):
    LISTED = "listed"  # read; nothing decided yet
    QUEUED = "queued"  # needs a PATCH, not sent yet
    PATCHING = "patching"  # its PATCH waits for its turn (limiter, token): not sent yet
    SENT = "sent"  # its PATCH left, or is being retried: ASR may have it
    RUNNING = "running"  # accepted; the operation is being tracked
    DONE = "done"  # has its final result


class Ending(StrEnum):
    """Why a run stopped before every mapping was done."""

    DEADLINE = "deadline"
    INTERRUPT = "interrupt"


@dataclass(slots=True, eq=False)
class MappingWork:
    """One listed mapping: what it was, what was done to it, how that ended.

    Once done it keeps only what the report needs: the PATCH body goes once sent.
    """

    id: str
    name: str
    subscription_id: str
    vault_name: str
    before: MappingSettings
    stage: Stage = Stage.LISTED
    body: dict[str, object] | None = field(default=None, repr=False)
    desired: DesiredSettings | None = None
    after: MappingSettings | None = None
    result: MappingResult | None = None
    skip_reason: SkipReason | None = None
    operation_url: str | None = None
    status: str | None = None
    error: ErrorInfo | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    polls: int = 0
    vault: VaultWork | None = field(default=None, repr=False)

    @classmethod
    def listed(cls, snapshot: MappingSnapshot, vault: VaultWork) -> MappingWork:
        return cls(
            id=snapshot.id,
            name=snapshot.name,
            subscription_id=vault.target.vault.subscription_id,
            vault_name=vault.target.vault.name,
            before=snapshot.settings(),
            vault=vault,
        )

    @property
    def log_context(self) -> dict[str, str]:
        return {"vault": self.vault_name, "subscription_id": self.subscription_id}

    @property
    def error_code(self) -> str | None:
        return self.error.code if self.error else None

    @property
    def ended(self) -> bool:
        return self.stage is Stage.DONE

    def queue(self, body: dict[str, object], desired: DesiredSettings) -> None:
        self.body = body
        self.desired = desired
        self.stage = Stage.QUEUED

    def run(self, url: str) -> None:
        """ASR accepted the change: its operation at ``url`` is tracked from now."""
        self.operation_url = url
        self.status = "InProgress"
        self.stage = Stage.RUNNING

    def read(self, status: str | None) -> None:
        """One more read of the operation's status (``status``: ASR's word, if it gave one)."""
        self.polls += 1
        if status:
            self.status = sys.intern(status)

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
        self.body = None
        if self.started_at is not None:
            self.finished_at = datetime.now(UTC)
        self.stage = Stage.DONE

    def settle(self, ending: Ending) -> None:
        """Give an unfinished mapping its final result from the stage it reached."""
        if self.stage is Stage.DONE:
            return
        if self.stage in (Stage.LISTED, Stage.QUEUED, Stage.PATCHING):
            self.started_at = None  # nothing was sent: there is no change to speak of
            self.finish(MappingResult.NOT_STARTED)
            return
        result = (
            MappingResult.INTERRUPTED if ending is Ending.INTERRUPT else MappingResult.TIMED_OUT
        )
        unanswered = self.error  # what the run knew of it (e.g. a 409 it was waiting out)
        if unanswered is None and self.stage is Stage.SENT and self.operation_url is None:
            # No operation URL to name: say why, and that the change may or may not be under way.
            unanswered = ErrorInfo(
                code="patch_unanswered",
                message=f"the run ended ({ending}) while this mapping's PATCH was being sent "
                "or retried; whether ASR accepted it is unknown",
            )
        self.finish(result, error=unanswered)
        self.finished_at = None  # the operation did not finish: only its start is known


@dataclass(slots=True, eq=False)
class VaultWork:
    """One targeted vault: its listing's status and its mappings' records."""

    target: VaultTarget
    status: VaultStatus = VaultStatus.OK
    error: ErrorInfo | None = None
    listed: bool = False  # the whole listing was read (or failed for good)
    listed_via: ListedVia | None = None
    mappings: list[MappingWork] = field(default_factory=list)
    agents: list[AgentRecord] | None = None  # audit: its replicated items' agents
    verified: bool = False  # its changed mappings were read back (or that was given up)
    # Lower-cased ids of the mappings listed so far, to drop a mapping a page repeats; only
    # listing needs them, so end_listing() lets them go.
    _ids: set[str] | None = field(default_factory=set, repr=False)

    @property
    def vault_id(self) -> str:
        return self.target.vault.arm_id

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

    def changes_open(self) -> bool:
        """Whether a change of this vault has not ended yet (queued, sent or running)."""
        return any(m.desired is not None and not m.ended for m in self.mappings)

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


def count_results(vaults: Iterable[VaultWork]) -> Counter[MappingResult]:
    """How many settled mappings ended with each result."""
    results: Counter[MappingResult] = Counter()
    for vault in vaults:
        for mapping in vault.mappings:
            assert mapping.result is not None, "settle() every record before counting"
            results[mapping.result] += 1
    return results
