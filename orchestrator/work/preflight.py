"""Automation account preflight: each account a run would set is read once, before it is used.

The two most common failures in Microsoft's troubleshooting of agent auto-update are an
Automation account that does not exist and one without the system-assigned identity that
``SystemAssignedIdentity`` needs. Both are cheap to see with one GET of the account, and costly
to learn from hundreds of PATCHes. So the first change that would use an account waits for its
read (concurrent ones share it); a missing account or a missing identity fails every mapping
that would use it, unsent. An account this run may not read (403) is used unchecked, with a
warning naming it and the role that would let the run read it; so is one whose read failed.

An account may be read ahead (:meth:`AccountChecks.read_ahead`), before any change is known to
use it: then the run's first change need not wait for a read queued behind the fleet's
listings. What such a read found is said (logged, warned of) only once a change uses the
account, so a read ahead that no change needed shows in nothing but the count of GETs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

import structlog

from orchestrator.arm.api import ArmApi
from orchestrator.asr.desired import Action, AuthenticationType, DesiredSettings
from orchestrator.asr.targets import VaultTarget
from orchestrator.errors import ArmError
from orchestrator.work.outcomes import ErrorInfo, Notice

ACCOUNT_API_VERSION: Final = "2023-11-01"
NOT_FOUND: Final = "automation_account_not_found"
IDENTITY_MISSING: Final = "automation_account_identity_missing"
UNREADABLE: Final = "automation_account_unreadable"
UNCHECKED: Final = "automation_account_unchecked"

_log = structlog.get_logger("orchestrator.preflight")


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What one read of an account found: whether it exists, and its identity's type."""

    exists: bool
    identity_type: str | None = None
    unchecked: tuple[str, str] | None = None  # it could not be read: (warning code, why)


class AccountChecks:
    """Reads each Automation account once (single-flight) and judges each change against it."""

    __slots__ = ("_client", "_facts", "_notice", "_priority", "_told")

    def __init__(
        self, client: ArmApi, notice: Callable[[Notice], None], *, priority: float = -1.0
    ) -> None:
        self._client = client
        self._notice = notice  # where warnings go (the run's warnings)
        self._priority = priority
        self._facts: dict[str, asyncio.Future[AccountFacts]] = {}  # lower-cased id -> its read
        self._told: set[str] = set()  # lower-cased ids whose read a change used, and was said

    def __repr__(self) -> str:
        return f"<AccountChecks accounts={len(self._facts)} used={len(self._told)}>"

    def read_ahead(self, account: str | None) -> None:
        """Start reading ``account`` now, before any change is known to use it (once).

        Read on first use, the first account would queue behind the fleet's listings, and the
        run's first PATCH behind it (:func:`first_account`). Ahead, it costs one read that no
        change may need; every other account is read on first use.
        """
        if account is not None:
            self._read_once(account)

    async def refusal_of(self, desired: DesiredSettings | None) -> ErrorInfo | None:
        """Why a change to ``desired`` must not be sent (its account refused), or None."""
        if desired is None or desired.automation_account_arm_id is None:
            return None
        return await self.refusal(desired.automation_account_arm_id, desired.authentication_type)

    async def refusal(self, account: str, authentication_type: str | None) -> ErrorInfo | None:
        """Why a change using ``account`` must not be sent, or None to send it."""
        facts = await asyncio.shield(self._read_once(account))
        if account.lower() not in self._told:
            self._told.add(account.lower())
            self._tell(account, facts)
        if facts.unchecked is not None:
            return None
        if not facts.exists:
            return ErrorInfo(
                code=NOT_FOUND,
                message=f"the Automation account {account} does not exist (checked before any "
                "PATCH that would use it)",
            )
        wants_identity = authentication_type == AuthenticationType.SYSTEM_ASSIGNED_IDENTITY
        if wants_identity and "systemassigned" not in (facts.identity_type or "").lower():
            return ErrorInfo(
                code=IDENTITY_MISSING,
                message=f"the Automation account {account} has no system-assigned identity "
                f"(identity type {facts.identity_type or 'none'}), which "
                "SystemAssignedIdentity needs: turn it on and give it a role on the vault",
            )
        return None

    def _read_once(self, account: str) -> asyncio.Future[AccountFacts]:
        key = account.lower()
        future = self._facts.get(key)
        if future is None:
            future = asyncio.ensure_future(self._read(account))
            self._facts[key] = future
        return future

    async def _read(self, account: str) -> AccountFacts:
        subscription_id = _subscription_of(account)
        url = self._client.url(account, api_version=ACCOUNT_API_VERSION)
        try:
            response = await self._client.get(
                url, subscription_id=subscription_id, priority=self._priority
            )
        except ArmError as exc:
            return AccountFacts(True, unchecked=(UNCHECKED, f"{exc.code}: {exc.message}"))
        if response.status == 200:
            return AccountFacts(True, _identity_type(response.body))
        if response.status == 404:
            return AccountFacts(False)
        if response.status == 403:
            why = (
                "this run's identity may not read it (403); give it `Reader` on the account "
                "so the run can check the account before using it"
            )
            return AccountFacts(True, unchecked=(UNREADABLE, why))
        return AccountFacts(
            True, unchecked=(UNCHECKED, f"reading it answered HTTP {response.status}")
        )

    def _tell(self, account: str, facts: AccountFacts) -> None:
        """Say what the read of ``account`` found: the first time a change uses it."""
        if facts.unchecked is not None:
            code, why = facts.unchecked
            _log.warning(code, account=account, detail=why)
            self._notice(
                Notice(code=code, message=f"Automation account {account} was not checked: {why}")
            )
        elif facts.exists:
            _log.info("automation_account_checked", identity_type=facts.identity_type)
        else:
            _log.warning(NOT_FOUND, account=account)


def first_account(targets: Iterable[VaultTarget]) -> str | None:
    """The Automation account the first target's changes would set, worth reading ahead."""
    target = next(iter(targets), None)
    if target is None or target.problem is not None:
        return None
    desired = target.desired
    if desired.action is not Action.ENABLE or desired.keeps_account:
        return None
    return desired.automation_account


def _identity_type(body: Any) -> str | None:
    identity = body.get("identity") if isinstance(body, dict) else None
    kind = identity.get("type") if isinstance(identity, dict) else None
    return kind if isinstance(kind, str) else None


def _subscription_of(arm_id: str) -> str:
    parts = arm_id.strip("/").split("/")
    return parts[1] if len(parts) > 1 and parts[0].lower() == "subscriptions" else ""
