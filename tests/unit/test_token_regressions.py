"""Regressions in replacing a token ARM rejected as expired (found by
tests/integration/test_tokens.py's early-expiry run, 3 failures in 18), on virtual time.

ARM may reject a token before the expiry it was issued with (its clock decides), and
azure-identity's cache hands the rejected token back until that expiry. Two ways a mapping was
lost:

- The "fresh" token a call got after a 401 was itself rejected by the time the retry was sent
  (another call had fetched it seconds before; the retry waited for its limiter slot): the
  second 401 failed the mapping with ``ExpiredAuthenticationToken`` right after
  ``token_refreshed``. A call now gets a fresh token once for each token ARM rejects.
- While only the rejected token was to be had, a call waited with exponential backoff, each
  wait an attempt: the waits fell into the next token's rejected half-life too, and the call
  ran out of attempts (``authentication_failed``). It now waits until the rejected token's own
  expiry, when the credential lets it go: one attempt per rejected token.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from azure.core.credentials import AccessToken
from credential_stub import CredentialStub
from inprocess import EmulatorCredential, EmulatorTransport, Rig
from multidict import CIMultiDict, CIMultiDictProxy
from virtual_clock import run_virtual

from orchestrator.app import commands
from orchestrator.app.commands import RunArgs, Terminal
from orchestrator.arm.client import ArmClient
from orchestrator.arm.credentials import TokenProvider
from orchestrator.arm.limits import LimitScope, Quota
from orchestrator.arm.registry import LimiterRegistry
from orchestrator.arm.retry import RetryPolicy
from orchestrator.arm.transport import RawAnswer
from orchestrator.errors import ArmAuthenticationError, StaleTokenError
from orchestrator.output.report import Command
from orchestrator.secrets import Secrets

ENDPOINT = "https://management.example.com"
URL = f"{ENDPOINT}/subscriptions/s/providers/x?api-version=2021-12-01"
EPOCH = 1_800_000_000.0  # wall-clock seconds at virtual time 0
EXPIRED = b'{"error": {"code": "ExpiredAuthenticationToken", "message": "expired"}}'


def wall() -> float:
    return EPOCH + asyncio.get_running_loop().time()


class CachingCredential(CredentialStub):
    """Like azure-identity's cache: each token is reported valid ``lifetime`` s and handed back
    until then; ``fresh_each_call`` hands out a new one every call instead."""

    def __init__(self, lifetime: float = 6.0, *, fresh_each_call: bool = False) -> None:
        self.lifetime = lifetime
        self.fresh_each_call = fresh_each_call
        self.issued: list[tuple[str, float]] = []  # (token, virtual time issued)

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        now = asyncio.get_running_loop().time()
        if self.fresh_each_call or not self.issued or now >= self.issued[-1][1] + self.lifetime:
            self.issued.append((f"token-{len(self.issued) + 1}", now))
        token, issued_at = self.issued[-1]
        return AccessToken(token, int(EPOCH + issued_at + self.lifetime))

    async def close(self) -> None:
        return None


class EarlyRejectingArm:
    """A Transport: ARM answers 200 when ``accepts(token, its age in seconds)``, else 401
    ``ExpiredAuthenticationToken``."""

    def __init__(
        self, credential: CachingCredential, accepts: Callable[[str, float], bool]
    ) -> None:
        self.credential = credential
        self.accepts = accepts
        self.sent: list[tuple[str, float]] = []  # (token, virtual time)

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        time_limit: float,
    ) -> RawAnswer:
        now = asyncio.get_running_loop().time()
        token = headers["Authorization"].removeprefix("Bearer ")
        self.sent.append((token, now))
        age = now - dict(self.credential.issued)[token]
        status, answer = (200, b'{"value": []}') if self.accepts(token, age) else (401, EXPIRED)
        return RawAnswer(status, CIMultiDictProxy(CIMultiDict()), answer)

    async def close(self) -> None:
        return None


def client(arm: EarlyRejectingArm, tokens: TokenProvider, attempts: int = 6) -> ArmClient:
    limiters = LimiterRegistry(
        set_limit=Quota(calls=200, per_seconds=60),
        get_limit=Quota(calls=10_000, per_seconds=3600),
        scope=LimitScope.RUN,
    )
    return ArmClient(
        arm,
        tokens,
        limiters,
        endpoint=ENDPOINT,
        api_version="2021-12-01",
        policy=RetryPolicy(max_attempts=attempts),
    )


def provider(credential: CachingCredential) -> TokenProvider:
    return TokenProvider(
        credential,
        "https://management.core.windows.net//.default",
        credential_name="managed_identity",
        clock=wall,
    )


def test_a_replacement_token_rejected_in_its_turn_is_replaced_too() -> None:
    """token-1 is rejected; its replacement token-2 is rejected too when the retry arrives."""
    credential = CachingCredential(fresh_each_call=True)
    arm = EarlyRejectingArm(credential, lambda token, age: token == "token-3")

    async def main() -> int:
        response = await client(arm, provider(credential)).get(URL, subscription_id="s")
        return response.status

    assert run_virtual(main()) == 200
    assert [token for token, _ in arm.sent] == ["token-1", "token-2", "token-3"]


def test_a_call_of_one_attempt_still_gets_a_fresh_token_for_a_rejected_one() -> None:
    """A poll reads once (``attempts=1``); its expired token is replaced, not a failed read."""
    credential = CachingCredential(fresh_each_call=True)
    arm = EarlyRejectingArm(credential, lambda token, age: token != "token-1")

    async def main() -> int:
        response = await client(arm, provider(credential)).get(URL, subscription_id="s", attempts=1)
        return response.status

    assert run_virtual(main()) == 200
    assert [token for token, _ in arm.sent] == ["token-1", "token-2"]


def test_tokens_rejected_one_after_another_end_the_call_within_its_attempts() -> None:
    credential = CachingCredential(fresh_each_call=True)
    arm = EarlyRejectingArm(credential, lambda token, age: False)

    async def main() -> int:
        response = await client(arm, provider(credential), attempts=3).get(URL, subscription_id="s")
        return response.status

    assert run_virtual(main()) == 401
    assert [token for token, _ in arm.sent] == ["token-1", "token-2", "token-3"]  # 3 attempts


def test_a_stale_token_costs_one_attempt_waiting_until_its_own_expiry() -> None:
    """Two attempts in all: the first meets only the rejected token-1 (reported valid 6 s,
    rejected after 3 s); the second must not come before the credential lets it go."""
    credential = CachingCredential(lifetime=6.0)
    arm = EarlyRejectingArm(credential, lambda token, age: age < 3.0)

    async def main() -> tuple[int, float]:
        tokens = provider(credential)
        await tokens.token()  # token-1 at 0
        await asyncio.sleep(3.5)
        with contextlib.suppress(StaleTokenError):
            await tokens.refresh("token-1")  # another call got a 401 for it
        response = await client(arm, tokens, attempts=2).get(URL, subscription_id="s")
        return response.status, asyncio.get_running_loop().time()

    status, finished = run_virtual(main())
    assert status == 200
    assert [token for token, _ in arm.sent] == ["token-2"]
    assert 6.0 <= finished <= 6.5


def test_a_rejected_token_claiming_a_long_life_is_probed_with_backoff_not_waited_out() -> None:
    """A token rejected an hour before its own expiry (revoked): no hour-long wait."""
    credential = CachingCredential(lifetime=3600.0)
    arm = EarlyRejectingArm(credential, lambda token, age: False)

    async def main() -> float:
        with contextlib.suppress(ArmAuthenticationError):
            await client(arm, provider(credential), attempts=3).get(URL, subscription_id="s")
        return asyncio.get_running_loop().time()

    assert run_virtual(main()) < 60


# --- a whole run: every token rejected during discovery ----------------------------------------


class CachedEmulatorCredential(CredentialStub):
    """The in-process emulator's managed identity behind azure-identity's kind of cache: the
    same token until its own expiry."""

    def __init__(self, inner: EmulatorCredential) -> None:
        self._inner = inner
        self._token: AccessToken | None = None

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        if self._token is None or time.time() >= self._token.expires_on:
            self._token = await self._inner.get_token(*scopes, **kwargs)
        return self._token


def test_tokens_rejected_during_discovery_end_in_a_report_not_a_crash(tmp_path: Path) -> None:
    """Every token ARM sees is rejected as expired an hour before its own expiry (moved here
    from tests/integration/test_tokens.py: on real time the backoff costs ~10 s)."""
    rig = Rig(
        tmp_path,
        {
            "seed": 53,
            "subscriptions": 1,
            "vaults_per_subscription": 2,
            "faults": {"token_early_expiry_seconds": 3600},
        },
    )
    report = tmp_path / "report.json"
    args = RunArgs(
        command=Command.APPLY, config=str(rig.write_config(subscriptions="all")), report=str(report)
    )
    terminal = Terminal(stdout=io.StringIO(), stdout_is_tty=False, show=None)

    async def main() -> int:
        return await commands.run_async(
            args,
            Secrets(),
            terminal,
            environ={},
            transport=lambda _: EmulatorTransport(rig.state),
            credential=lambda _: CachedEmulatorCredential(EmulatorCredential(rig.state)),
        )

    code = run_virtual(main())
    written = json.loads(report.read_text())
    assert code == written["exit_code"] == 1
    (subscriptions,) = written["subscriptions"]
    assert subscriptions["error"]["code"] == "authentication_failed"
    assert rig.state.counters.responses[("get", 401)] >= 1
    assert rig.state.counters.requests["set"] == 0
