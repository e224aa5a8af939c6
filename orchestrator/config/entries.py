"""The config's sections and entries: limits, audit, a vault entry, a subscription entry.

Each checks its own keys; :class:`~orchestrator.config.model.Config` checks the whole.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Annotated, Any, Final, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictFloat,
    Tag,
    model_validator,
)

from orchestrator.arm.limits import ASR_GET_QUOTA, ASR_SET_QUOTA, LimitScope
from orchestrator.asr.desired import Action
from orchestrator.asr.targets import VaultId, check_resource_group
from orchestrator.config.problems import KeyedProblems, Problem, UnionTags, describe
from orchestrator.config.values import (
    AccountText,
    AuthType,
    SubscriptionGuid,
    VaultIdText,
    Window,
    check_exclusion,
)

DEFAULT_EXPIRY_WARNING_DAYS: Final = 30.0


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, use_attribute_docstrings=True
    )


def _entry_input(data: object, kind: str, key: str) -> object:
    """Entries may be a bare string (their ``key``) or a mapping; say so when neither."""
    if isinstance(data, str):
        return {key: data}
    if isinstance(data, dict | BaseModel):
        return data
    raise ValueError(f"expected a {kind} or a mapping with `{key}`, got {describe(data)}")


class LimitsConfig(Model):
    scope: LimitScope = LimitScope.RUN
    """run: one set of limiters for the whole run; subscription: one per subscription."""
    set: Window = ASR_SET_QUOTA
    """PATCH calls allowed in any sliding window."""
    get: Window = ASR_GET_QUOTA
    """GET calls (lists, polls, discovery) allowed in any sliding window."""


class VaultEntry(Model):
    """A vault id, or a mapping with the id and per-vault overrides."""

    id: VaultIdText
    action: Action | None = None
    automation_account: AccountText | None = None
    authentication_type: AuthType | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_id(cls, data: object) -> object:
        return _entry_input(data, "vault id", "id")

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        return {"anyOf": [{"type": "string", "description": "a vault id"}, handler(core_schema)]}


class SubscriptionEntry(Model):
    """A subscription GUID, or a mapping with the id and filters."""

    id: SubscriptionGuid
    resource_groups: list[Annotated[str, AfterValidator(check_resource_group)]] | None = None
    """Only vaults in these groups (any case). Omit for every group."""
    exclude: list[Annotated[str, AfterValidator(check_exclusion)]] = []
    """Vault names or vault ids to leave alone."""
    automation_account: AccountText | None = None
    """The account for vaults found in this subscription (overrides the top-level one); may be
    a template with {subscription_id}, {resource_group}, {vault}."""

    @model_validator(mode="before")
    @classmethod
    def _bare_id(cls, data: object) -> object:
        return _entry_input(data, "subscription id", "id")

    @model_validator(mode="after")
    def _check_filters(self) -> Self:
        problems = []
        if self.resource_groups == []:
            problems.append(Problem(("resource_groups",), "is empty: omit it to take every group"))
        for index, entry in enumerate(self.exclude):
            if (
                entry.startswith("/")
                and VaultId.parse(entry).subscription_id.lower() != self.id.lower()
            ):
                message = f"{entry!r} is a vault of another subscription"
                problems.append(Problem(("exclude", index), message))
        if problems:
            raise KeyedProblems(problems)
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        return {"anyOf": [{"type": "string", "description": "a GUID"}, handler(core_schema)]}


def _subscriptions_kind(value: object) -> str | None:
    if isinstance(value, str):
        return "all"
    return "list" if isinstance(value, list | tuple) else None


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


# The union tags appear in pydantic's error locations; the loader drops them.
_UNION_TAGS: Final[UnionTags] = MappingProxyType({"subscriptions": frozenset({"all", "list"})})
Subscriptions = Annotated[
    Annotated[list[SubscriptionEntry], Tag("list")]
    | Annotated[Literal["all"], BeforeValidator(_lower), Tag("all")],
    Discriminator(
        _subscriptions_kind,
        custom_error_type="subscriptions_type",
        custom_error_message="expected `all` or a list of subscriptions",
    ),
]


class AuditConfig(Model):
    expiry_warning_days: Annotated[StrictFloat, Field(ge=0, le=3_650)] = DEFAULT_EXPIRY_WARNING_DAYS
    """An agent or certificate expiring within this many days is `expiring`."""
