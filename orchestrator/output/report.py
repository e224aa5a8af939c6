"""The JSON report a run leaves behind: its models, totals and exit code.

The models serialise to exactly DESIGN.md's structure, keys in DESIGN's order (the second
release's keys added), and also generate the report's JSON Schema (hence a description on every
field). Datetimes must be timezone-aware; they are stored in UTC and rendered ISO-8601 with
``Z``. Models are frozen. Making a report from a run's records is
:mod:`orchestrator.output.assemble`'s business; rendering, writing and reading its file,
:mod:`orchestrator.output.report_file`'s.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Final, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    field_serializer,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

from orchestrator.asr.agents import AgentState
from orchestrator.asr.desired import Action, DesiredSettings
from orchestrator.asr.mapping import MappingSettings
from orchestrator.asr.rules import SkipReason
from orchestrator.work.outcomes import (
    FAILING_RESULTS,
    ErrorInfo,
    ListedVia,
    MappingResult,
    Notice,
    SubscriptionStatus,
    VaultStatus,
)

REPORT_SCHEMA: Final = "asr-autoupdate/report/v1"


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    INTERRUPTED = "interrupted"
    INVALID = "invalid"
    UNAUTHENTICATED = "unauthenticated"


class Command(StrEnum):
    VALIDATE = "validate"
    PLAN = "plan"
    APPLY = "apply"
    AUDIT = "audit"


class ExitCode(IntEnum):
    """DESIGN's exit codes. Each but LOCK_HELD names an :class:`Outcome` of the same name."""

    SUCCEEDED = 0
    FAILED = 1
    INVALID = 2
    TIMED_OUT = 3
    UNAUTHENTICATED = 4
    LOCK_HELD = 5  # nothing was done, so no report is written
    INTERRUPTED = 130


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]


def _drop_default(schema: JsonDict) -> None:
    """The key is left out rather than null, so a default of null would mislead schema readers."""
    schema.pop("default", None)


def _omitted_when_none(description: str) -> Any:
    """A field left out of the JSON (not null) when it does not apply."""
    return Field(
        default=None,
        description=description,
        json_schema_extra=_drop_default,
        exclude_if=lambda value: value is None,
    )


def _require_schema_key(schema: JsonDict) -> None:
    """``schema`` has a default for callers' ease, but every report carries it."""
    required = schema.setdefault("required", [])
    if isinstance(required, list) and "schema" not in required:
        required.insert(0, "schema")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class OperationReport(_Model):
    """The PATCH sent to a mapping and the long-running operation it started.

    A PATCH that ARM refused, or that was never sent for a reason (``no_automation_account``,
    ``untrusted_url``, ``automation_account_not_found``…), is an operation with ``url`` null and
    the ``error``.
    """

    url: str | None = Field(description="The URL polled for the operation's status, if any.")
    status: str | None = Field(description="The operation's last status as ASR reported it.")
    polls: NonNegativeInt = Field(description="How many times the status was read.")
    started_at: UtcDatetime | None = Field(description="When the PATCH was sent (UTC).")
    finished_at: UtcDatetime | None = Field(description="When the operation ended (UTC).")
    error: ErrorInfo | None = Field(description="Why the operation failed, if it did.")


class MappingReport(_Model):
    """One listed mapping and how it ended; every listed mapping appears exactly once."""

    id: str = Field(description="The mapping's ARM id.")
    result: MappingResult = Field(description="How the mapping ended.")
    skip_reason: SkipReason | None = Field(description="Why it was skipped; set only if skipped.")
    before: MappingSettings | None = Field(description="Its settings before the run.")
    desired: DesiredSettings | None = Field(
        default=None, description="What the run set out to give it (changed or would change)."
    )
    after: MappingSettings | None = Field(
        default=None,
        description="Its settings as read back once its change ended (`verify`), else null.",
    )
    operation: OperationReport | None = Field(description="The change made, if one was tried.")

    @model_validator(mode="after")
    def _skip_reason_only_when_skipped(self) -> Self:
        if (self.result is MappingResult.SKIPPED) != (self.skip_reason is not None):
            raise ValueError("skip_reason must be set exactly when result is skipped")
        return self


class ProtectedItemReport(_Model):
    """One replicated item and the currency of its Mobility agent (`audit`)."""

    id: str = Field(description="The replicated item's ARM id.")
    name: str = Field(description="Its name.")
    agent_version: str | None = Field(description="The Mobility agent's version.")
    agent_state: AgentState = Field(
        description="current, update_required, expiring, expired or unknown."
    )
    agent_expiry: UtcDatetime | None = Field(description="When the agent expires (UTC).")
    certificate_expiry: UtcDatetime | None = Field(
        description="When the agent's certificate expires (UTC)."
    )
    last_heartbeat: UtcDatetime | None = Field(description="The agent's last heartbeat (UTC).")


