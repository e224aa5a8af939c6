"""The config file: its model, with every key of DESIGN.md "Config file (YAML)", and its loader.

:class:`Config` checks each key, then the whole (duplicates, targets, accounts), reporting
problems at key paths. :func:`load_config` is the one boundary where the file system, PyYAML
and pydantic are called: every error they raise leaves as one
:class:`~orchestrator.errors.ConfigError` naming the file, the key path and the problem.

The parts live beside this module: :mod:`~orchestrator.config.source` reads the file and its
YAML, :mod:`~orchestrator.config.values` checks single values, and
:mod:`~orchestrator.config.problems` words the problems. Import the config's names from here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

from orchestrator.asr.desired import Action, AuthenticationType, DesiredState
from orchestrator.asr.targets import SubscriptionTarget, VaultId, VaultTarget, check_resource_group
from orchestrator.config.clouds import CLOUDS, Cloud, CloudEndpoints
from orchestrator.config.problems import (
    KeyedProblems,
    Loc,
    Problem,
    UnionTags,
    coercions,
    describe,
    fail,
    pydantic_problems,
    uncovered,
)
from orchestrator.config.source import (
    MAX_CONFIG_BYTES,
    MAX_DEPTH,
    MAX_VALUES,
    parse_yaml,
    read_text,
)
from orchestrator.config.values import (
    MAX_LIMIT_CALLS,
    AccountText,
    AuthType,
    ClientGuid,
    SubscriptionGuid,
    VaultIdText,
    Window,
    api_version_text,
    check_api_version,
    check_arm_endpoint,
    check_audience,
    check_exclusion,
    no_nul,
)
from orchestrator.emulator.fleet_spec import FleetSpec, WindowLimit
from orchestrator.errors import ConfigError

__all__ = [
    "CLOUDS",
    "DEFAULT_API_VERSION",
    "DEFAULT_GET_LIMIT",
    "DEFAULT_SET_LIMIT",
    "DEFAULT_TIMEOUT_MINUTES",
    "MAX_CONFIG_BYTES",
    "MAX_DEPTH",
    "MAX_LIMIT_CALLS",
    "MAX_TIMEOUT_MINUTES",
    "MAX_VALUES",
    "AccountText",
    "AuthType",
    "ClientGuid",
    "Cloud",
    "CloudEndpoints",
    "Config",
    "CredentialKind",
    "LimitScope",
    "LimitsConfig",
    "LoadedConfig",
    "Loc",
    "SubscriptionEntry",
    "SubscriptionGuid",
    "Subscriptions",
    "VaultEntry",
    "VaultIdText",
    "Window",
    "load_config",
]


class CredentialKind(StrEnum):
    DEFAULT = "default"
    MANAGED_IDENTITY = "managed_identity"
    AZURE_CLI = "azure_cli"
    ENVIRONMENT = "environment"
    WORKLOAD_IDENTITY = "workload_identity"


class LimitScope(StrEnum):
    RUN = "run"  # one set of limiters for the whole run
    SUBSCRIPTION = "subscription"  # one set per subscription


DEFAULT_API_VERSION: Final = "2021-12-01"
DEFAULT_TIMEOUT_MINUTES: Final = 160.0
MAX_TIMEOUT_MINUTES: Final = 10_080.0  # a week
DEFAULT_SET_LIMIT: Final = WindowLimit(calls=200, per_seconds=60)
DEFAULT_GET_LIMIT: Final = WindowLimit(calls=10_000, per_seconds=3_600)

_MI_CREDENTIALS: Final = frozenset({CredentialKind.MANAGED_IDENTITY, CredentialKind.DEFAULT})


# --- the models ---------------------------------------------------------------------------


class _Model(BaseModel):
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


class LimitsConfig(_Model):
    scope: LimitScope = LimitScope.RUN
    """run: one set of limiters for the whole run; subscription: one per subscription."""
    set: Window = DEFAULT_SET_LIMIT
    """PATCH calls allowed in any sliding window."""
    get: Window = DEFAULT_GET_LIMIT
    """GET calls (lists, polls, discovery) allowed in any sliding window."""


class VaultEntry(_Model):
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


class SubscriptionEntry(_Model):
    """A subscription GUID, or a mapping with the id and filters."""

    id: SubscriptionGuid
    resource_groups: list[Annotated[str, AfterValidator(check_resource_group)]] | None = None
    """Only vaults in these groups (any case). Omit for every group."""
    exclude: list[Annotated[str, AfterValidator(check_exclusion)]] = []
    """Vault names or vault ids to leave alone."""

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


class Config(_Model):
    """A whole config file. Validation checks each key, then the whole (targets, accounts)."""

    action: Action
    """enable or disable auto-update (required)."""
    automation_account: AccountText | None = None
    """The Automation account's ARM id, or `keep`; required when any target enables."""
    authentication_type: AuthType = AuthenticationType.SYSTEM_ASSIGNED_IDENTITY
    cloud: Cloud = Cloud.AZURE_CLOUD
    arm_endpoint: Annotated[str, AfterValidator(check_arm_endpoint)] | None = None
    """Overrides the cloud's ARM endpoint: https://, or http:// for a loopback host only."""
    token_audience: Annotated[str, AfterValidator(check_audience)] | None = None
    """Overrides the cloud's token audience."""
    api_version: Annotated[
        str, BeforeValidator(api_version_text), AfterValidator(check_api_version)
    ] = DEFAULT_API_VERSION
    credential: CredentialKind = CredentialKind.DEFAULT
    managed_identity_client_id: ClientGuid | None = None
    """Client id of a user-assigned managed identity."""
    limits: LimitsConfig = LimitsConfig()
    timeout_minutes: Annotated[float, Field(gt=0, le=MAX_TIMEOUT_MINUTES)] = DEFAULT_TIMEOUT_MINUTES
    """Deadline for the whole run, in minutes (fractions allowed)."""
    lock_file: Annotated[str, Field(min_length=1), AfterValidator(no_nul)] | None = None
    """While a run holds this file, a second run exits 5."""
    vaults: list[VaultEntry] = []
    subscriptions: Subscriptions | None = None
    """Every vault found in these subscriptions, or `all` the credential can see."""
    emulator: FleetSpec | None = None
    """Run against the built-in emulator with this fleet instead of Azure."""

    @model_validator(mode="after")
    def _check_whole(self) -> Self:
        problems = [*self._target_problems(), *self._account_problems()]
        if problems:
            raise KeyedProblems(problems)
        return self

    def _target_problems(self) -> Iterator[Problem]:
        if not self.vaults and not self.subscriptions:
            yield Problem(("vaults",), "no targets: list vaults, or give `subscriptions`")
        yield from _duplicates("vaults", [VaultId.parse(v.id).key for v in self.vaults])
        if isinstance(self.subscriptions, list):
            ids = [entry.id.lower() for entry in self.subscriptions]
            yield from _duplicates("subscriptions", ids)

    def _account_problems(self) -> Iterator[Problem]:
        """``enable`` anywhere needs an account, from the vault entry or the top level."""
        top_needed = self.action is Action.ENABLE and bool(self.subscriptions)
        for index, vault in enumerate(self.vaults):
            enables = (vault.action or self.action) is Action.ENABLE
            if not enables or vault.automation_account or self.automation_account:
                continue
            if vault.action is None:
                top_needed = True
            else:
                message = "required when the vault's action is enable (an account id, or `keep`)"
                yield Problem(("vaults", index, "automation_account"), message)
        if top_needed and self.automation_account is None:
            message = "required when action is enable (an Automation account id, or `keep`)"
            yield Problem(("automation_account",), message)

    def warnings(self) -> tuple[str, ...]:
        """Accepted but doubtful settings, each naming its key path."""
        found: list[str] = []
        run_as = AuthenticationType.RUN_AS_ACCOUNT
        retired = "RunAsAccount is retired by Azure; prefer SystemAssignedIdentity"
        if self.authentication_type is run_as:
            found.append(f"authentication_type: {retired}")
        top_account_used = self.action is Action.ENABLE
        for index, vault in enumerate(self.vaults):
            action = vault.action or self.action
            if vault.authentication_type is run_as:
                found.append(f"vaults[{index}].authentication_type: {retired}")
            if action is Action.DISABLE and vault.automation_account is not None:
                found.append(
                    f"vaults[{index}].automation_account: ignored, the vault's action is disable"
                )
            top_account_used |= action is Action.ENABLE and vault.automation_account is None
        if self.automation_account is not None and not top_account_used:
            found.append("automation_account: ignored, no target enables")
        if self.managed_identity_client_id is not None and self.credential not in _MI_CREDENTIALS:
            found.append(
                f"managed_identity_client_id: ignored with credential {self.credential.value}"
                " (it applies to managed_identity and default)"
            )
        return tuple(found)

    @property
    def endpoint(self) -> str:
        """The ARM endpoint requests go to, without a trailing slash."""
        return (self.arm_endpoint or CLOUDS[self.cloud].arm_endpoint).rstrip("/")

    @property
    def audience(self) -> str:
        return self.token_audience or CLOUDS[self.cloud].token_audience

    @property
    def token_scope(self) -> str:
        """The audience plus ``/.default``, literally: ARM's audience ends in '/' already."""
        return self.audience + "/.default"

    @property
    def authority_host(self) -> str:
        return CLOUDS[self.cloud].authority_host

    def default_desired(self) -> DesiredState:
        """The state for vaults with no overrides, including every discovered vault."""
        return _desired(self.action, self.automation_account, self.authentication_type)

    def vault_targets(self) -> list[VaultTarget]:
        """The explicit vaults in file order, each with its overrides resolved."""
        return [
            VaultTarget(
                VaultId.parse(entry.id),
                _desired(
                    entry.action or self.action,
                    entry.automation_account or self.automation_account,
                    entry.authentication_type or self.authentication_type,
                ),
            )
            for entry in self.vaults
        ]

    def subscription_targets(self) -> list[SubscriptionTarget] | Literal["all"] | None:
        """The subscriptions to discover vaults in, `all` of them, or None for no discovery."""
        if self.subscriptions is None or self.subscriptions == "all":
            return self.subscriptions
        return [
            SubscriptionTarget.of(entry.id, entry.resource_groups, entry.exclude)
            for entry in self.subscriptions
        ]


