"""Listing a vault: its container mappings (the short way or the long way), its replicated items.

The short way is the vault-level list, ``GET {vault}/replicationProtectionContainerMappings``.
Microsoft's built-in *Site Recovery Contributor* role does not grant it; when it answers 403,
the vault is listed the long way — its fabrics, each fabric's containers, each container's
mappings — and says so (``listed_via: containers``). Every list is paged, every page a get that
goes before polls but never into the get budget's reserve, and a listing that never ends is cut
off at ``max_pages`` pages per vault (``too_many_pages``), counted over all its lists.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Final

from orchestrator.arm.api import ArmApi
from orchestrator.errors import ArmHttpError, ArmResponseError
from orchestrator.work.outcomes import ListedVia

MAPPINGS: Final = "replicationProtectionContainerMappings"
FABRICS: Final = "replicationFabrics"
CONTAINERS: Final = "replicationProtectionContainers"
PROTECTED_ITEMS: Final = "replicationProtectedItems"


@dataclass(slots=True)
class PageBudget:
    """Pages one vault may still read (every list of the vault counts)."""

    left: int
    used: int = field(default=0)

    def take(self) -> None:
        if self.left <= 0:
            raise ArmResponseError(
                f"the vault's listing did not end: stopped after {self.used} pages",
                code="too_many_pages",
            )
        self.left -= 1
        self.used += 1


class VaultLister:
    """Lists one vault's mappings or replicated items through ``client``."""

    __slots__ = ("_budget", "_client", "_reserve", "_subscription_id", "_vault_id", "via")

    def __init__(
        self,
        client: ArmApi,
        vault_id: str,
        subscription_id: str,
        *,
        max_pages: int,
        reserve: int,
        via: ListedVia | None = None,
    ) -> None:
        self._client = client
        self._vault_id = vault_id
        self._subscription_id = subscription_id
        self._budget = PageBudget(max_pages)
        self._reserve = reserve
        self.via = via  # how the mappings were (or are to be) listed; None: not yet tried

    def __repr__(self) -> str:
        return f"<VaultLister {self._vault_id} via={self.via}>"

    async def mappings(self) -> AsyncIterator[list[Any]]:
        """Each page of the vault's mappings; the vault-level list first, unless refused.

        Only a 403 on the vault-level list's *first* page sends it the long way; a later
        page's error is the vault's failure.
        """
        if self.via is not ListedVia.CONTAINERS:
            started = False
            try:
                async for page in self._pages(f"{self._vault_id}/{MAPPINGS}"):
                    started = True
                    self.via = ListedVia.VAULT
                    yield page
                return
            except ArmHttpError as exc:
                if exc.status != 403 or started or self.via is ListedVia.VAULT:
                    raise
            self.via = ListedVia.CONTAINERS
        async for container in self._containers():
            async for page in self._pages(f"{container}/{MAPPINGS}"):
                yield page

    async def protected_items(self) -> AsyncIterator[list[Any]]:
        """Each page of the vault's replicated items, the way its mappings were listed."""
        if self.via is ListedVia.CONTAINERS:
            async for container in self._containers():
                async for page in self._pages(f"{container}/{PROTECTED_ITEMS}"):
                    yield page
            return
        async for page in self._pages(f"{self._vault_id}/{PROTECTED_ITEMS}"):
            yield page

    async def _containers(self) -> AsyncIterator[str]:
        """The id of every protection container of every fabric of the vault."""
        fabrics = [
            _item_id(item, self._vault_id)
            async for page in self._pages(f"{self._vault_id}/{FABRICS}")
            for item in page
        ]
        for fabric in fabrics:
            async for page in self._pages(f"{fabric}/{CONTAINERS}"):
                for item in page:
                    yield _item_id(item, fabric)

    async def _pages(self, path: str) -> AsyncIterator[list[Any]]:
        """The pages of one list, each taken from the vault's page budget."""
        pages = self._client.pages(
            self._client.url(path),
            subscription_id=self._subscription_id,
            max_pages=self._budget.left + 1,  # the budget itself says when the vault is done
            reserve=self._reserve,
        )
        async for page in pages:
            self._budget.take()
            yield page


def _item_id(item: Any, parent: str) -> str:
    """A listed child's ARM id; it must lie under ``parent`` (a server may not redirect us)."""
    raw = item.get("id") if isinstance(item, dict) else None
    if not isinstance(raw, str) or not raw.strip():
        raise ArmResponseError(f"a resource listed under {parent} has no 'id' string")
    if not raw.lower().startswith(parent.lower().rstrip("/") + "/") or "/../" in raw or "?" in raw:
        raise ArmResponseError(f"a listed resource {raw!r} is not under {parent}")
    return raw.rstrip("/")
