"""The fleet description: the keys of a ``--fleet FLEET.yaml`` file and of a config's
``emulator:`` block. Defaults answer as real ASR does; each key switches one behaviour."""

from __future__ import annotations

from typing import Final, Literal, Self

from pydantic import Field, model_validator

from orchestrator.emulator.spec_parts import (
    AutomationAccountSpec,
    EmulatorLimits,
    Faults,
    ForeignLinks,
    OperationOutcomes,
    ProtectedItemsSpec,
    Rate,
    Shares,
    StrictModel,
    SubscriptionState,
    WindowLimit,
    cap_total,
    ordered_pair,
)

__all__ = [
    "ARM_AUDIENCES",
    "AutomationAccountSpec",
    "EmulatorLimits",
    "Faults",
    "FleetSpec",
    "ForeignLinks",
    "OperationOutcomes",
    "ProtectedItemsSpec",
    "Shares",
    "WindowLimit",
]

# The audiences ARM in the public cloud accepts tokens for.
ARM_AUDIENCES: Final = (
    "https://management.core.windows.net/",
    "https://management.core.windows.net",
    "https://management.azure.com/",
    "https://management.azure.com",
)
_WEEK = 7 * 86_400


class FleetSpec(StrictModel):
    """A seeded description of a fleet and of how the emulator behaves. Same seed, same fleet."""

    seed: int = 1
    subscriptions: int = Field(default=2, ge=1, le=10_000)
    vaults_per_subscription: int = Field(default=5, ge=0, le=1_000_000)
    resource_groups_per_subscription: int = Field(default=2, ge=1, le=1_000)
    mappings_per_vault: tuple[int, int] = (1, 4)  # inclusive range
    shares: Shares = Shares()
    operation_seconds: tuple[float, float] = (2.0, 20.0)
    operation_failure_rate: Rate = Field(default=0.02, ge=0, le=1)
    operation_outcomes: OperationOutcomes = OperationOutcomes()
    # What 202s, in-progress status reads and Location 202s carry; None: no Retry-After (ASR).
    retry_after_seconds: int | None = Field(default=None, ge=0, le=3_600)
    page_size: int = Field(default=50, ge=1, le=10_000)
    limits: EmulatorLimits = EmulatorLimits()
    faults: Faults = Faults()
    # Which headers an accepted PATCH carries.
    lro_headers: Literal["both", "azure_async_operation", "location"] = "both"
    sync_patch_rate: Rate = Field(default=0.0, ge=0, le=1)  # 200, no async headers, applied
    accepted_200_rate: Rate = Field(default=0.0, ge=0, le=1)  # 200 + async headers, still runs
    token_lifetime_seconds: int = Field(default=3_600, ge=1, le=86_400)
    # Subscriptions, by number (1 is the first, as in the vault names `vault-s1-…`), that are
    # listed by GET /subscriptions but where the identity holds no role: every ARM call under
    # them answers 403 AuthorizationFailed.
    forbidden_subscriptions: tuple[int, ...] = ()
    # Subscription number -> state (the rest are Enabled). Disabled and Deleted are read-only.
    subscription_states: dict[int, SubscriptionState] = Field(default_factory=dict)
    # True: omit what is null (the emulator's first shapes); False: explicit nulls, as recorded.
    tidy_bodies: bool = False
    server_time_skew_seconds: float = Field(default=0.0, ge=-_WEEK, le=_WEEK)
    timestamps_without_zone: bool = False
    end_time_extra_seconds: float = Field(default=0.0, ge=-86_400, le=86_400)
    default_authentication_type: Literal["RunAsAccount", "SystemAssignedIdentity"] = "RunAsAccount"
    check_api_version: bool = True
    token_audiences: tuple[str, ...] = Field(default=ARM_AUDIENCES, min_length=1)
    throttle_retry_after: Literal["honest", "none", "zero", "negative"] = "honest"
    conflict_while_running: bool = True
    vault_list_forbidden_share: Rate = Field(default=0.0, ge=0, le=1)
    # Accounts served and judged; the fleet's own account always exists unless listed here.
    automation_accounts: tuple[AutomationAccountSpec, ...] = ()
    check_automation_accounts: bool = True  # False: any account id counts as existing and fit
    unhealthy_after_success_rate: Rate = Field(default=0.0, ge=0, le=1)
    protected_items: ProtectedItemsSpec = ProtectedItemsSpec()

    @model_validator(mode="after")
    def _check_ranges(self) -> Self:
        ordered_pair(self.mappings_per_vault, "mappings_per_vault")
        ordered_pair(self.operation_seconds, "operation_seconds")
        if self.mappings_per_vault[0] < 0 or self.operation_seconds[0] < 0:
            raise ValueError("ranges must not be negative")
        self._check_numbers("forbidden_subscriptions", self.forbidden_subscriptions)
        self._check_numbers("subscription_states", tuple(self.subscription_states))
        cap_total(
            self.sync_patch_rate + self.accepted_200_rate, "sync_patch_rate and accepted_200_rate"
        )
        if any(not audience.strip() for audience in self.token_audiences):
            raise ValueError("token_audiences: an audience must not be empty")
        return self

    def _check_numbers(self, key: str, numbers: tuple[int, ...]) -> None:
        for number in numbers:
            if not 1 <= number <= self.subscriptions:
                raise ValueError(
                    f"{key}: {number} is not a subscription number (1 to {self.subscriptions})"
                )
