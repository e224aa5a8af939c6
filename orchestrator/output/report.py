"""The JSON report a run leaves behind: its models, totals and exit code.

The models serialise to exactly DESIGN.md's structure, keys in DESIGN's order, and also generate
the report's JSON Schema (hence a description on every field). Datetimes must be timezone-aware;
they are stored in UTC and rendered ISO-8601 with ``Z``. Models are frozen: build a report once,
at the end, or use ``model_copy(update=…)``. Rendering, writing and reading the report's file
live in :mod:`orchestrator.output.report_file`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Annotated, Final, Literal, Self

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

from orchestrator.asr.desired import Action
from orchestrator.asr.rules import MappingSnapshot, SkipReason
from orchestrator.errors import ArmError

REPORT_SCHEMA: Final = "asr-autoupdate/report/v1"


class MappingResult(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    TIMED_OUT = "timed_out"
    NOT_STARTED = "not_started"
    WOULD_CHANGE = "would_change"  # plan only: apply would PATCH it
    INTERRUPTED = "interrupted"  # its operation was still running when the run was stopped


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    INTERRUPTED = "interrupted"
    INVALID = "invalid"
    UNAUTHENTICATED = "unauthenticated"


class VaultStatus(StrEnum):
    """Whether a vault (or a subscription, in discovery) could be read at all."""

    OK = "ok"
    ERROR = "error"


class Command(StrEnum):
    VALIDATE = "validate"
    PLAN = "plan"
    APPLY = "apply"


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


def _require_schema_key(schema: JsonDict) -> None:
    """``schema`` has a default for callers' ease, but every report carries it."""
    required = schema.setdefault("required", [])
    if isinstance(required, list) and "schema" not in required:
        required.insert(0, "schema")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErrorInfo(_Model):
    """Why a vault, a subscription or a mapping's operation failed."""

    code: str = Field(description="A short machine-readable code, e.g. `untrusted_url`.")
    message: str = Field(description="What went wrong, for a person.")

    @classmethod
    def from_error(cls, error: ArmError) -> Self:
        return cls(code=error.code, message=error.message)


class MappingBefore(_Model):
    """The mapping's settings as listed, before the run touched it (values as ARM sent them)."""

    agent_auto_update_status: str | None = Field(description="`Enabled`, `Disabled` or absent.")
    automation_account_arm_id: str | None = Field(description="The Automation account's ARM id.")
    authentication_type: str | None = Field(
        description="`SystemAssignedIdentity`, `RunAsAccount` or absent."
    )
    health_errors: NonNegativeInt = Field(description="How many `healthErrorDetails` it had.")
    state: str | None = Field(description="The mapping's state, e.g. `Paired`.")

    @classmethod
    def from_snapshot(cls, snapshot: MappingSnapshot) -> Self:
        return cls(
            agent_auto_update_status=snapshot.agent_auto_update_status,
            automation_account_arm_id=snapshot.automation_account_arm_id,
            authentication_type=snapshot.authentication_type,
            health_errors=snapshot.health_errors,
            state=snapshot.state,
        )


