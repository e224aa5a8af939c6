"""The nested sections of a fleet description (`FleetSpec` holds them): limits, shares, faults,
protected items and Automation accounts. Every model refuses unknown keys and checks its ranges."""

from __future__ import annotations

import re
from types import UnionType
from typing import Annotated, Any, Final, Literal, Self, Union, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

Rate = float  # a probability in [0, 1]
SubscriptionState = Literal["Enabled", "Disabled", "Warned", "PastDue", "Deleted"]
IdentityType = Literal["SystemAssigned", "UserAssigned", "SystemAssigned, UserAssigned", "None"]
FLEET_ACCOUNT: Final = "fleet"  # an `automation_accounts` id naming the fleet's own account
ACCOUNT_PLACEHOLDERS: Final = ("{subscription_id}", "{resource_group}", "{vault}")
_ACCOUNT_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Automation"
    r"/automationAccounts/[^/]+$",
    re.IGNORECASE,
)


class StrictModel(BaseModel):
    """A fleet description's section: unknown keys refused, and a number must be written as one.

    Pydantic's lax mode would read ``seed: true`` as 1 and ``seed: "7"`` as 7; a fleet file is
    written by hand, so those are mistakes to name, not values to guess. (Model-wide strict mode
    would also refuse YAML's lists for the tuple ranges, hence a check of its own.)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and _numeric(field.annotation):
            for item in value if isinstance(value, list | tuple) else (value,):
                if isinstance(item, bool | str):
                    raise ValueError(f"must be a number, got {item!r}")
        return value


def _numeric(annotation: Any) -> bool:
    """Whether a field holds numbers only: int or float, optional, or a tuple of them."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _numeric(get_args(annotation)[0])
    if origin in (Union, UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        return bool(options) and all(_numeric(a) for a in options)
    if origin is tuple:
        return all(_numeric(a) for a in get_args(annotation) if a is not Ellipsis)
    return annotation in (int, float)


def cap_total(total: float, what: str) -> None:
    if total > 1.0 + 1e-9:
        raise ValueError(f"{what} add up to more than 1")


def ordered_pair(pair: tuple[float, float], name: str) -> None:
    """Refuse an inclusive range whose first value exceeds its second."""
    if pair[0] > pair[1]:
        raise ValueError(f"{name}: the first value must not exceed the second")


class WindowLimit(StrictModel):
    """At most ``calls`` requests of one kind in any sliding window of ``per_seconds``."""

    calls: int = Field(ge=1, le=10_000_000)
    per_seconds: float = Field(gt=0, le=86_400)


class EmulatorLimits(StrictModel):
    set: WindowLimit = WindowLimit(calls=200, per_seconds=60)
    get: WindowLimit = WindowLimit(calls=10_000, per_seconds=3_600)


class Shares(StrictModel):
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
        cap_total(total + self.run_as_account, "shares")
        return self


class OperationOutcomes(StrictModel):
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


class ForeignLinks(StrictModel):
    """Server-supplied URLs put on another origin (``scheme://host[:port]``), for testing that a
    client refuses them; ``None`` keeps the origin the client used."""

    next_link: OriginUrl = None  # every paged list's nextLink
    async_operation: OriginUrl = None  # a PATCH's Azure-AsyncOperation
    location: OriginUrl = None  # a PATCH's Location (and an operation result's 202)


class Faults(StrictModel):
    """Fault injection. Rates are per ARM request unless said otherwise. `http_500`, `http_503`,
    `drop` and `throttle` have no effect on the emulator's state; the two `*_after_effect` kinds
    handle the request first (a PATCH is applied) and then lose or delay the answer."""

    http_500: Rate = Field(default=0.0, ge=0, le=1)
    http_503: Rate = Field(default=0.0, ge=0, le=1)  # Retry-After as retry_after_seconds
    drop: Rate = Field(default=0.0, ge=0, le=1)  # connection closed with no answer, no effect
    throttle: Rate = Field(default=0.0, ge=0, le=1)  # spurious 429 (see throttle_retry_after)
    drop_after_effect: Rate = Field(default=0.0, ge=0, le=1)  # handled, then the answer is lost
    slow_after_effect: Rate = Field(default=0.0, ge=0, le=1)  # handled, answered slow_seconds later
    slow: Rate = Field(default=0.0, ge=0, le=1)  # answer delayed by slow_seconds
    slow_seconds: float = Field(default=2.0, ge=0, le=600)
    never_finish: Rate = Field(default=0.0, ge=0, le=1)  # per operation: stays InProgress
    status_404_seconds: float = Field(default=0.0, ge=0, le=3_600)  # new status URLs 404 this long
    # Per operation: its status and Location URLs answer 403 AuthorizationFailed, or 404
    # OperationNotFound, for good (the operation itself runs and ends as drawn).
    status_403_forever: Rate = Field(default=0.0, ge=0, le=1)
    status_404_forever: Rate = Field(default=0.0, ge=0, le=1)
    token_failures: int = Field(default=0, ge=0)  # the first N token requests answer 500
    foreign_links: ForeignLinks = ForeignLinks()  # links pointing off the client's origin
    # Tokens stop working this long before the expiry the identity endpoint reports (clock skew
    # between the issuer and ARM, or a revoked token): ARM answers ExpiredAuthenticationToken
    # while the client still holds the token as valid.
    token_early_expiry_seconds: float = Field(default=0.0, ge=0, le=86_400)

    @model_validator(mode="after")
    def _one_failure_per_request(self) -> Self:
        failures = (
            self.http_500,
            self.http_503,
            self.drop,
            self.throttle,
            self.drop_after_effect,
            self.slow_after_effect,
        )
        cap_total(
            sum(failures),
            "faults http_500, http_503, drop, throttle, drop_after_effect, slow_after_effect",
        )
        cap_total(self.status_403_forever + self.status_404_forever, "faults status_40x_forever")
        return self


class ProtectedItemsSpec(StrictModel):
    """Replication protected items per vault, and shares of their Mobility agents' states (the
    rest are current). Items are generated per vault on first use, seeded by vault."""

    per_vault: tuple[int, int] = (1, 3)  # inclusive range
    non_a2a: Rate = Field(default=0.1, ge=0, le=1)  # items that are not Azure-to-Azure
    update_required: Rate = Field(default=0.1, ge=0, le=1)  # an update flag is true
    expiring: Rate = Field(default=0.05, ge=0, le=1)  # agent expiry within 30 days of now
    expired: Rate = Field(default=0.02, ge=0, le=1)  # agent expiry in the past
    unknown: Rate = Field(default=0.03, ge=0, le=1)  # agent fields null (absent when tidy)

    @model_validator(mode="after")
    def _check(self) -> Self:
        ordered_pair(self.per_vault, "protected_items.per_vault")
        if self.per_vault[0] < 0 or self.per_vault[1] > 10_000:
            raise ValueError("protected_items.per_vault must lie within 0 and 10000")
        cap_total(
            self.update_required + self.expiring + self.expired + self.unknown,
            "protected_items agent shares",
        )
        return self


def _check_account_id(value: str) -> str:
    if value == FLEET_ACCOUNT:
        return value
    probe = value
    for placeholder in ACCOUNT_PLACEHOLDERS:
        probe = probe.replace(placeholder, "x")
    if "{" in probe or "}" in probe:
        raise ValueError(f"only the placeholders {', '.join(ACCOUNT_PLACEHOLDERS)} are known")
    if not _ACCOUNT_ID.match(probe):
        raise ValueError(
            "must be 'fleet' or /subscriptions/…/resourceGroups/…/providers/"
            "Microsoft.Automation/automationAccounts/NAME"
        )
    return value


class AutomationAccountSpec(StrictModel):
    """An Automation account the emulator serves and judges enable operations by.

    ``id`` is an ARM id, or ``fleet`` (the fleet's generated account). Placeholders make one
    account per subscription (``{subscription_id}``) or per vault (``{resource_group}``,
    ``{vault}``), e.g. ``/subscriptions/{subscription_id}/resourceGroups/rg-automation/providers/
    Microsoft.Automation/automationAccounts/aa-dr``.
    """

    id: Annotated[str, AfterValidator(_check_account_id)]
    identity: IdentityType | None = "SystemAssigned"  # None: the GET has no `identity` at all
    rights_on_vaults: bool = True  # whether its identity may run the update on the vaults
    readable: bool = True  # False: the emulator's identity gets 403 reading it
    location: str = "eastus"
