"""What in a saved report needs a person, and how the views name it.

Failing mappings, vaults and subscriptions in error, stale agents, what to do about each; and
the names, times and durations as a person reads them. The terminal view
(:mod:`orchestrator.output.show`) and the HTML page (:mod:`orchestrator.output.html`) both read
a report through these, so they agree on what is a problem, how it is named and what to do
about it. Pure functions over the report's models; every list keeps the report's order (vault
by vault).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Final

from orchestrator.asr.agents import AgentState
from orchestrator.asr.mapping import HealthError
from orchestrator.output.report import (
    MappingReport,
    ProtectedItemReport,
    Report,
    SubscriptionReport,
    VaultReport,
)
from orchestrator.work.outcomes import ErrorInfo, MappingResult, SubscriptionStatus, VaultStatus

# Mappings a person must look at, in the order they are listed: the run failed them, ASR says
# the change does not work, or their operation may still be running.
ATTENTION_RESULTS: Final = (
    MappingResult.FAILED,
    MappingResult.UNHEALTHY,
    MappingResult.TIMED_OUT,
    MappingResult.INTERRUPTED,
)
# Agents a person must act on, worst first; then every agent that is not current, which adds
# the ones ASR told nothing about.
AGENT_ACTION_STATES: Final = (AgentState.EXPIRED, AgentState.EXPIRING, AgentState.UPDATE_REQUIRED)
NOT_CURRENT_STATES: Final = (*AGENT_ACTION_STATES, AgentState.UNKNOWN)

_RESUME: Final = "Track it to its end: asr-autoupdate apply CONFIG --resume REPORT."
# What to do about the error codes DESIGN.md documents; ASR's own codes pass through unexplained
# except the one every operator meets first.
_HINTS: Final[dict[str, str]] = {
    "automation_account_not_found": "Create the Automation account, or fix automation_account "
    "in the config.",
    "automation_account_identity_missing": "Turn on the Automation account's system-assigned "
    "identity, or choose an account that has one.",
    "authorizationfailed": "Grant the tool's identity a role that allows this on the vault "
    "(e.g. Site Recovery Contributor).",
    "untrusted_url": "The server named a URL outside the ARM endpoint; nothing was sent there. "
    "Check arm_endpoint and any proxy.",
    "operation_not_found": "ASR lost the operation: run plan to see the mapping as it is now.",
    "too_many_pages": "The listing did not end; raise max_pages_per_vault if the vault is that "
    "large.",
    "redirect_not_followed": "ARM answered with a redirect, which is never followed; check "
    "arm_endpoint.",
    "deadline_passed": "Operations were still running: " + _RESUME,
    "interrupted": "Operations may still be running: " + _RESUME,
}
_RESULT_HINTS: Final = {
    MappingResult.TIMED_OUT: _RESUME,
    MappingResult.INTERRUPTED: _RESUME,
    MappingResult.UNHEALTHY: "Check that the Automation account's identity has rights on the "
    "vault (typically Contributor).",
}
_AGENT_HINTS: Final = {
    AgentState.EXPIRED: "Update the Mobility agent now: an expired agent no longer replicates.",
    AgentState.EXPIRING: "Update the Mobility agent (or its certificate) before it expires.",
    AgentState.UPDATE_REQUIRED: "Update the Mobility agent or its certificate; auto-update "
    "does it when it works.",
    AgentState.UNKNOWN: "ASR gave no agent details: look at the item in the portal.",
}


@dataclass(frozen=True, slots=True)
class MappingIssue:
    """A mapping that needs attention, with where it is and what went wrong."""

    vault: VaultReport
    mapping: MappingReport

    @property
    def name(self) -> str:
        return resource_name(self.mapping.id)

    @property
    def error(self) -> ErrorInfo | None:
        """Why its change failed, as the report says."""
        operation = self.mapping.operation
        return operation.error if operation is not None else None

    @property
    def note(self) -> str | None:
        """For an operation left running (timed out, interrupted): where it was last seen."""
        if self.mapping.result not in (MappingResult.TIMED_OUT, MappingResult.INTERRUPTED):
            return None
        operation = self.mapping.operation
        if operation is None or operation.url is None:
            return "still running when the run ended"
        status = f"last status {operation.status}" if operation.status else "no status read"
        return f"still running when the run ended ({status}, {operation.polls} reads)"

    @property
    def health(self) -> tuple[HealthError, ...]:
        """ASR's health errors once the change ended (unhealthy mappings)."""
        after = self.mapping.after
        return after.health_error_details if after is not None else ()

    @property
    def cause(self) -> str:
        """What the hint is keyed on: the error's code, else the result."""
        error = self.error
        return error.code if error is not None else self.mapping.result.value

    @property
    def hint(self) -> str | None:
        """What to do, when the error's code or the result says; ASR's own recommended action,
        for an unhealthy mapping, is in :attr:`health` instead."""
        error = self.error
        known = hint_for(error.code) if error is not None else None
        if known is None and any(h.recommended_action for h in self.health):
            return None
        return known or _RESULT_HINTS.get(self.mapping.result)