class VaultReport(_Model):
    """One targeted vault: its mappings, or why they could not be listed."""

    id: str = Field(description="The vault's ARM id.")
    subscription_id: str = Field(description="The subscription the vault is in.")
    status: VaultStatus = Field(description="`error` when the vault could not be listed.")
    error: ErrorInfo | None = Field(description="Why the vault could not be listed.")
    listed_via: ListedVia | None = Field(
        default=None,
        description="`vault`: the vault-level list; `containers`: container by container, "
        "because the vault-level list was refused. Null if it was never listed.",
    )
    mappings: list[MappingReport] = Field(description="Every mapping listed in the vault.")
    protected_items: list[ProtectedItemReport] | SkipJsonSchema[None] = _omitted_when_none(
        "audit only: every A2A replicated item of the vault and its agent's state."
    )

    @model_validator(mode="after")
    def _error_only_on_error(self) -> Self:
        if (self.status is VaultStatus.ERROR) != (self.error is not None):
            raise ValueError("error must be set exactly when status is error")
        return self


class SubscriptionReport(_Model):
    """One subscription searched for vaults (discovery only)."""

    id: str = Field(description="The subscription id.")
    status: SubscriptionStatus = Field(
        description="`error`: its vaults could not be listed; `skipped`: it is not `Enabled`."
    )
    state: str | None = Field(
        default=None, description="Its state as ARM says (`Enabled`, `Disabled`, …), if read."
    )
    error: ErrorInfo | None = Field(description="Why its vaults could not be listed.")
    vaults_found: NonNegativeInt = Field(
        description="How many vaults discovery found in it, before resource_groups and exclude."
    )

    @model_validator(mode="after")
    def _error_only_on_error(self) -> Self:
        if (self.status is SubscriptionStatus.ERROR) != (self.error is not None):
            raise ValueError("error must be set exactly when status is error")
        return self


class AgentTotals(_Model):
    """Replicated items' agents by state (`audit`)."""

    current: NonNegativeInt = Field(description="Agents up to date.")
    update_required: NonNegativeInt = Field(description="Agents (or certificates) to update.")
    expiring: NonNegativeInt = Field(description="Agents or certificates expiring soon.")
    expired: NonNegativeInt = Field(description="Agents or certificates expired.")
    unknown: NonNegativeInt = Field(description="Agents whose details ASR did not give.")


class Totals(_Model):
    """Counts derived from ``vaults``; ``mappings`` is the sum of the per-result counts."""

    vaults: NonNegativeInt = Field(description="Vaults targeted.")
    vaults_failed: NonNegativeInt = Field(description="Vaults that could not be listed.")
    mappings: NonNegativeInt = Field(description="Mappings listed.")
    changed: NonNegativeInt = Field(description="Mappings that needed a change (not skipped).")
    succeeded: NonNegativeInt = Field(description="Mappings whose change succeeded.")
    failed: NonNegativeInt = Field(description="Mappings whose change failed.")
    skipped: NonNegativeInt = Field(description="Mappings left alone.")
    timed_out: NonNegativeInt = Field(description="Operations still running at the deadline.")
    not_started: NonNegativeInt = Field(description="Changes never sent (deadline, stop, cap).")
    would_change: NonNegativeInt = Field(description="plan: mappings apply would change.")
    interrupted: NonNegativeInt = Field(description="Operations still running when stopped.")
    unhealthy: NonNegativeInt = Field(
        default=0, description="Changes that succeeded, after which ASR showed health errors."
    )
    agents: AgentTotals | SkipJsonSchema[None] = _omitted_when_none(
        "audit only: replicated items' agents by state."
    )


class Calls(_Model):
    """The ARM requests the run made."""

    get: NonNegativeInt = Field(description="GET requests sent (lists, polls, discovery).")
    set: NonNegativeInt = Field(description="PATCH requests sent.")
    throttled: NonNegativeInt = Field(description="Answers that were 429.")
    retried: NonNegativeInt = Field(description="Requests sent again after a retryable failure.")


NO_CALLS: Final = Calls(get=0, set=0, throttled=0, retried=0)


class ConfigIdentity(_Model):
    """Which config file the run read."""

    path: str = Field(description="The config file's path, as given.")
    sha256: str = Field(description="The SHA-256 of the file's bytes, hex.")


