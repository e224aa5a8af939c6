"""How a run ended, in the report's words: its head (everything but the vaults) and exit code.

The exit code follows DESIGN's order for what a run that got going can meet — 4, 130, 1, 3 (2
and 5 are decided before a run gets going) — and the report's ``error`` says why the run as a
whole ended as it did, when one thing does.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from orchestrator import __version__
from orchestrator.asr.agents import AgentState
from orchestrator.asr.desired import Action
from orchestrator.output.report import (
    NO_CALLS,
    Calls,
    Command,
    ConfigIdentity,
    ExitCode,
    Report,
    RunFlags,
    SubscriptionReport,
    count_totals,
    exit_code_for,
    flags_from_totals,
    outcome_for,
)
from orchestrator.work.discovery import SubscriptionFound
from orchestrator.work.outcomes import ErrorInfo, Notice, SubscriptionStatus, VaultStatus
from orchestrator.work.records import Ending, VaultWork, count_results


class Stop(StrEnum):
    """Why a run ended before its work did, beyond the deadline and an interrupt."""

    UNAUTHENTICATED = "unauthenticated"
    NO_TARGETS = "no_targets"


@dataclass(slots=True)
class RunEnd:
    """What a run met, gathered as it went; the head is made from it however it ended."""

    command: Command
    action: Action | None
    config: ConfigIdentity | None
    run_id: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_clock: float = field(default_factory=time.monotonic)
    ending: Ending | None = None
    stop: Stop | None = None
    stop_detail: str = ""
    signal: str | None = None
    calls: Calls = NO_CALLS
    subscriptions: list[SubscriptionFound] | None = None
    notices: list[Notice] = field(default_factory=list)

    def notice(self, notice: Notice) -> None:
        """Add a warning, once."""
        if notice not in self.notices:
            self.notices.append(notice)


def build_head(
    end: RunEnd, vaults: Sequence[VaultWork], *, extra_failure: ErrorInfo | None = None
) -> Report:
    """The report's head for settled ``vaults``: totals counted, exit code and error decided.

    ``extra_failure``: a failure outside the records (the report file could not be written).
    """
    agents = _agents(vaults) if end.command is Command.AUDIT else None
    totals = count_totals(
        count_results(vaults),
        vaults=len(vaults),
        vaults_failed=sum(vault.status is VaultStatus.ERROR for vault in vaults),
        agents=agents,
    )
    subscription_failed = any(s.status is SubscriptionStatus.ERROR for s in end.subscriptions or [])
    flags = flags_from_totals(totals) | RunFlags(
        unauthenticated=end.stop is Stop.UNAUTHENTICATED,
        interrupted=end.ending is Ending.INTERRUPT,
        timed_out=end.ending is Ending.DEADLINE,
        failed=subscription_failed or end.stop is Stop.NO_TARGETS or extra_failure is not None,
    )
    exit_code = exit_code_for(flags)
    return Report(
        tool_version=__version__,
        run_id=end.run_id,
        command=end.command,
        action=end.action,
        config=end.config,
        started_at=end.started_at,
        finished_at=datetime.now(UTC),
        duration_s=time.monotonic() - end.started_clock,
        outcome=outcome_for(exit_code),
        exit_code=int(exit_code),
        error=extra_failure or _error(end, exit_code),
        warnings=list(end.notices),
        totals=totals,
        calls=end.calls,
        vaults=[],
        subscriptions=None
        if end.subscriptions is None
        else [_subscription(s) for s in end.subscriptions],
    )


def _error(end: RunEnd, exit_code: ExitCode) -> ErrorInfo | None:
    if end.stop is Stop.UNAUTHENTICATED:
        return ErrorInfo(code="authentication_failed", message=end.stop_detail)
    if end.ending is Ending.INTERRUPT:
        return ErrorInfo(
            code="interrupted",
            message=f"stopped by {end.signal or 'a signal'}; the report shows where each change stood",
        )
    if end.stop is Stop.NO_TARGETS:
        return ErrorInfo(code="no_targets", message=end.stop_detail)
    if end.ending is Ending.DEADLINE:
        return ErrorInfo(
            code="deadline_passed",
            message="the run's deadline (timeout_minutes) passed with work still in progress",
        )
    return None


def _agents(vaults: Iterable[VaultWork]) -> Counter[AgentState]:
    counts: Counter[AgentState] = Counter()
    for vault in vaults:
        for agent in vault.agents or ():
            counts[agent.state] += 1
    return counts


def _subscription(found: SubscriptionFound) -> SubscriptionReport:
    return SubscriptionReport(
        id=found.id,
        status=found.status,
        state=found.state,
        error=found.error,
        vaults_found=found.vaults_found,
    )
