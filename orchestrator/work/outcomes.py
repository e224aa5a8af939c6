"""How work ends: the words a run's records and its report share.

The records (:mod:`orchestrator.work.records`) are written in these words as work happens; the
report (:mod:`orchestrator.output.report`) is made of them at the end. Pure values, no I/O.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.errors import ArmError


class MappingResult(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNHEALTHY = "unhealthy"  # the change succeeded, then the mapping showed health errors
    SKIPPED = "skipped"
    TIMED_OUT = "timed_out"
    NOT_STARTED = "not_started"
    WOULD_CHANGE = "would_change"  # plan only: apply would PATCH it
    INTERRUPTED = "interrupted"  # its operation was still running when the run was stopped


# Results that make a run fail (exit 1) however they came about.
FAILING_RESULTS = frozenset({MappingResult.FAILED, MappingResult.UNHEALTHY})


class VaultStatus(StrEnum):
    """Whether a vault could be read at all."""

    OK = "ok"
    ERROR = "error"


class SubscriptionStatus(StrEnum):
    """Whether a subscription's vaults were searched: read, not readable, or left alone."""

    OK = "ok"
    ERROR = "error"
    SKIPPED = "skipped"  # not `Enabled`: its vaults are not targeted


class ListedVia(StrEnum):
    """How a vault's mappings were listed."""

    VAULT = "vault"  # the vault-level list
    CONTAINERS = "containers"  # fabric by fabric, container by container (the list was refused)


class ErrorInfo(BaseModel):
    """Why a run, a vault, a subscription or a mapping's change failed."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(description="A short machine-readable code, e.g. `untrusted_url`.")
    message: str = Field(description="What went wrong, for a person.")

    @classmethod
    def from_error(cls, error: ArmError) -> Self:
        return cls(code=error.code, message=error.message)


class Notice(BaseModel):
    """Something a person should know about a run that did not fail it."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(description="A short machine-readable code, e.g. `filter_matched_nothing`.")
    message: str = Field(description="What happened, for a person.")
