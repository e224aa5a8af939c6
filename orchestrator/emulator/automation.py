"""Automation accounts: the ones the emulator serves, and what an enable naming one leads to.

The fleet's own account (`fleet_automation_account`) exists with a system-assigned identity that
has rights on every vault, unless ``automation_accounts`` says otherwise; declarations are applied
in order, so a later one with the same id replaces an earlier one. With
``check_automation_accounts: false`` every well-formed id counts as an existing, fit account.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from orchestrator.emulator.fleet import SYSTEM_ASSIGNED_IDENTITY, Fleet
from orchestrator.emulator.fleet_spec import FleetSpec
from orchestrator.emulator.payloads import JsonObject
from orchestrator.emulator.routes import arm_key
from orchestrator.emulator.spec_parts import FLEET_ACCOUNT, AutomationAccountSpec

ACCOUNT_TYPE: Final = "Microsoft.Automation/AutomationAccounts"  # as the REST example spells it
_CREATED: Final = "2025-03-26T01:13:43.267+00:00"
_SYSTEM: Final = ("SystemAssigned", "SystemAssigned, UserAssigned")


class Verdict(StrEnum):
    """What an enable naming an account leads to."""

    FIT = "fit"
    MISSING = "missing"  # the operation fails
    NO_RIGHTS = "no_rights"  # succeeds, then the mapping is unhealthy
    NO_IDENTITY = "no_identity"  # likewise (SystemAssignedIdentity asked)


@dataclass(frozen=True, slots=True)
class AutomationAccount:
    """An Automation account the emulator serves."""

    id: str
    name: str
    resource_group: str
    location: str
    identity: str | None  # identity.type; None: the answer has no `identity`
    rights_on_vaults: bool
    readable: bool

    @property
    def has_system_identity(self) -> bool:
        """Whether its identity includes a system-assigned one."""
        return self.identity in _SYSTEM


def _account(account_id: str, declared: AutomationAccountSpec) -> AutomationAccount:
    parts = account_id.strip("/").split("/")
    return AutomationAccount(
        id=account_id,
        name=parts[-1],
        resource_group=parts[3],
        location=declared.location,
        identity=declared.identity,
        rights_on_vaults=declared.rights_on_vaults,
        readable=declared.readable,
    )


def _expand(declared: AutomationAccountSpec, fleet: Fleet) -> list[str]:
    """The ids a declaration names: one, or one per subscription or per vault."""
    template = declared.id
    if template == FLEET_ACCOUNT:
        return [fleet.automation_account]
    if "{vault}" in template or "{resource_group}" in template:
        return [
            template.format(
                subscription_id=v.subscription_id, resource_group=v.resource_group, vault=v.name
            )
            for v in fleet.vaults.values()
        ]
    if "{subscription_id}" in template:
        return [template.format(subscription_id=s.id) for s in fleet.subscriptions]
    return [template]


class AutomationAccounts:
    """The accounts of one emulated world, by lower-cased id."""

    __slots__ = ("_accounts", "checked")

    def __init__(self, spec: FleetSpec, fleet: Fleet) -> None:
        self.checked = spec.check_automation_accounts
        self._accounts: dict[str, AutomationAccount] = {}
        for declared in (AutomationAccountSpec(id=FLEET_ACCOUNT), *spec.automation_accounts):
            for account_id in _expand(declared, fleet):
                self._accounts[arm_key(account_id)] = _account(account_id, declared)

    def __repr__(self) -> str:
        return f"AutomationAccounts(accounts={len(self._accounts)}, checked={self.checked})"

    def __len__(self) -> int:
        return len(self._accounts)

    def get(self, account_id: str) -> AutomationAccount | None:
        """The account with this id (any case); unchecked, any id is a fit account."""
        found = self._accounts.get(arm_key(account_id))
        if found is None and not self.checked:
            return _account(account_id.rstrip("/"), AutomationAccountSpec(id=FLEET_ACCOUNT))
        return found

    def verdict(self, account_id: str, auth_type: str | None) -> Verdict:
        """What enabling auto-update with this account and authentication type leads to."""
        account = self.get(account_id)
        if account is None:
            return Verdict.MISSING
        if auth_type == SYSTEM_ASSIGNED_IDENTITY and not account.has_system_identity:
            return Verdict.NO_IDENTITY
        return Verdict.FIT if account.rights_on_vaults else Verdict.NO_RIGHTS


def _identity_json(account: AutomationAccount, tenant_id: str) -> JsonObject:
    identity: JsonObject = {"type": account.identity}
    if account.has_system_identity:
        identity["principalId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, arm_key(account.id)))
        identity["tenantId"] = tenant_id
    if account.identity is not None and "UserAssigned" in account.identity:
        user = f"{account.id.rsplit('/providers/', 1)[0]}/providers/Microsoft.ManagedIdentity"
        identity["userAssignedIdentities"] = {
            f"{user}/userAssignedIdentities/{account.name}-identity": {
                "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, arm_key(account.id) + "#ua")),
                "clientId": str(uuid.uuid5(uuid.NAMESPACE_URL, arm_key(account.id) + "#client")),
            }
        }
    return identity


def account_json(account: AutomationAccount, tenant_id: str, tidy: bool) -> JsonObject:
    """An account as ``AutomationAccount_Get`` (2023-11-01) returns it."""
    body: JsonObject = {
        "id": account.id,
        "name": account.name,
        "type": ACCOUNT_TYPE,
        "location": account.location,
        "tags": {},
        "properties": {
            "sku": {"name": "Basic"}
            if tidy
            else {"name": "Basic", "family": None, "capacity": None},
            "state": "Ok",
            "creationTime": _CREATED,
            "lastModifiedTime": _CREATED,
            "disableLocalAuth": False,
            "publicNetworkAccess": True,
        },
    }
    if not tidy:
        body["etag"] = None
    if account.identity is not None:
        body["identity"] = _identity_json(account, tenant_id)
    return body
