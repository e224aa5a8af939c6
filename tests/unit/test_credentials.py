"""Tokens: single-flight fetches, caching until the refresh margin (half life for short-lived
tokens), refresh after a rejection, a rejected token never handed out, every token a secret."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import (
    AzureCliCredential,
    DefaultAzureCredential,
    EnvironmentCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)
from credential_stub import CredentialStub

from orchestrator.arm.credentials import (
    TAKES_CLIENT_ID,
    CredentialKind,
    TokenProvider,
    build_credential,
)
from orchestrator.errors import AuthenticationError, StaleTokenError
from orchestrator.secrets import REDACTED, Secrets

SCOPE = "https://management.core.windows.net//.default"
AUTHORITY = "login.microsoftonline.com"
HOUR = 3600.0


class FakeClock:
    """Wall-clock epoch seconds that move only when told to."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeCredential(CredentialStub):
    """An AsyncTokenCredential handing out scripted tokens; ``gate`` holds every fetch until set."""

    def __init__(
        self,
        tokens: Iterator[str],
        *,
        expires_on: float,
        gate: asyncio.Event | None = None,
        error: Exception | None = None,
    ) -> None:
        self._tokens = tokens
        self._expires_on = expires_on
        self._gate = gate
        self._error = error
        self.calls: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        self.closed = False

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls.append((scopes, kwargs))
        if self._gate is not None:
            await self._gate.wait()
        if self._error is not None:
            raise self._error
        return AccessToken(next(self._tokens), int(self._expires_on))

    async def close(self) -> None:
        self.closed = True


def numbered() -> Iterator[str]:
    n = 0
    while True:
        n += 1
        yield f"token-{n}"


def provider(
    credential: FakeCredential, clock: FakeClock | None = None, secrets: Secrets | None = None
) -> TokenProvider:
    return TokenProvider(
        credential,
        SCOPE,
        credential_name="managed_identity",
        refresh_margin=300.0,
        clock=clock or FakeClock(),
        secrets=secrets,
    )


# The provider asks the credential again only when its cached token is past the refresh margin,
# even after ARM rejected that token as expired: `refresh` then raises StaleTokenError without
async def settle_until_blocked(credential: FakeCredential, calls: int = 1) -> None:
    """Let the event loop run until ``credential`` has been asked ``calls`` times."""
    for _ in range(100):
        if len(credential.calls) >= calls:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"the credential was asked {len(credential.calls)} times, not {calls}")


# --- token() -------------------------------------------------------------------------------------


async def test_fifty_concurrent_cold_callers_make_one_token_request() -> None:
    clock = FakeClock()
    gate = asyncio.Event()
    credential = FakeCredential(numbered(), expires_on=clock.now + HOUR, gate=gate)
    tokens = provider(credential, clock)
    callers = [asyncio.create_task(tokens.token()) for _ in range(50)]
    await settle_until_blocked(credential)
    gate.set()
    assert set(await asyncio.gather(*callers)) == {"token-1"}
    assert len(credential.calls) == 1


async def test_the_token_is_requested_for_the_providers_scope() -> None:
    clock = FakeClock()
    credential = FakeCredential(numbered(), expires_on=clock.now + HOUR)
    await provider(credential, clock).token()
    assert credential.calls == [((SCOPE,), {})]


async def test_a_cached_token_is_reused_while_outside_the_refresh_margin() -> None:
    clock = FakeClock()
    credential = FakeCredential(numbered(), expires_on=clock.now + HOUR)
    tokens = provider(credential, clock)
    first = await tokens.token()
    clock.now += HOUR - 301  # 301 s before expiry: just outside the 300 s margin
    assert await tokens.token() == first
    assert len(credential.calls) == 1


async def test_a_token_within_the_refresh_margin_is_replaced() -> None:
    clock = FakeClock()
    credential = FakeCredential(numbered(), expires_on=clock.now + HOUR)
    tokens = provider(credential, clock)
    await tokens.token()
    clock.now += HOUR - 300  # exactly at the margin
    assert await tokens.token() == "token-2"
    assert len(credential.calls) == 2


async def test_a_cancelled_caller_does_not_cancel_the_shared_request() -> None:
    clock = FakeClock()
    gate = asyncio.Event()
    credential = FakeCredential(numbered(), expires_on=clock.now + HOUR, gate=gate)
    tokens = provider(credential, clock)
    first = asyncio.create_task(tokens.token())
    second = asyncio.create_task(tokens.token())
    await settle_until_blocked(credential)
    first.cancel()
    gate.set()
    assert await second == "token-1"
    assert first.cancelled()
    assert len(credential.calls) == 1