@dataclass(frozen=True, slots=True)
class Hint:
    """One thing to do, and the causes (error codes or results) it answers, with how many."""

    text: str
    causes: tuple[tuple[str, int], ...]

    @property
    def count(self) -> int:
        return sum(n for _, n in self.causes)


def hints(causes_and_hints: Iterable[tuple[str, str | None]]) -> list[Hint]:
    """Each distinct hint once, with the causes it answers; most frequent first.

    Repeating one hint under each of hundreds of failures helps nobody: the views list each
    failure with its error, then these once.
    """
    counts: dict[str, Counter[str]] = {}
    for cause, hint in causes_and_hints:
        if hint:
            counts.setdefault(hint, Counter())[cause] += 1
    found = [Hint(text, tuple(causes.most_common())) for text, causes in counts.items()]
    return sorted(found, key=lambda hint: -hint.count)


@dataclass(frozen=True, slots=True)
class AgentIssue:
    """A replicated item whose Mobility agent is not current."""

    vault: VaultReport
    item: ProtectedItemReport

    @property
    def hint(self) -> str:
        return _AGENT_HINTS.get(self.item.agent_state, "")


def resource_name(arm_id: str) -> str:
    """The last segment of an ARM id: the resource's own name."""
    return arm_id.rstrip("/").rsplit("/", 1)[-1]


def resource_group(arm_id: str) -> str | None:
    """The resource group named in an ARM id, if it names one (keys match in any case)."""
    parts = arm_id.strip("/").split("/")
    for key, value in pairwise(parts):
        if key.casefold() == "resourcegroups":
            return value
    return None


def hint_for(code: str) -> str | None:
    """What to do about an error ``code``, when this tool knows; codes match in any case."""
    return _HINTS.get(code.casefold())


def mapping_issues(report: Report) -> Iterator[MappingIssue]:
    """Every mapping ended failed, unhealthy, timed out or interrupted, vault by vault."""
    for vault in report.vaults:
        for mapping in vault.mappings:
            if mapping.result in ATTENTION_RESULTS:
                yield MappingIssue(vault, mapping)


def vaults_in_error(report: Report) -> list[VaultReport]:
    """The vaults whose mappings could not be listed."""
    return [vault for vault in report.vaults if vault.status is VaultStatus.ERROR]


def subscriptions_not_searched(report: Report) -> list[SubscriptionReport]:
    """Discovery's subscriptions that were in error or skipped (not ``Enabled``)."""
    return [sub for sub in report.subscriptions or [] if sub.status is not SubscriptionStatus.OK]


def agent_issues(report: Report, states: tuple[AgentState, ...]) -> Iterator[AgentIssue]:
    """The replicated items whose agent is in one of ``states`` (audit), vault by vault."""
    for vault in report.vaults:
        for item in vault.protected_items or []:
            if item.agent_state in states:
                yield AgentIssue(vault, item)


def utc_words(moment: datetime) -> str:
    """``2026-11-25 01:00:00 UTC`` (report times are UTC)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration_words(seconds: float) -> str:
    """``4.2s``, ``12m 34s`` or ``2h 03m 12s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"
