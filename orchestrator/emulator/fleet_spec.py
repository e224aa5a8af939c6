"""The fleet description: the keys of a ``--fleet FLEET.yaml`` file and of a config's
``emulator:`` block."""

from __future__ import annotations

from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

Rate = float  # a probability in [0, 1]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowLimit(_Strict):
    """At most ``calls`` requests of one kind in any sliding window of ``per_seconds``."""

    calls: int = Field(ge=1, le=10_000_000)
    per_seconds: float = Field(gt=0, le=86_400)


class EmulatorLimits(_Strict):
    set: WindowLimit = WindowLimit(calls=200, per_seconds=60)
    get: WindowLimit = WindowLimit(calls=10_000, per_seconds=3_600)


class Shares(_Strict):
    """Shares of generated mappings in each starting condition; the rest need a change."""

    not_a2a: Rate = Field(default=0.1, ge=0, le=1)
    not_paired: Rate = Field(default=0.05, ge=0, le=1)
    compliant: Rate = Field(default=0.3, ge=0, le=1)
    unhealthy: Rate = Field(default=0.05, ge=0, le=1)
    # Enabled with the fleet's account but the retired RunAsAccount authentication.
    run_as_account: Rate = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _sum_at_most_one(self) -> Self:
        total = self.not_a2a + self.not_paired + self.compliant + self.unhealthy
        if total + self.run_as_account > 1.0 + 1e-9:
            raise ValueError("shares add up to more than 1")
        return self


class OperationOutcomes(_Strict):
    """Shares of operations that end in the other successful terminal statuses."""

    partially_succeeded: Rate = Field(default=0.0, ge=0, le=1)
    completed_with_information: Rate = Field(default=0.0, ge=0, le=1)


def _check_origin(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    # Reading `port` raises ValueError for one that is not a number in range.
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.port == 0:
        raise ValueError("must be an absolute http:// or https:// URL")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError("must be an origin only (scheme://host[:port]), without path or query")
    return url.rstrip("/")


OriginUrl = Annotated[str | None, AfterValidator(_check_origin)]


class ForeignLinks(_Strict):
    """Server-supplied URLs put on another origin (``scheme://host[:port]``), for testing that a
    client refuses them; ``None`` keeps the origin the client used."""

    next_link: OriginUrl = None  # every paged list's nextLink
    async_operation: OriginUrl = None  # a 202 PATCH's Azure-AsyncOperation
    location: OriginUrl = None  # a 202 PATCH's Location (and an operation result's 202)


class Faults(_Strict):
    """Fault injection. Rates are per ARM request unless said otherwise; a faulted request has
    no effect on the emulator's state."""

    http_500: Rate = Field(default=0.0, ge=0, le=1)
    http_503: Rate = Field(default=0.0, ge=0, le=1)  # carries Retry-After
    drop: Rate = Field(default=0.0, ge=0, le=1)  # connection closed with no answer
    throttle: Rate = Field(default=0.0, ge=0, le=1)  # spurious 429 with Retry-After
    slow: Rate = Field(default=0.0, ge=0, le=1)  # answer delayed by slow_seconds
    slow_seconds: float = Field(default=2.0, ge=0, le=600)
    never_finish: Rate = Field(default=0.0, ge=0, le=1)  # per operation: stays InProgress
    status_404_seconds: float = Field(default=0.0, ge=0, le=3_600)  # new status URLs 404 this long
    token_failures: int = Field(default=0, ge=0)  # the first N token requests answer 500
    foreign_links: ForeignLinks = ForeignLinks()  # links pointing off the client's origin
    # Tokens stop working this long before the expiry the identity endpoint reports (clock skew
    # between the issuer and ARM, or a revoked token): ARM answers ExpiredAuthenticationToken
    # while the client still holds the token as valid.
    token_early_expiry_seconds: float = Field(default=0.0, ge=0, le=86_400)


def _ordered_pair(pair: tuple[float, float], name: str) -> None:
    if pair[0] > pair[1]:
        raise ValueError(f"{name}: the first value must not exceed the second")


class FleetSpec(_Strict):
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
    retry_after_seconds: int = Field(default=1, ge=0, le=3_600)
    page_size: int = Field(default=50, ge=1, le=10_000)
    limits: EmulatorLimits = EmulatorLimits()
    faults: Faults = Faults()
    # Which headers a 202 PATCH carries.
    lro_headers: Literal["both", "azure_async_operation", "location"] = "both"
    sync_patch_rate: Rate = Field(default=0.0, ge=0, le=1)  # share of PATCHes answered 200 at once
    token_lifetime_seconds: int = Field(default=3_600, ge=1, le=86_400)
    # Subscriptions, by number (1 is the first, as in the vault names `vault-s1-…`), that are
    # listed by GET /subscriptions but where the identity holds no role: every ARM call under
    # them answers 403 AuthorizationFailed.
    forbidden_subscriptions: tuple[int, ...] = ()

    @model_validator(mode="after")
    def _check_ranges(self) -> Self:
        _ordered_pair(self.mappings_per_vault, "mappings_per_vault")
        _ordered_pair(self.operation_seconds, "operation_seconds")
        if self.mappings_per_vault[0] < 0 or self.operation_seconds[0] < 0:
            raise ValueError("ranges must not be negative")
        for number in self.forbidden_subscriptions:
            if not 1 <= number <= self.subscriptions:
                raise ValueError(
                    f"forbidden_subscriptions: {number} is not a subscription number "
                    f"(1 to {self.subscriptions})"
                )
        return self