async def test_a_credential_error_becomes_authentication_error_naming_the_credential() -> None:
    error = ClientAuthenticationError(
        "ManagedIdentityCredential authentication unavailable.\nTroubleshoot: https://aka.ms/x"
    )
    credential = FakeCredential(numbered(), expires_on=0, error=error)
    with pytest.raises(AuthenticationError) as raised:
        await provider(credential).token()
    assert raised.value.credential == "managed_identity"
    assert raised.value.detail == "ManagedIdentityCredential authentication unavailable."
    assert raised.value.__cause__ is error


async def test_concurrent_callers_all_see_the_one_failure() -> None:
    gate = asyncio.Event()
    error = ClientAuthenticationError("denied")
    credential = FakeCredential(numbered(), expires_on=0, gate=gate, error=error)
    tokens = provider(credential)
    callers = [asyncio.create_task(tokens.token()) for _ in range(10)]
    await settle_until_blocked(credential)
    gate.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(r, AuthenticationError) for r in results)
    assert len(credential.calls) == 1


async def test_a_failed_request_is_tried_again_by_the_next_caller() -> None:
    credential = FakeCredential(numbered(), expires_on=0, error=ClientAuthenticationError("no"))
    tokens = provider(credential)
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            await tokens.token()
    assert len(credential.calls) == 2


async def test_close_closes_the_credential() -> None:
    credential = FakeCredential(numbered(), expires_on=0)
    await provider(credential).close()
    assert credential.closed


# --- refresh() -----------------------------------------------------------------------------------


async def test_refresh_fetches_a_new_token_once_for_many_concurrent_callers() -> None:
    clock = FakeClock()
    credential = FakeCredential(numbered(), expires_on=clock.now + HOUR)
    tokens = provider(credential, clock)
    rejected = await tokens.token()
    refreshes = [asyncio.create_task(tokens.refresh(rejected)) for _ in range(30)]
    assert set(await asyncio.gather(*refreshes)) == {"token-2"}
    assert len(credential.calls) == 2
    assert await tokens.token() == "token-2"


async def test_refresh_after_someone_else_refreshed_returns_the_newer_token() -> None:
    clock = FakeClock()
    credential = FakeCredential(numbered(), expires_on=clock.now + HOUR)
    tokens = provider(credential, clock)
    rejected = await tokens.token()
    assert await tokens.refresh(rejected) == "token-2"
    assert await tokens.refresh(rejected) == "token-2"  # a late caller with the old token
    assert len(credential.calls) == 2


async def test_refresh_raises_when_the_credential_hands_back_the_rejected_token() -> None:
    clock = FakeClock()
    credential = FakeCredential(iter(["same", "same"]), expires_on=clock.now + HOUR)
    tokens = provider(credential, clock)
    rejected = await tokens.token()
    with pytest.raises(AuthenticationError) as raised:
        await tokens.refresh(rejected)
    assert raised.value.credential == "managed_identity"
    assert "rejected" in raised.value.detail


async def test_a_rejected_token_is_never_handed_out_again_whatever_its_expiry() -> None:
    clock = FakeClock()
    credential = FakeCredential(iter(["same"] * 5), expires_on=clock.now + HOUR)
    tokens = provider(credential, clock)
    rejected = await tokens.token()
    with pytest.raises(StaleTokenError):
        await tokens.refresh(rejected)
    for _ in range(2):
        with pytest.raises(StaleTokenError):
            await tokens.token()


async def test_after_a_rejection_the_credential_is_asked_again_until_it_has_a_new_token() -> None:
    """A credential's cache may hand back the rejected token for a while: each later ask goes
    to the credential again, and the first new token is handed out."""
    clock = FakeClock()
    credential = FakeCredential(iter(["old", "old", "old", "new"]), expires_on=clock.now + HOUR)
    tokens = provider(credential, clock)
    rejected = await tokens.token()
    with pytest.raises(StaleTokenError):
        await tokens.refresh(rejected)
    with pytest.raises(StaleTokenError):
        await tokens.token()
    assert await tokens.token() == "new"
    assert len(credential.calls) == 4


# --- the refresh margin and secrets --------------------------------------------------------------


