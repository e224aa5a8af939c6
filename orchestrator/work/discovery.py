"""Discovery: the Recovery Services vaults of the configured subscriptions (or of all of them).

A subscription that cannot be listed is reported with its error and does not stop the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Final, Literal

import structlog

from orchestrator.arm.client import ArmClient
from orchestrator.asr.targets import SubscriptionTarget, VaultId
from orchestrator.errors import ArmError, ArmResponseError
from orchestrator.output.report import ErrorInfo, SubscriptionReport, VaultStatus

VAULTS_API_VERSION: Final = "2023-04-01"
SUBSCRIPTIONS_API_VERSION: Final = "2022-12-01"

_log = structlog.get_logger("orchestrator.work.discovery")


async def discover(
    client: ArmClient, targets: Sequence[SubscriptionTarget] | Literal["all"]
) -> tuple[list[VaultId], list[SubscriptionReport]]:
    """Every admitted vault of the targeted subscriptions, and one report entry per subscription."""
    if targets == "all":
        try:
            subscription_ids = await list_subscriptions(client)
        except ArmError as exc:
            _log.error("subscriptions_unlisted", code=exc.code)
            report = SubscriptionReport(
                id="all", status=VaultStatus.ERROR, error=ErrorInfo.from_error(exc), vaults_found=0
            )
            return [], [report]
        targets = [SubscriptionTarget(s, None, frozenset()) for s in subscription_ids]
    results = await asyncio.gather(*(_discover_one(client, t) for t in targets))
    vaults = [vault for found, _ in results for vault in found]
    return vaults, [report for _, report in results]


async def list_subscriptions(client: ArmClient) -> list[str]:
    """The ids of every subscription the credential can see."""
    url = client.url("/subscriptions", api_version=SUBSCRIPTIONS_API_VERSION)
    ids: list[str] = []
    async for page in client.pages(url, subscription_id=""):
        ids.extend(_subscription_id(item) for item in page)
    _log.info("subscriptions_listed", count=len(ids))
    return ids


async def _discover_one(
    client: ArmClient, target: SubscriptionTarget
) -> tuple[list[VaultId], SubscriptionReport]:
    sub = target.subscription_id
    with structlog.contextvars.bound_contextvars(subscription_id=sub):
        try:
            found = await _list_vaults(client, sub)
        except ArmError as exc:
            _log.error("subscription_failed", code=exc.code)
            error = ErrorInfo.from_error(exc)
            return [], SubscriptionReport(
                id=sub, status=VaultStatus.ERROR, error=error, vaults_found=0
            )
        admitted = [vault for vault in found if target.admits(vault)]
        _log.info("subscription_listed", vaults_found=len(found), vaults_targeted=len(admitted))
        report = SubscriptionReport(
            id=sub, status=VaultStatus.OK, error=None, vaults_found=len(found)
        )
        return admitted, report


async def _list_vaults(client: ArmClient, subscription_id: str) -> list[VaultId]:
    path = f"/subscriptions/{subscription_id}/providers/Microsoft.RecoveryServices/vaults"
    url = client.url(path, api_version=VAULTS_API_VERSION)
    vaults: list[VaultId] = []
    async for page in client.pages(url, subscription_id=subscription_id):
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
