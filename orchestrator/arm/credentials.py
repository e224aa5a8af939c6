"""One azure-identity credential per run, and single-flight token requests for the run's scope.

azure-identity's credentials do not de-duplicate concurrent cold ``get_token`` calls: a fleet
that fans out over hundreds of vaults would send hundreds of token requests at once.
:class:`TokenProvider` keeps one token per scope and lets exactly one request fetch it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final

from azure.core.credentials import AccessToken
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import AzureError
from azure.identity.aio import (
    AzureCliCredential,
    DefaultAzureCredential,
    EnvironmentCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)

from orchestrator.errors import AuthenticationError, StaleTokenError

# Refresh a token this long before it expires, so no request leaves with one about to lapse.
REFRESH_MARGIN_SECONDS: Final = 300.0


def build_credential(
    kind: str, *, authority_host: str, managed_identity_client_id: str | None
) -> AsyncTokenCredential:
    """The azure-identity async credential named by the config's ``credential`` key.

    Raises :class:`AuthenticationError` when the credential cannot even be built (a workload
    identity without its environment variables, for example).
    """
    try:
        if kind == "managed_identity":
            return ManagedIdentityCredential(client_id=managed_identity_client_id)
        if kind == "azure_cli":
            return AzureCliCredential()
        if kind == "environment":
            return EnvironmentCredential(authority=authority_host)
        if kind == "workload_identity":
            return WorkloadIdentityCredential(authority=authority_host)
        return DefaultAzureCredential(
            authority=authority_host, managed_identity_client_id=managed_identity_client_id
        )
    except (ValueError, AzureError) as exc:
        raise AuthenticationError(kind, str(exc)) from exc


class TokenProvider:
    """Hands out bearer tokens for one scope; concurrent callers share one in-flight request."""

    __slots__ = (
        "_clock",
        "_credential",
        "_inflight",
        "_margin",
        "_token",
        "credential_name",
        "scope",
    )

    def __init__(
        self,
        credential: AsyncTokenCredential,
        scope: str,
        *,
        credential_name: str,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.scope = scope
        self.credential_name = credential_name
        self._credential = credential
        self._margin = refresh_margin
        self._clock = clock  # wall-clock epoch seconds: tokens' expires_on is epoch time
        self._token: AccessToken | None = None  # the last token obtained
        self._inflight: asyncio.Future[AccessToken] | None = None  # the one request under way

    def __repr__(self) -> str:
        state = "cold" if self._token is None else f"expires_on={self._token.expires_on}"
        return f"<TokenProvider scope={self.scope!r} credential={self.credential_name!r} {state}>"

    async def token(self) -> str:
        """A valid bearer token; fetches one only when there is none or it is about to expire."""
        current = self._token
        if current is not None and current.expires_on - self._margin > self._clock():
            return current.token
        return (await self._fetch()).token

    async def refresh(self, rejected: str) -> str:
        """A token other than ``rejected`` (which the server called expired), fetching one if needed."""
        current = self._token
        if current is not None and current.token != rejected:
            return current.token
        self._token = None
        fresh = await self._fetch()
        if fresh.token == rejected:
            raise StaleTokenError(self.credential_name)
        return fresh.token

    async def close(self) -> None:
        await self._credential.close()

    async def _fetch(self) -> AccessToken:
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._request())
            self._inflight.add_done_callback(self._forget_inflight)
        return await asyncio.shield(self._inflight)

    def _forget_inflight(self, future: asyncio.Future[AccessToken]) -> None:
        if self._inflight is future:
            self._inflight = None
        if not future.cancelled() and future.exception() is None:
            self._token = future.result()

    async def _request(self) -> AccessToken:
        try:
            return await self._credential.get_token(self.scope)
        except AzureError as exc:
            raise AuthenticationError(self.credential_name, _first_line(str(exc))) from exc


def _first_line(text: str) -> str:
    # azure-identity's messages run to many lines of troubleshooting links; the first says what failed.
    return text.strip().splitlines()[0] if text.strip() else "no detail given"