def _desired(
    action: Action, account: str | None, authentication_type: AuthenticationType
) -> DesiredState:
    # disable never sends an account, so none is carried: DesiredState's contract.
    kept = account if action is Action.ENABLE else None
    return DesiredState(action, kept, authentication_type)


def _duplicates(field: str, keys: Sequence[str]) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for index, key in enumerate(keys):
        if key in first:
            yield Problem((field, index, "id"), f"duplicate of {field}[{first[key]}]")
        else:
            first[key] = index


# --- the loader: file → YAML → Config, every failure one ConfigError ----------------------


@dataclass(frozen=True)
class LoadedConfig:
    """A config that passed every check, where it came from, and what was doubtful in it."""

    path: Path
    config: Config
    warnings: tuple[str, ...]


def load_config(path: str | os.PathLike[str]) -> LoadedConfig:
    """Read and check a config file. Nothing here touches the network.

    Raises ConfigError naming the file, the key path and the problem. When there are several,
    the first line holds the first and the rest follow, one per line.
    """
    name = os.fspath(path)
    data = parse_yaml(read_text(name), name)
    if data is None:
        raise ConfigError(name, "", "the file is empty: it needs at least `action` and a target")
    if not isinstance(data, dict):
        got = describe(data)
        raise ConfigError(name, "", f"the top level must be a mapping of keys, got {got}")
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = pydantic_problems(exc, Config, _UNION_TAGS)
        fail(name, problems + uncovered(coercions(data, Config, ()), problems), exc)
    coerced = list(coercions(data, Config, ()))
    if coerced:
        fail(name, coerced, None)
    return LoadedConfig(Path(path), config, config.warnings())