class OperationReport(_Model):
    """The PATCH sent to a mapping and the long-running operation it started.

    A PATCH that ARM refused, or that was never sent for a reason (``no_automation_account``,
    ``untrusted_url``), is an operation with ``url`` null and the ``error``.
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
    before: MappingBefore | None = Field(description="Its settings before the run.")
    operation: OperationReport | None = Field(description="The change made, if one was tried.")

    @model_validator(mode="after")
    def _skip_reason_only_when_skipped(self) -> Self:
        if (self.result is MappingResult.SKIPPED) != (self.skip_reason is not None):
            raise ValueError("skip_reason must be set exactly when result is skipped")
        return self


class VaultReport(_Model):
    """One targeted vault: its mappings, or why they could not be listed."""

    id: str = Field(description="The vault's ARM id.")
    subscription_id: str = Field(description="The subscription the vault is in.")
    status: VaultStatus = Field(description="`error` when the vault could not be listed.")
    error: ErrorInfo | None = Field(description="Why the vault could not be listed.")
    mappings: list[MappingReport] = Field(description="Every mapping listed in the vault.")

    @model_validator(mode="after")
    def _error_only_on_error(self) -> Self:
        _check_status_error(self.status, self.error)
        return self


class SubscriptionReport(_Model):
    """One subscription searched for vaults (discovery only)."""

    id: str = Field(description="The subscription id.")
    status: VaultStatus = Field(description="`error` when its vaults could not be listed.")
    error: ErrorInfo | None = Field(description="Why its vaults could not be listed.")
    vaults_found: NonNegativeInt = Field(
        description="How many vaults discovery found in it, before resource_groups and exclude."
    )

    @model_validator(mode="after")
    def _error_only_on_error(self) -> Self:
        _check_status_error(self.status, self.error)
        return self


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
    not_started: NonNegativeInt = Field(description="Changes never sent (deadline or stop).")
    would_change: NonNegativeInt = Field(description="plan: mappings apply would change.")
    interrupted: NonNegativeInt = Field(description="Operations still running when stopped.")


class Calls(_Model):
    """The ARM requests the run made."""

    get: NonNegativeInt = Field(description="GET requests sent (lists, polls, discovery).")
    set: NonNegativeInt = Field(description="PATCH requests sent.")
    throttled: NonNegativeInt = Field(description="Answers that were 429.")
    retried: NonNegativeInt = Field(description="Requests sent again after a retryable failure.")


class Report(_Model):
    """The report of one `plan` or `apply` run (DESIGN.md, "The JSON report")."""

    model_config = ConfigDict(json_schema_extra=_require_schema_key)

    schema_: Literal["asr-autoupdate/report/v1"] = Field(
        default=REPORT_SCHEMA, alias="schema", description="The report format and version."
    )
    run_id: str = Field(description="Unique id of this run; also on every log line.")
    command: Command = Field(description="The command that wrote the report.")
    action: Action | None = Field(description="The config's action; null if it was not read.")
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
    totals: Totals = Field(description="Counts derived from vaults.")
    calls: Calls = Field(description="ARM requests made.")
    vaults: list[VaultReport] = Field(description="Every targeted vault.")
    # Omitted from the JSON (not null) when discovery did not run.
    subscriptions: list[SubscriptionReport] | SkipJsonSchema[None] = Field(
        default=None,
        description="Present only when vaults were discovered: each subscription searched.",
        json_schema_extra=_drop_default,
    )

    @field_serializer("duration_s")
    def _milliseconds(self, value: float) -> float:
        return round(value, 3)

    @model_validator(mode="after")
    def _outcome_matches_exit_code(self) -> Self:
        if outcome_for(self.exit_code) is not self.outcome:
            raise ValueError(f"outcome {self.outcome} does not match exit_code {self.exit_code}")
        return self


def _check_status_error(status: VaultStatus, error: ErrorInfo | None) -> None:
    if (status is VaultStatus.ERROR) != (error is not None):
        raise ValueError("error must be set exactly when status is error")


def compute_totals(vaults: Sequence[VaultReport]) -> Totals:
    """Count results and vault statuses, so the totals always add up (see :func:`count_totals`)."""
    return count_totals(
        Counter(m.result for vault in vaults for m in vault.mappings),
        vaults=len(vaults),
        vaults_failed=sum(vault.status is VaultStatus.ERROR for vault in vaults),
    )


def count_totals(results: Counter[MappingResult], *, vaults: int, vaults_failed: int) -> Totals:
    """The totals of mappings ending with ``results`` in ``vaults`` vaults.

    ``mappings`` equals the sum of the seven result counts; ``changed`` is what apply set out
    to change: ``mappings - skipped - would_change``.
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
    )


@dataclass(frozen=True, slots=True)
class RunFlags:
    """What went wrong in a run; :func:`exit_code_for` picks the code. Combine with ``|``."""

    invalid: bool = False
    lock_held: bool = False
    unauthenticated: bool = False
    interrupted: bool = False
    timed_out: bool = False
    failed: bool = False

    def __or__(self, other: RunFlags) -> RunFlags:
        return RunFlags(
            **{f.name: getattr(self, f.name) or getattr(other, f.name) for f in fields(self)}
        )


def exit_code_for(flags: RunFlags) -> ExitCode:
    """The exit code; when several flags are set, DESIGN's order wins: 2, 5, 4, 130, 3, 1."""
    precedence = (
        (flags.invalid, ExitCode.INVALID),
        (flags.lock_held, ExitCode.LOCK_HELD),
        (flags.unauthenticated, ExitCode.UNAUTHENTICATED),
        (flags.interrupted, ExitCode.INTERRUPTED),
        (flags.timed_out, ExitCode.TIMED_OUT),
        (flags.failed, ExitCode.FAILED),
    )
    return next((code for flag, code in precedence if flag), ExitCode.SUCCEEDED)


def outcome_for(exit_code: int) -> Outcome:
    """The report's ``outcome`` for an exit code; ValueError for 5 (no report) or unknown codes."""
    # Each Outcome is named after its ExitCode; LOCK_HELD alone has no Outcome.
    try:
        return Outcome[ExitCode(exit_code).name]
    except (ValueError, KeyError):
        raise ValueError(f"exit code {exit_code} has no report outcome") from None


def flags_from_vaults(vaults: Sequence[VaultReport]) -> RunFlags:
    """The flags the results imply: failed, timed_out, interrupted. The caller adds the rest."""
    return flags_from_totals(compute_totals(vaults))


def flags_from_totals(totals: Totals) -> RunFlags:
    """The flags the totals imply: failed, timed_out, interrupted. The caller adds the rest."""
    return RunFlags(
        failed=totals.failed > 0 or totals.vaults_failed > 0,
        timed_out=totals.timed_out > 0,
        interrupted=totals.interrupted > 0,
    )