async def test_a_short_lived_token_is_refreshed_at_half_its_life() -> None:
    """A 400 s token under a 300 s margin would be refreshed after 100 s; half life is 200 s."""
    clock = FakeClock()
    credential = FakeCredential(numbered(), expires_on=clock.now + 400)
    tokens = provider(credential, clock)
    assert await tokens.token() == "token-1"
    clock.now += 199
    assert await tokens.token() == "token-1"
    clock.now += 1  # exactly half its life
    assert await tokens.token() == "token-2"
    assert len(credential.calls) == 2


async def test_a_token_already_expired_when_obtained_is_fetched_again_next_time() -> None:
    clock = FakeClock()
    credential = FakeCredential(numbered(), expires_on=clock.now - 10)
    tokens = provider(credential, clock)
    assert await tokens.token() == "token-1"  # the credential's word; ARM will judge it
    assert await tokens.token() == "token-2"


async def test_every_token_obtained_is_added_to_the_runs_secrets() -> None:
    clock = FakeClock()
    long_tokens = iter(["eyJ0eXAiOiJKV1Qi.first-token", "eyJ0eXAiOiJKV1Qi.second-token"])
    credential = FakeCredential(long_tokens, expires_on=clock.now + HOUR)
    secrets = Secrets()
    tokens = provider(credential, clock, secrets)
    first = await tokens.token()
    clock.now += HOUR  # past its margin: a second one
    second = await tokens.token()
    assert secrets.scrub(f"echoed {first} and {second}") == f"echoed {REDACTED} and {REDACTED}"


async def test_a_provider_without_secrets_still_works() -> None:
    credential = FakeCredential(iter(["eyJ0eXAiOiJKV1Qi.a-long-token"]), expires_on=2e9)
    assert await provider(credential, FakeClock(0.0)).token() == "eyJ0eXAiOiJKV1Qi.a-long-token"


def test_the_repr_never_shows_the_token() -> None:
    tokens = provider(FakeCredential(numbered(), expires_on=0))
    assert "cold" in repr(tokens)
    assert "managed_identity" in repr(tokens)


async def test_the_repr_of_a_warm_provider_shows_the_expiry_not_the_token() -> None:
    clock = FakeClock()
    credential = FakeCredential(iter(["eyJ0eXAiOiJKV1Qi.secret-part"]), expires_on=clock.now + HOUR)
    tokens = provider(credential, clock)
    await tokens.token()
    assert f"expires_on={int(clock.now + HOUR)}" in repr(tokens)
    assert "secret-part" not in repr(tokens)


# --- build_credential ----------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No AZURE_* or identity-endpoint variables from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_")):
            monkeypatch.delenv(name)
    return monkeypatch


def test_credential_kinds_are_the_configs_words() -> None:
    assert [kind.value for kind in CredentialKind] == [
        "default",
        "managed_identity",
        "azure_cli",
        "environment",
        "workload_identity",
    ]


def test_a_client_id_applies_to_managed_identity_and_default_only() -> None:
    assert frozenset({CredentialKind.MANAGED_IDENTITY, CredentialKind.DEFAULT}) == TAKES_CLIENT_ID


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        (CredentialKind.DEFAULT, DefaultAzureCredential),
        (CredentialKind.MANAGED_IDENTITY, ManagedIdentityCredential),
        (CredentialKind.AZURE_CLI, AzureCliCredential),
        (CredentialKind.ENVIRONMENT, EnvironmentCredential),
    ],
)
async def test_build_credential_returns_the_class_for_each_kind(
    clean_env: pytest.MonkeyPatch, kind: CredentialKind, cls: type
) -> None:
    credential = build_credential(kind, authority_host=AUTHORITY, managed_identity_client_id=None)
    try:
        assert type(credential) is cls
    finally:
        await credential.close()


async def test_build_credential_builds_workload_identity_from_its_environment(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("federated")
    clean_env.setenv("AZURE_TENANT_ID", "00000000-0000-0000-0000-000000000001")
    clean_env.setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000002")
    clean_env.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    credential = build_credential(
        CredentialKind.WORKLOAD_IDENTITY, authority_host=AUTHORITY, managed_identity_client_id=None
    )
    try:
        assert type(credential) is WorkloadIdentityCredential
    finally:
        await credential.close()


async def test_build_credential_maps_a_construction_error_to_authentication_error(
    clean_env: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(AuthenticationError) as raised:
        build_credential(
            CredentialKind.WORKLOAD_IDENTITY,
            authority_host=AUTHORITY,
            managed_identity_client_id=None,
        )
    assert raised.value.credential == "workload_identity"
    assert isinstance(raised.value.__cause__, ValueError)
