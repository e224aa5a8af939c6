"""Discovery: the Recovery Services vaults of the configured subscriptions (or of all of them).

A subscription that is not ``Enabled`` (``Disabled``, ``Warned``, ``PastDue``, ``Deleted``) is
left alone with a warning; one that cannot be listed is reported with its error and does not
stop the others. A ``resource_groups`` or ``exclude`` entry that matched no vault found is a
warning (``filter_matched_nothing``): a typo must not end a run green and empty.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import structlog

from orchestrator.arm.api import LISTING_PRIORITY, ArmApi
from orchestrator.asr.targets import SubscriptionTarget, VaultId
from orchestrator.errors import ArmError, ArmResponseError
from orchestrator.work.outcomes import ErrorInfo, Notice, SubscriptionStatus

VAULTS_API_VERSION: Final = "2023-04-01"
SUBSCRIPTIONS_API_VERSION: Final = "2022-12-01"
ENABLED: Final = "enabled"
MAX_DISCOVERY_PAGES: Final = 10_000

_log = structlog.get_logger("orchestrator.discovery")


@dataclass(frozen=True, slots=True)
class SubscriptionFound:
    """One subscription searched: its state, whether its vaults could be listed, how many."""

    id: str
    status: SubscriptionStatus
    state: str | None = None
    error: ErrorInfo | None = None
    vaults_found: int = 0


@dataclass(slots=True)
class Discovered:
    """What discovery found: the admitted vaults, one entry per subscription, the warnings."""

    vaults: list[VaultId] = field(default_factory=list)
    subscriptions: list[SubscriptionFound] = field(default_factory=list)


async def discover(
    client: ArmApi,
    targets: Sequence[SubscriptionTarget] | Literal["all"],
    notice: Callable[[Notice], None],
) -> Discovered:
    """Every admitted vault of the targeted subscriptions, and one entry per subscription."""
    found = Discovered()
    if targets == "all":
        try:
            states = await list_subscriptions(client)
        except ArmError as exc:
            _log.error("subscriptions_unlisted", code=exc.code, message=exc.message)
            error = ErrorInfo.from_error(exc)
            found.subscriptions.append(
                SubscriptionFound("all", SubscriptionStatus.ERROR, error=error)
            )
            return found
        targets = [SubscriptionTarget(s, None, frozenset()) for s in states]
    else:
        states = {}
    results = await asyncio.gather(
        *(_discover_one(client, target, states, notice) for target in targets)
    )
    for vaults, entry in results:
        found.vaults.extend(vaults)
        found.subscriptions.append(entry)
    return found


async def list_subscriptions(client: ArmApi) -> dict[str, str | None]:
    """The id and state of every subscription the credential can see, in listing order."""
    url = client.url("/subscriptions", api_version=SUBSCRIPTIONS_API_VERSION)
    states: dict[str, str | None] = {}
    async for page in client.pages(url, subscription_id="", max_pages=MAX_DISCOVERY_PAGES):
        for item in page:
            states[_subscription_id(item)] = _state(item)
    _log.info("subscriptions_listed", count=len(states))
    return states


async def _discover_one(
    client: ArmApi,
    target: SubscriptionTarget,
    states: dict[str, str | None],
    notice: Callable[[Notice], None],
) -> tuple[list[VaultId], SubscriptionFound]:
    sub = target.subscription_id
    with structlog.contextvars.bound_contextvars(subscription_id=sub):
        state = states[sub] if sub in states else await _read_state(client, sub)
        if state is not None and state.lower() != ENABLED:
            message = f"subscription {sub} is {state}, not Enabled: its vaults are left alone"
            _log.warning("subscription_not_enabled", state=state)
            notice(Notice(code="subscription_not_enabled", message=message))
            return [], SubscriptionFound(sub, SubscriptionStatus.SKIPPED, state=state)
        try:
            found = await _list_vaults(client, sub)
        except ArmError as exc:
            _log.warning("subscription_failed", code=exc.code, message=exc.message)
            error = ErrorInfo.from_error(exc)
            return [], SubscriptionFound(sub, SubscriptionStatus.ERROR, state=state, error=error)
        admitted = [vault for vault in found if target.admits(vault)]
        for warning in unmatched_filters(target, found):
            _log.warning("filter_matched_nothing", detail=warning)
            notice(Notice(code="filter_matched_nothing", message=warning))
        _log.info("subscription_listed", vaults_found=len(found), vaults_targeted=len(admitted))
        entry = SubscriptionFound(sub, SubscriptionStatus.OK, state=state, vaults_found=len(found))
        return admitted, entry


def unmatched_filters(target: SubscriptionTarget, found: Sequence[VaultId]) -> list[str]:
    """The subscription's ``resource_groups`` and ``exclude`` entries that matched no vault."""
    sub = target.subscription_id
    groups = {vault.resource_group.lower() for vault in found}
    names = {vault.name.lower() for vault in found} | {vault.key for vault in found}
    problems = [
        f"subscription {sub}: resource group {group!r} holds no Recovery Services vault"
        for group in sorted(target.resource_groups or ())
        if group not in groups
    ]
    problems += [
        f"subscription {sub}: exclude entry {entry!r} matched no vault found"
        for entry in sorted(target.exclude)
        if entry not in names
    ]
    return problems


async def _read_state(client: ArmApi, subscription_id: str) -> str | None:
    """The subscription's state, or None when it cannot be read (its listing then says more)."""
    url = client.url(f"/subscriptions/{subscription_id}", api_version=SUBSCRIPTIONS_API_VERSION)
    try:
        response = await client.get(url, subscription_id=subscription_id, priority=LISTING_PRIORITY)
    except ArmError:
        return None
    return _state(response.body) if response.status == 200 else None


async def _list_vaults(client: ArmApi, subscription_id: str) -> list[VaultId]:
    path = f"/subscriptions/{subscription_id}/providers/Microsoft.RecoveryServices/vaults"
    url = client.url(path, api_version=VAULTS_API_VERSION)
    vaults: list[VaultId] = []
    pages = client.pages(url, subscription_id=subscription_id, max_pages=MAX_DISCOVERY_PAGES)
    async for page in pages:
        vaults.extend(_vault_id(item) for item in page)
    return vaults


def _vault_id(item: Any) -> VaultId:
    raw = item.get("id") if isinstance(item, dict) else None
    if not isinstance(raw, str):
        raise ArmResponseError("a listed vault has no 'id' string")
    try:
        return VaultId.parse(raw)
    except ValueError as exc:
        raise ArmResponseError(f"a listed vault id is not a vault id: {exc}") from exc


def _subscription_id(item: Any) -> str:
    raw = item.get("subscriptionId") if isinstance(item, dict) else None
    if not isinstance(raw, str) or not raw:
        raise ArmResponseError("a listed subscription has no 'subscriptionId' string")
    return raw


def _state(item: Any) -> str | None:
    state = item.get("state") if isinstance(item, dict) else None
    return state if isinstance(state, str) and state else None
