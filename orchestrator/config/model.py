"""The config file's model: every key of DESIGN.md "Config file (YAML)" and the second release's.

:class:`Config` checks each key, then the whole (duplicates, targets, accounts), reporting
problems at key paths (:class:`~orchestrator.config.problems.KeyedProblems`). Loading a file
into it is :mod:`orchestrator.config.loader`'s business. The emulator's block is the emulator's
own :class:`~orchestrator.emulator.FleetSpec` (its schema ships apart, referenced from here).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Annotated, Any, Final, Literal, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    model_validator,
)

from orchestrator.arm.credentials import TAKES_CLIENT_ID, CredentialKind
from orchestrator.arm.limits import ASR_GET_QUOTA, ASR_SET_QUOTA
from orchestrator.asr.desired import KEEP_ACCOUNT, Action, AuthenticationType, DesiredState
from orchestrator.asr.targets import SubscriptionTarget, VaultId, VaultTarget
from orchestrator.config.clouds import CLOUDS, Cloud
from orchestrator.config.entries import (
    AuditConfig,
    LimitsConfig,
    Model,
    SubscriptionEntry,
    Subscriptions,
    VaultEntry,
)
from orchestrator.config.problems import KeyedProblems, Problem
from orchestrator.config.schema import EmulatorBlock, with_emulator_reference
from orchestrator.config.values import (
    AccountText,
    AuthType,
    ClientGuid,
    api_version_text,
    check_api_version,
    check_arm_endpoint,
    check_audience,
    filled_account,
    home_expanded,
    is_template,
    no_nul,
)

DEFAULT_API_VERSION: Final = "2021-12-01"
DEFAULT_TIMEOUT_MINUTES: Final = 160.0
MAX_TIMEOUT_MINUTES: Final = 10_080.0  # a week
DEFAULT_MAX_PAGES_PER_VAULT: Final = 1_000
DEFAULT_REQUEST_TIMEOUT_SECONDS: Final = 60.0
DEFAULT_STATE_FILE: Final = "default"  # $XDG_STATE_HOME/asr-autoupdate/journal-<hash>.jsonl


class Config(Model):
    """A whole config file. Validation checks each key, then the whole (targets, accounts)."""

    action: Action
    """enable or disable auto-update (required)."""
    automation_account: AccountText | None = None
    """The Automation account's ARM id, a template, or `keep`; required when any target enables."""
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
    timeout_minutes: Annotated[StrictFloat, Field(gt=0, le=MAX_TIMEOUT_MINUTES)] = (
        DEFAULT_TIMEOUT_MINUTES
    )
    """Deadline for the whole run, in minutes (fractions allowed)."""
    request_timeout_seconds: Annotated[StrictFloat, Field(gt=0, le=3_600)] = (
        DEFAULT_REQUEST_TIMEOUT_SECONDS
    )
    """Time limit of one ARM request, its answer's last byte included."""
    max_pages_per_vault: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = (
        DEFAULT_MAX_PAGES_PER_VAULT
    )
    """A vault whose listing runs longer fails with `too_many_pages`."""
    lock_file: (
        Annotated[str, Field(min_length=1), AfterValidator(no_nul), AfterValidator(home_expanded)]
        | None
    ) = None
    """While a run holds this file, a second run exits 5. A leading `~` is the user's home."""
    state_file: Annotated[str, Field(min_length=1), AfterValidator(no_nul)] | None = (
        DEFAULT_STATE_FILE
    )
    """apply's operation journal: `default`, a path, or null for none."""
    verify: StrictBool = True
    """Read each changed mapping back once its operation ended."""
    preflight: StrictBool = True
    """Read each Automation account once before the first PATCH that would use it."""
    audit: AuditConfig = AuditConfig()
    vaults: list[VaultEntry] = []
    subscriptions: Subscriptions | None = None
    """Every vault found in these subscriptions, or `all` the credential can see."""
    emulator: EmulatorBlock | None = None
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
        """``enable`` anywhere needs an account: the vault's, its subscription's or the top's.

        An explicit vault's account, template filled, must be an account id.
        """
        entries = self.subscriptions if isinstance(self.subscriptions, list) else []
        top_needed = self.action is Action.ENABLE and (
            self.subscriptions == "all" or any(e.automation_account is None for e in entries)
        )
        for index, vault in enumerate(self.vaults):
            if (vault.action or self.action) is not Action.ENABLE:
                continue
            source, account = self._account_source(vault)
            if account is None:
                if vault.action is None:
                    top_needed = True
                    continue
                message = "required when the vault's action is enable (an account id, or `keep`)"
                yield Problem(("vaults", index, "automation_account"), message)
            elif account != KEEP_ACCOUNT and is_template(account):
                try:
                    filled_account(account, VaultId.parse(vault.id))
                except ValueError as exc:
                    yield Problem(source or ("vaults", index, "automation_account"), str(exc))
        if top_needed and self.automation_account is None:
            message = "required when action is enable (an Automation account id, or `keep`)"
            yield Problem(("automation_account",), message)

    def _account_source(self, vault: VaultEntry) -> tuple[tuple[str | int, ...] | None, str | None]:
        """Which key gives an explicit vault its account, and the account (unfilled)."""
        if vault.automation_account is not None:
            return None, vault.automation_account
        entry = self._subscription_entry(VaultId.parse(vault.id).subscription_id)
        if entry is not None and entry[1].automation_account is not None:
            return ("subscriptions", entry[0], "automation_account"), entry[1].automation_account
        return ("automation_account",), self.automation_account

    def _subscription_entry(self, subscription_id: str) -> tuple[int, SubscriptionEntry] | None:
        if not isinstance(self.subscriptions, list):
            return None
        wanted = subscription_id.lower()
        for index, entry in enumerate(self.subscriptions):
            if entry.id.lower() == wanted:
                return index, entry
        return None

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

    def desired_for(self, vault: VaultId, entry: VaultEntry | None = None) -> DesiredState:
        """The state a vault's mappings are driven to: its entry's overrides, else its
        subscription's account, else the top level's; a template filled for the vault.

        Raises ValueError when a template fills to something that is not an account id.
        """
        action = (entry.action if entry else None) or self.action
        if action is Action.DISABLE:
            return DesiredState(action, None, self.authentication_type)
        own = entry.automation_account if entry else None
        sub = self._subscription_entry(vault.subscription_id)
        account = own or (sub[1].automation_account if sub else None) or self.automation_account
        if account is not None and account != KEEP_ACCOUNT and is_template(account):
            account = filled_account(account, vault)
        kind = (entry.authentication_type if entry else None) or self.authentication_type
        return DesiredState(action, account, kind)

    def vault_targets(self) -> list[VaultTarget]:
        """The explicit vaults in file order, each with its overrides resolved."""
        return [
            VaultTarget(VaultId.parse(entry.id), self.desired_for(VaultId.parse(entry.id), entry))
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

    def warnings(self) -> tuple[tuple[str, str], ...]:
        """Accepted but doubtful settings: (code, message naming the key path)."""
        found: list[tuple[str, str]] = []
        run_as = AuthenticationType.RUN_AS_ACCOUNT
        retired = "RunAsAccount is retired by Azure; prefer SystemAssignedIdentity"
        if self.authentication_type is run_as:
            found.append(("run_as_account_retired", f"authentication_type: {retired}"))
        top_account_used = self.action is Action.ENABLE and self.subscriptions is not None
        for index, vault in enumerate(self.vaults):
            action = vault.action or self.action
            if vault.authentication_type is run_as:
                found.append(
                    ("run_as_account_retired", f"vaults[{index}].authentication_type: {retired}")
                )
            if action is Action.DISABLE and vault.automation_account is not None:
                message = (
                    f"vaults[{index}].automation_account: ignored, the vault's action is disable"
                )
                found.append(("config_key_ignored", message))
            top_account_used |= action is Action.ENABLE and vault.automation_account is None
        if self.automation_account is not None and not top_account_used:
            found.append(("config_key_ignored", "automation_account: ignored, no target enables"))
        if self.managed_identity_client_id is not None and self.credential not in TAKES_CLIENT_ID:
            message = (
                f"managed_identity_client_id: ignored with credential {self.credential.value}"
                " (it applies to managed_identity and default)"
            )
            found.append(("config_key_ignored", message))
        found.extend(self._limit_warnings())
        return tuple(found)

    def _limit_warnings(self) -> Iterator[tuple[str, str]]:
        for kind, quota, asr in (
            ("set", self.limits.set, ASR_SET_QUOTA),
            ("get", self.limits.get, ASR_GET_QUOTA),
        ):
            if quota.calls / quota.per_seconds > asr.calls / asr.per_seconds:
                yield (
                    "limits_above_asr",
                    f"limits.{kind}: {quota.calls} per {quota.per_seconds:g} s is more than ASR "
                    f"allows ({asr.calls} per {asr.per_seconds:g} s): expect 429s",
                )


def _duplicates(field: str, keys: Sequence[str]) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for index, key in enumerate(keys):
        if key in first:
            yield Problem((field, index, "id"), f"duplicate of {field}[{first[key]}]")
        else:
            first[key] = index


def config_json_schema() -> dict[str, Any]:
    """The config file's JSON Schema, its ``emulator`` block a reference to the emulator's."""
    return with_emulator_reference(Config.model_json_schema())
