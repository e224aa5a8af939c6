"""One azure-identity credential per run, and single-flight token requests for the run's scope.

azure-identity's credentials do not de-duplicate concurrent cold ``get_token`` calls: a fleet
that fans out over hundreds of vaults would send hundreds of token requests at once.
:class:`TokenProvider` keeps one token per scope and lets exactly one request fetch it.

azure-identity (with MSAL, requests and cryptography under it) is imported when a credential is
built, not with this module: the config names the credential kinds, and ``validate``, ``schema``
and ``report`` never authenticate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Final, assert_never

from orchestrator.errors import AuthenticationError, StaleTokenError
from orchestrator.secrets import Secrets

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken
    from azure.core.credentials_async import AsyncTokenCredential

# Refresh a token this long before it expires, so no request leaves with one about to lapse;
# a short-lived token is refreshed at half its life instead.
REFRESH_MARGIN_SECONDS: Final = 300.0


class CredentialKind(StrEnum):
    """The azure-identity credentials a run can use (the config's ``credential``)."""

    DEFAULT = "default"
    MANAGED_IDENTITY = "managed_identity"
    AZURE_CLI = "azure_cli"
    ENVIRONMENT = "environment"
    WORKLOAD_IDENTITY = "workload_identity"


# The kinds that take a user-assigned identity's client id.
TAKES_CLIENT_ID: Final = frozenset({CredentialKind.MANAGED_IDENTITY, CredentialKind.DEFAULT})


def build_credential(
    kind: CredentialKind, *, authority_host: str, managed_identity_client_id: str | None
) -> AsyncTokenCredential:
    """The azure-identity async credential of ``kind``.

    Raises :class:`AuthenticationError` when the credential cannot even be built (a workload
    identity without its environment variables, for example).
    """
    from azure.core.exceptions import AzureError
    from azure.identity.aio import (
        AzureCliCredential,
        DefaultAzureCredential,
        EnvironmentCredential,
        ManagedIdentityCredential,
        WorkloadIdentityCredential,
    )

    try:
        match kind:
            case CredentialKind.MANAGED_IDENTITY:
                return ManagedIdentityCredential(client_id=managed_identity_client_id)
            case CredentialKind.AZURE_CLI:
                return AzureCliCredential()
            case CredentialKind.ENVIRONMENT:
                return EnvironmentCredential(authority=authority_host)
            case CredentialKind.WORKLOAD_IDENTITY:
                return WorkloadIdentityCredential(authority=authority_host)
            case CredentialKind.DEFAULT:
                return DefaultAzureCredential(
                    authority=authority_host, managed_identity_client_id=managed_identity_client_id
                )
            case _:
                assert_never(kind)
    except (ValueError, AzureError) as exc:
        raise AuthenticationError(kind.value, str(exc)) from exc


class TokenProvider:
    """Hands out bearer tokens for one scope; concurrent callers share one in-flight request.

    A token ARM rejected as expired is never handed out again, whatever its own expiry says
    (the credential's cache trusts that expiry, ARM's clock may not): asking for a token while
    the credential still returns only rejected ones raises :class:`StaleTokenError`, saying how
    long until that token's own expiry (when the cache lets it go). Every token obtained is
    added to ``secrets``, so no output ever shows it.
    """

    __slots__ = (
        "_clock",
        "_credential",
        "_inflight",
        "_margin",
        "_obtained_at",
        "_rejected",
        "_secrets",
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
        secrets: Secrets | None = None,
    ) -> None:
        self.scope = scope
        self.credential_name = credential_name
        self._credential = credential
        self._margin = refresh_margin
        self._clock = clock  # wall-clock epoch seconds: tokens' expires_on is epoch time
        self._secrets = secrets if secrets is not None else Secrets()
        self._token: AccessToken | None = None  # the last token obtained
        self._obtained_at = 0.0  # when it was obtained (clock)
        self._rejected: set[str] = set()  # tokens ARM called expired: never handed out again
        self._inflight: asyncio.Future[AccessToken] | None = None  # the one request under way

    def __repr__(self) -> str:
        state = "cold" if self._token is None else f"expires_on={self._token.expires_on}"
        return f"<TokenProvider scope={self.scope!r} credential={self.credential_name!r} {state}>"

    async def token(self) -> str:
        """A valid bearer token; fetches one only when there is none or it is about to expire.

        Raises AuthenticationError (StaleTokenError: the credential only has a rejected one).
        """
        current = self._token
        if current is None or not self._fresh(current) or current.token in self._rejected:
            current = await self._fetch()  # a rejected token: the credential may have another
        if current.token in self._rejected:
            raise StaleTokenError(
                self.credential_name, expires_in=current.expires_on - self._clock()
            )
        return current.token

    async def refresh(self, rejected: str) -> str:
        """A token other than ``rejected`` (which the server called expired), fetching one if needed.

        Raises StaleTokenError while the credential keeps returning rejected tokens.
        """
        self._rejected.add(rejected)
        current = self._token
        if current is not None and current.token not in self._rejected and self._fresh(current):
            return current.token
        return await self.token()

    async def close(self) -> None:
        await self._credential.close()

    def _fresh(self, token: AccessToken) -> bool:
        lifetime = max(token.expires_on - self._obtained_at, 0.0)
        margin = min(self._margin, lifetime / 2)
        return token.expires_on - margin > self._clock()

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
            self._obtained_at = self._clock()

    async def _request(self) -> AccessToken:
        from azure.core.exceptions import AzureError  # what any azure credential raises

        try:
            token = await self._credential.get_token(self.scope)
        except AzureError as exc:
            raise AuthenticationError(self.credential_name, _first_line(str(exc))) from exc
        self._secrets.add(token.token)
        return token


def _first_line(text: str) -> str:
    # azure-identity's messages run to many lines of troubleshooting links; the first says what failed.
    return text.strip().splitlines()[0] if text.strip() else "no detail given"