class Report(_Model):
    """The report of one `validate`, `plan`, `apply` or `audit` run (DESIGN.md, "The JSON report")."""

    model_config = ConfigDict(json_schema_extra=_require_schema_key)

    schema_: Literal["asr-autoupdate/report/v1"] = Field(
        default=REPORT_SCHEMA, alias="schema", description="The report format and version."
    )
    tool_version: str = Field(default="", description="The asr-autoupdate version that wrote it.")
    run_id: str = Field(description="Unique id of this run; also on every log line.")
    command: Command = Field(description="The command that wrote the report.")
    action: Action | None = Field(description="The config's action; null if it was not read.")
    config: ConfigIdentity | None = Field(
        default=None, description="The config file read; null if it could not be read."
    )
    started_at: UtcDatetime = Field(description="When the run started (UTC).")
    finished_at: UtcDatetime = Field(description="When the run finished (UTC).")
    duration_s: NonNegativeFloat = Field(
        description="Wall-clock seconds the run took.", json_schema_extra={"minimum": 0}
    )
    outcome: Outcome = Field(description="The run's outcome; matches exit_code.")
    exit_code: int = Field(
        description="The process exit code: 0, 1, 2, 3, 4 or 130 (see DESIGN.md).",
        json_schema_extra={"enum": [0, 1, 2, 3, 4, 130]},
    )
    error: ErrorInfo | None = Field(
        default=None,
        description="Why the run as a whole ended as it did (`invalid_config`, "
        "`authentication_failed`, `deadline_passed`, `interrupted`, `no_targets`, …), or null.",
    )
    warnings: list[Notice] = Field(
        default_factory=list,
        description="What a person should know (`filter_matched_nothing`, "
        "`subscription_not_enabled`, `max_changes_reached`, …).",
    )
    totals: Totals = Field(description="Counts derived from vaults.")
    calls: Calls = Field(description="ARM requests made.")
    vaults: list[VaultReport] = Field(description="Every targeted vault.")
    subscriptions: list[SubscriptionReport] | SkipJsonSchema[None] = _omitted_when_none(
        "Present only when vaults were discovered: each subscription searched."
    )

    @field_serializer("duration_s")
    def _milliseconds(self, value: float) -> float:
        return round(value, 3)

    @model_validator(mode="after")
    def _outcome_matches_exit_code(self) -> Self:
        if outcome_for(self.exit_code) is not self.outcome:
            raise ValueError(f"outcome {self.outcome} does not match exit_code {self.exit_code}")
        return self


def count_totals(
    results: Counter[MappingResult],
    *,
    vaults: int,
    vaults_failed: int,
    agents: Counter[AgentState] | None = None,
) -> Totals:
    """The totals of mappings ending with ``results`` in ``vaults`` vaults.

    ``mappings`` equals the sum of the eight result counts; ``changed`` is what apply set out
    to change: ``mappings - skipped - would_change``. ``agents`` only for an audit.
    """
    mappings = results.total()
    return Totals(
        vaults=vaults,
        vaults_failed=vaults_failed,
        mappings=mappings,
        changed=mappings - results[MappingResult.SKIPPED] - results[MappingResult.WOULD_CHANGE],
        succeeded=results[MappingResult.SUCCEEDED],
        failed=results[MappingResult.FAILED],
        skipped=results[MappingResult.SKIPPED],
        timed_out=results[MappingResult.TIMED_OUT],
        not_started=results[MappingResult.NOT_STARTED],
        would_change=results[MappingResult.WOULD_CHANGE],
        interrupted=results[MappingResult.INTERRUPTED],
        unhealthy=results[MappingResult.UNHEALTHY],
        agents=None if agents is None else AgentTotals(**{s.value: agents[s] for s in AgentState}),
    )


@dataclass(frozen=True, slots=True)
class RunFlags:
    """What went wrong in a run; :func:`exit_code_for` picks the code. Combine with ``|``."""

    unauthenticated: bool = False
    interrupted: bool = False
    failed: bool = False
    timed_out: bool = False

    def __or__(self, other: RunFlags) -> RunFlags:
        return RunFlags(
            **{f.name: getattr(self, f.name) or getattr(other, f.name) for f in fields(self)}
        )


def exit_code_for(flags: RunFlags) -> ExitCode:
    """The exit code of a run that got going (2 and 5 are decided before it does).

    When several flags are set, DESIGN's order wins: 4, 130, 1, 3 — a failure outranks a
    timeout, so a check alerting on 1 never misses one.
    """
    precedence = (
        (flags.unauthenticated, ExitCode.UNAUTHENTICATED),
        (flags.interrupted, ExitCode.INTERRUPTED),
        (flags.failed, ExitCode.FAILED),
        (flags.timed_out, ExitCode.TIMED_OUT),
    )
    return next((code for flag, code in precedence if flag), ExitCode.SUCCEEDED)


def outcome_for(exit_code: int) -> Outcome:
    """The report's ``outcome`` for an exit code; ValueError for 5 (no report) or unknown codes."""
    # Each Outcome is named after its ExitCode; LOCK_HELD alone has no Outcome.
    try:
        return Outcome[ExitCode(exit_code).name]
    except (ValueError, KeyError):
        raise ValueError(f"exit code {exit_code} has no report outcome") from None


def flags_from_totals(totals: Totals) -> RunFlags:
    """The flags the totals imply: failed, timed_out, interrupted. The caller adds the rest."""
    failing = sum(getattr(totals, result.value) for result in FAILING_RESULTS)
    expired = totals.agents is not None and totals.agents.expired > 0
    return RunFlags(
        failed=failing > 0 or totals.vaults_failed > 0 or expired,
        timed_out=totals.timed_out > 0,
        interrupted=totals.interrupted > 0,
    )
