"""Tokens: single-flight fetches, caching until the refresh margin, refresh after a rejection."""

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

from orchestrator.arm.credentials import TokenProvider, build_credential
from orchestrator.errors import AuthenticationError

SCOPE = "https://management.core.windows.net//.default"
AUTHORITY = "login.microsoftonline.com"
HOUR = 3600.0


class FakeClock:
    """Wall-clock epoch seconds that move only when told to."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeCredential:
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


def provider(credential: FakeCredential, clock: FakeClock | None = None) -> TokenProvider:
    return TokenProvider(
        credential,  # type: ignore[arg-type]  # duck-typed AsyncTokenCredential
        SCOPE,
        credential_name="managed_identity",
        refresh_margin=300.0,
        clock=clock or FakeClock(),
    )


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


# --- build_credential ----------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No AZURE_* or identity-endpoint variables from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_")):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("default", DefaultAzureCredential),
        ("managed_identity", ManagedIdentityCredential),
        ("azure_cli", AzureCliCredential),
        ("environment", EnvironmentCredential),
    ],
)
async def test_build_credential_returns_the_class_for_each_kind(
    clean_env: pytest.MonkeyPatch, kind: str, cls: type
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
        "workload_identity", authority_host=AUTHORITY, managed_identity_client_id=None
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
            "workload_identity", authority_host=AUTHORITY, managed_identity_client_id=None
        )
    assert raised.value.credential == "workload_identity"
    assert isinstance(raised.value.__cause__, ValueError)
