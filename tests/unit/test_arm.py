"""The ARM client: auth header, origin checks, retries (PATCH apart), 429 backoff, token
refresh, bodies, paging (relative links, api-version, page caps) and reserves.

Requests go through the real transport over a real ``aiohttp.ClientSession`` answered by
aioresponses; nothing leaves the process. Tests run on virtual time (conftest.py), so waits
cost nothing and what they assert about time is exact. The transport's own rules (body cap,
time limit, error mapping) are test_transport.py's; where the token may go, test_origin.py's.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp.client_proto import ResponseHandler
from aiohttp.client_reqrep import ConnectionKey
from aiohttp.streams import StreamReader
from aioresponses import aioresponses
from aioresponses.compat import normalize_url
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from credential_stub import CredentialStub
from multidict import CIMultiDict, CIMultiDictProxy
from structlog.testing import capture_logs
from yarl import URL

from orchestrator.arm.api import LISTING_PRIORITY, ArmApi, ArmResponse, http_error
from orchestrator.arm.client import ArmClient
from orchestrator.arm.credentials import TokenProvider
from orchestrator.arm.limits import LimitScope, Quota
from orchestrator.arm.registry import LimiterRegistry
from orchestrator.arm.retry import RetryPolicy
from orchestrator.arm.transport import AiohttpTransport, HttpResponse, HttpSession
from orchestrator.errors import (
    ArmAuthenticationError,
    ArmHttpError,
    ArmResponseError,
    ArmTransportError,
    SendWithdrawn,
    UntrustedUrlError,
)
from orchestrator.secrets import REDACTED, Secrets

ENDPOINT = "http://127.0.0.1:9"
API = "2021-12-01"
SUB = "11111111-1111-1111-1111-111111111111"
OTHER_SUB = "22222222-2222-2222-2222-222222222222"
VAULT = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v1"
LIST_URL = f"{ENDPOINT}{VAULT}/replicationProtectionContainerMappings?api-version={API}"
MAPPING_URL = f"{ENDPOINT}{VAULT}/replicationFabrics/f/replicationProtectionContainerMappings/m1?api-version={API}"
FAST = RetryPolicy(max_attempts=4, backoff_base=0.002, backoff_max=0.004, retry_after_max=0.01)
SET_QUOTA = Quota(calls=200, per_seconds=60)
GET_QUOTA = Quota(calls=10_000, per_seconds=3600)
EXPIRED = {"error": {"code": "ExpiredAuthenticationToken", "message": "The token expired."}}
PATCH_BODY = {"properties": {"providerSpecificInput": {"instanceType": "A2A"}}}
ACCEPTED = {"Azure-AsyncOperation": f"{ENDPOINT}/op"}


def token(n: int) -> str:
    """The fake credential's n-th token: long enough to count as a secret."""
    return f"token-{n}-of-the-fake-credential"


def bearer(n: int) -> str:
    return f"Bearer {token(n)}"


class FakeCredential(CredentialStub):
    """An AsyncTokenCredential handing out token(1), token(2), … (or raising ``error``).

    ``same_token``: always token(1); ``same_token_times``: token(1) for that many calls, then new
    ones (a cache that keeps a rejected token until its own expiry).
    """

    def __init__(
        self, *, same_token: bool = False, same_token_times: int = 0, error: Exception | None = None
    ) -> None:
        self.calls = 0
        self._same = same_token
        self._same_times = same_token_times
        self._error = error

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls += 1
        if self._error is not None:
            raise self._error
        n = 1 if self._same or self.calls <= self._same_times else self.calls
        return AccessToken(token(n), 4_102_444_800)  # year 2100

    async def close(self) -> None:
        pass


class UpperBoundRng(random.Random):
    """Jitter that always picks the top of its range, so backoff steps are exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Rig:
    """A client over the real transport, with its credential, limiters and secrets to inspect."""

    def __init__(
        self,
        session: HttpSession,
        *,
        policy: RetryPolicy = FAST,
        scope: LimitScope = LimitScope.RUN,
        credential: FakeCredential | None = None,
        rng: random.Random | None = None,
        max_body_bytes: int | None = None,
        get_quota: Quota = GET_QUOTA,
    ) -> None:
        self.credential = credential or FakeCredential()
        self.limiters = LimiterRegistry(set_limit=SET_QUOTA, get_limit=get_quota, scope=scope)
        self.secrets = Secrets()
        tokens = TokenProvider(
            self.credential,
            "https://management.core.windows.net//.default",
            credential_name="managed_identity",
            secrets=self.secrets,
        )
        transport = (
            AiohttpTransport(session)
            if max_body_bytes is None
            else AiohttpTransport(session, max_body_bytes=max_body_bytes)
        )
        self.client = ArmClient(
            transport,
            tokens,
            self.limiters,
            endpoint=ENDPOINT + "/",
            api_version=API,
            policy=policy,
            rng=rng,
        )


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def rig(session: aiohttp.ClientSession) -> Rig:
    return Rig(session)


@pytest.fixture
def arm() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


def sent(m: aioresponses, method: str, url: str) -> list[Any]:
    """The recorded calls of ``method url`` (each has ``.kwargs``); aioresponses records URLs
    with their query sorted, so ``url`` is looked up the same way."""
    return list(m.requests.get((method, normalize_url(URL(url))), []))


def authorizations(m: aioresponses, method: str, url: str) -> list[str]:
    return [call.kwargs["headers"]["Authorization"] for call in sent(m, method, url)]


def now() -> float:
    return asyncio.get_running_loop().time()


def refused() -> aiohttp.ClientConnectorError:
    """A connection refused before anything was written."""
    key = ConnectionKey(
        host="127.0.0.1",
        port=9,
        is_ssl=False,
        ssl=True,
        proxy=None,
        proxy_auth=None,
        proxy_headers_hash=None,
    )
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))


# --- URLs and origins ----------------------------------------------------------------------------


def test_the_client_is_an_arm_api(rig: Rig) -> None:
    api: ArmApi = rig.client
    assert api.counters is rig.client.counters
    assert repr(rig.client).startswith(f"<ArmClient endpoint={ENDPOINT!r}")


def test_url_joins_the_endpoint_path_and_api_version(rig: Rig) -> None:
    assert rig.client.url(VAULT) == f"{ENDPOINT}{VAULT}?api-version={API}"
    assert rig.client.url("/subscriptions", api_version="2022-12-01") == (
        f"{ENDPOINT}/subscriptions?api-version=2022-12-01"
    )


@pytest.mark.parametrize("url", [LIST_URL, "HTTP://127.0.0.1:9/x", "http://127.0.0.1:9"])
def test_urls_on_the_configured_origin_are_trusted(rig: Rig, url: str) -> None:
    rig.client.check_origin(url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.2:9/x", "http://user@127.0.0.1:9/x", "/subscriptions/x"]
)
def test_urls_off_the_configured_origin_are_refused(rig: Rig, url: str) -> None:
    with pytest.raises(UntrustedUrlError) as raised:
        rig.client.check_origin(url)
    assert raised.value.code == "untrusted_url"


@pytest.mark.parametrize("method", ["GET", "PATCH"])
async def test_nothing_is_sent_and_no_token_fetched_for_an_untrusted_url(
    rig: Rig, arm: aioresponses, method: str
) -> None:
    call = (
        rig.client.get("http://127.0.0.2:9/x", subscription_id=SUB)
        if method == "GET"
        else rig.client.patch("http://127.0.0.2:9/x", PATCH_BODY, subscription_id=SUB)
    )
    with pytest.raises(UntrustedUrlError):
        await call
    assert arm.requests == {}
    assert rig.credential.calls == 0
    assert (rig.client.counters.get, rig.client.counters.set) == (0, 0)
    totals = rig.limiters.totals()
    assert (totals.get_acquired, totals.set_acquired) == (0, 0)


# --- sending -------------------------------------------------------------------------------------


async def test_get_sends_the_bearer_token_and_returns_status_headers_and_json(
    rig: Rig, arm: aioresponses
) -> None:
    arm.get(LIST_URL, payload={"value": []}, headers={"x-ms-request-id": "r1"})
    response = await rig.client.get(LIST_URL, subscription_id=SUB)
    assert (response.status, response.body, response.header("X-MS-Request-Id")) == (
        200,
        {"value": []},
        "r1",
    )
    (call,) = sent(arm, "GET", LIST_URL)
    assert call.kwargs["headers"]["Authorization"] == bearer(1)
    assert call.kwargs["headers"]["Accept"] == "application/json"
    assert "Content-Type" not in call.kwargs["headers"]
    assert call.kwargs["data"] is None
    assert call.kwargs["allow_redirects"] is False


async def test_patch_sends_the_json_body_and_counts_a_set_call(rig: Rig, arm: aioresponses) -> None:
    arm.patch(MAPPING_URL, status=202, headers=ACCEPTED)
    response = await rig.client.patch(MAPPING_URL, PATCH_BODY, subscription_id=SUB)
    assert response.status == 202
    (call,) = sent(arm, "PATCH", MAPPING_URL)
    assert json.loads(call.kwargs["data"]) == PATCH_BODY
    assert call.kwargs["headers"]["Content-Type"] == "application/json"
    assert call.kwargs["headers"]["Authorization"] == bearer(1)
    assert call.kwargs["allow_redirects"] is False
    assert (rig.client.counters.get, rig.client.counters.set) == (0, 1)


async def test_gets_and_patches_acquire_their_own_limiters(rig: Rig, arm: aioresponses) -> None:
    arm.get(LIST_URL, payload={"value": []}, repeat=True)
    arm.patch(MAPPING_URL, payload={}, repeat=True)
    for _ in range(3):
        await rig.client.get(LIST_URL, subscription_id=SUB)
    await rig.client.patch(MAPPING_URL, PATCH_BODY, subscription_id=SUB)
    totals = rig.limiters.totals()
    assert (totals.get_acquired, totals.set_acquired) == (3, 1)
    assert (rig.client.counters.get, rig.client.counters.set) == (3, 1)


async def test_a_redirect_is_returned_not_followed(rig: Rig, arm: aioresponses) -> None:
    arm.get(LIST_URL, status=302, headers={"Location": "http://127.0.0.2:9/steal"})
    response = await rig.client.get(LIST_URL, subscription_id=SUB)
    assert (response.status, response.redirect) == (302, True)
    assert sent(arm, "GET", "http://127.0.0.2:9/steal") == []
    assert rig.client.counters.retried == 0


async def test_the_cached_token_is_reused_across_requests(rig: Rig, arm: aioresponses) -> None:
    arm.get(LIST_URL, payload={"value": []}, repeat=True)
    await asyncio.gather(*(rig.client.get(LIST_URL, subscription_id=SUB) for _ in range(5)))
    assert rig.credential.calls == 1
    assert set(authorizations(arm, "GET", LIST_URL)) == {bearer(1)}


async def test_every_token_the_client_uses_becomes_a_secret(rig: Rig, arm: aioresponses) -> None:
    arm.get(LIST_URL, payload={"value": []})
    await rig.client.get(LIST_URL, subscription_id=SUB)
    assert rig.secrets.scrub(f"a server echoed {token(1)}") == f"a server echoed {REDACTED}"


async def test_a_credential_failure_fails_the_call_as_authentication_failed(
    session: aiohttp.ClientSession, arm: aioresponses
) -> None:
    rig = Rig(session, credential=FakeCredential(error=ClientAuthenticationError("no identity")))
    with pytest.raises(ArmAuthenticationError, match="authentication_failed"):
        await rig.client.get(LIST_URL, subscription_id=SUB)
    assert arm.requests == {}
    # The slot taken for the call is given back uncounted: nothing was sent.
    assert rig.limiters.totals().get_acquired == 0
    assert rig.client.counters.get == 0


# --- before_send ---------------------------------------------------------------------------------


async def test_before_send_runs_just_before_each_try_leaves(rig: Rig, arm: aioresponses) -> None:
    arm.patch(MAPPING_URL, status=503)
    arm.patch(MAPPING_URL, status=202, headers=ACCEPTED)
    seen: list[int] = []
    response = await rig.client.patch(
        MAPPING_URL,
        PATCH_BODY,
        subscription_id=SUB,
        before_send=lambda: seen.append(rig.client.counters.set),
    )
    assert response.status == 202
    assert seen == [0, 1]  # each time before that try was counted as sent


async def test_a_withdrawn_patch_is_never_sent_and_gives_its_slot_back(
    rig: Rig, arm: aioresponses
) -> None:
    arm.patch(MAPPING_URL, status=202, headers=ACCEPTED)

    def stopping() -> None:
        raise SendWithdrawn("the run is stopping")

    with pytest.raises(SendWithdrawn):
        await rig.client.patch(MAPPING_URL, PATCH_BODY, subscription_id=SUB, before_send=stopping)
    assert sent(arm, "PATCH", MAPPING_URL) == []
    assert rig.client.counters.set == 0
    assert rig.limiters.totals().set_acquired == 0  # abandoned: no place in the window


# --- retries -------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
async def test_timeouts_and_server_errors_are_retried(
    rig: Rig, arm: aioresponses, status: int
) -> None:
    arm.get(LIST_URL, status=status)
    arm.get(LIST_URL, payload={"value": []})
    response = await rig.client.get(LIST_URL, subscription_id=SUB)
    assert response.status == 200
    assert (rig.client.counters.get, rig.client.counters.retried) == (2, 1)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 412, 501])
async def test_other_errors_are_returned_without_a_retry(
    rig: Rig, arm: aioresponses, status: int
) -> None:
    arm.get(LIST_URL, status=status, payload={"error": {"code": "Nope", "message": "no"}})
    response = await rig.client.get(LIST_URL, subscription_id=SUB)
    assert response.status == status
    assert (rig.client.counters.get, rig.client.counters.retried) == (1, 0)


async def test_the_last_answer_is_returned_once_attempts_run_out(
    rig: Rig, arm: aioresponses
) -> None:
    arm.get(LIST_URL, status=503, repeat=True)
    response = await rig.client.get(LIST_URL, subscription_id=SUB)
    assert response.status == 503
    assert (rig.client.counters.get, rig.client.counters.retried) == (FAST.max_attempts, 3)


async def test_attempts_limits_the_tries_of_one_call(rig: Rig, arm: aioresponses) -> None:
    arm.get(LIST_URL, status=500, repeat=True)
    response = await rig.client.get(LIST_URL, subscription_id=SUB, attempts=1)
    assert response.status == 500
    assert rig.client.counters.get == 1


@pytest.mark.parametrize(
    "failure",
    [
        refused(),
        aiohttp.ClientConnectionError("reset"),
        aiohttp.ServerDisconnectedError(),
        TimeoutError(),
    ],
    ids=["refused", "reset", "dropped", "timeout"],
)
async def test_connection_errors_are_retried(
    rig: Rig, arm: aioresponses, failure: Exception
) -> None:
    arm.get(LIST_URL, exception=failure)
    arm.get(LIST_URL, payload={"value": []})
    response = await rig.client.get(LIST_URL, subscription_id=SUB)
    assert response.status == 200
    assert rig.client.counters.retried == 1


async def test_connection_errors_that_persist_raise_a_transport_error(
    rig: Rig, arm: aioresponses
) -> None:
    arm.get(LIST_URL, exception=aiohttp.ClientConnectionError("refused"), repeat=True)
    with pytest.raises(ArmTransportError) as raised:
        await rig.client.get(LIST_URL, subscription_id=SUB)
    assert raised.value.code == "connection_error"
    assert "?api-version" not in raised.value.message  # the query is kept out of messages
    assert rig.client.counters.get == FAST.max_attempts


async def test_a_retry_waits_the_servers_retry_after(rig: Rig, arm: aioresponses) -> None:
    arm.get(LIST_URL, status=503, headers={"Retry-After": "0.007"})
    arm.get(LIST_URL, payload={"value": []})
    with capture_logs() as logs:
        started = now()
        await rig.client.get(LIST_URL, subscription_id=SUB)
    (retry,) = [e for e in logs if e["event"] == "retry"]
    assert (retry["delay_s"], retry["attempt"], retry["reason"]) == (0.007, 1, "HTTP 503")
    assert now() - started == pytest.approx(0.007)


async def test_a_retry_without_retry_after_backs_off_exponentially(
    session: aiohttp.ClientSession, arm: aioresponses
) -> None:
    rig = Rig(session, rng=UpperBoundRng())
    arm.get(LIST_URL, status=500)
    arm.get(LIST_URL, status=500)
    arm.get(LIST_URL, payload={"value": []})
    with capture_logs() as logs:
        await rig.client.get(LIST_URL, subscription_id=SUB)
    assert [e["delay_s"] for e in logs if e["event"] == "retry"] == [0.002, 0.004]


@pytest.mark.parametrize("retry_after", ["0", "-1"])
async def test_a_retry_after_of_zero_or_less_backs_off_all_the_same(
    session: aiohttp.ClientSession, arm: aioresponses, retry_after: str
) -> None:
    rig = Rig(session, rng=UpperBoundRng())
    arm.get(LIST_URL, status=503, headers={"Retry-After": retry_after})
    arm.get(LIST_URL, payload={"value": []})
    with capture_logs() as logs:
        await rig.client.get(LIST_URL, subscription_id=SUB)
    assert [e["delay_s"] for e in logs if e["event"] == "retry"] == [0.002]


async def test_backoff_is_jittered_by_the_injected_rng(
    session: aiohttp.ClientSession, arm: aioresponses
) -> None:
    rig = Rig(session, rng=random.Random(7))
    arm.get(LIST_URL, status=500)
    arm.get(LIST_URL, payload={"value": []})
    with capture_logs() as logs:
        await rig.client.get(LIST_URL, subscription_id=SUB)
    (delay,) = [e["delay_s"] for e in logs if e["event"] == "retry"]
    assert 0.001 <= delay <= 0.002  # half to full of backoff_base


async def test_retry_logs_carry_the_path_but_not_the_query(rig: Rig, arm: aioresponses) -> None:
    url = f"{ENDPOINT}/op?sig=SECRET"
    arm.get(url, status=503)
    arm.get(url, payload={})
    with capture_logs() as logs:
        await rig.client.get(url, subscription_id=SUB)
    (retry,) = [e for e in logs if e["event"] == "retry"]
    assert retry["path"] == "/op"
    assert "SECRET" not in json.dumps(logs)


# --- PATCH: retried only where ASR certainly did not act on it -----------------------------------


@pytest.mark.parametrize("status", [429, 503])
async def test_a_patch_refused_unprocessed_is_sent_again(
    rig: Rig, arm: aioresponses, status: int
) -> None:
    arm.patch(MAPPING_URL, status=status)
    arm.patch(MAPPING_URL, status=202, headers=ACCEPTED)
    response = await rig.client.patch(MAPPING_URL, PATCH_BODY, subscription_id=SUB)
    assert response.status == 202
    assert (rig.client.counters.set, rig.client.counters.retried) == (2, 1)


@pytest.mark.parametrize("status", [408, 500, 502, 504])
async def test_a_patch_that_asr_may_have_acted_on_is_returned_not_sent_again(
    rig: Rig, arm: aioresponses, status: int
) -> None:
    """The engine reads the mapping back before it sends anything again."""
    arm.patch(MAPPING_URL, status=status)
    arm.patch(MAPPING_URL, status=202, headers=ACCEPTED)
    response = await rig.client.patch(MAPPING_URL, PATCH_BODY, subscription_id=SUB)
    assert response.status == status
    assert (rig.client.counters.set, rig.client.counters.retried) == (1, 0)


async def test_a_patch_whose_connection_was_never_made_is_sent_again(
    rig: Rig, arm: aioresponses
) -> None:
    arm.patch(MAPPING_URL, exception=refused())
    arm.patch(MAPPING_URL, status=202, headers=ACCEPTED)
    response = await rig.client.patch(MAPPING_URL, PATCH_BODY, subscription_id=SUB)
    assert response.status == 202
    assert rig.client.counters.retried == 1


@pytest.mark.parametrize(
    "failure",
    [aiohttp.ServerDisconnectedError(), aiohttp.ClientConnectionError("reset"), TimeoutError()],
    ids=["dropped", "reset", "timeout"],
)
async def test_a_patch_whose_answer_was_lost_raises_saying_it_was_sent(
    rig: Rig, arm: aioresponses, failure: Exception
) -> None:
    arm.patch(MAPPING_URL, exception=failure)
    arm.patch(MAPPING_URL, status=202, headers=ACCEPTED)
    with pytest.raises(ArmTransportError) as raised:
        await rig.client.patch(MAPPING_URL, PATCH_BODY, subscription_id=SUB)
    assert raised.value.sent is True
    assert (rig.client.counters.set, rig.client.counters.retried) == (1, 0)
    assert len(sent(arm, "PATCH", MAPPING_URL)) == 1


async def test_a_patch_refused_persistently_raises_saying_it_was_not_sent(
    rig: Rig, arm: aioresponses
) -> None:
    arm.patch(MAPPING_URL, exception=refused(), repeat=True)
    with pytest.raises(ArmTransportError) as raised:
        await rig.client.patch(MAPPING_URL, PATCH_BODY, subscription_id=SUB)
    assert raised.value.sent is False
    assert rig.client.counters.set == FAST.max_attempts


# --- 429 -----------------------------------------------------------------------------------------


async def test_a_429_is_counted_pauses_the_scope_and_is_retried(
    rig: Rig, arm: aioresponses
) -> None:
    arm.get(LIST_URL, status=429, headers={"Retry-After": "0"})
    arm.get(LIST_URL, payload={"value": []})
    response = await rig.client.get(LIST_URL, subscription_id=SUB)
    assert response.status == 200
    counters = rig.client.counters
    assert (counters.get, counters.throttled, counters.retried) == (2, 1, 1)
    assert rig.limiters.scope_for(SUB).get.pauses == 1


async def test_a_429_pauses_the_limiter_for_its_retry_after(
    session: aiohttp.ClientSession, arm: aioresponses
) -> None:
    rig = Rig(session, policy=RetryPolicy(retry_after_max=300.0))
    arm.get(LIST_URL, status=429, headers={"Retry-After": "100"})
    response = await rig.client.get(LIST_URL, subscription_id=SUB, attempts=1)
    assert response.status == 429
    pair = rig.limiters.scope_for(SUB)
    assert pair.get.paused_until - now() == pytest.approx(100.0)
    assert pair.set.paused_until == 0.0  # a GET's 429 says the get quota is spent


async def test_a_429_pause_is_clamped_to_retry_after_max(
    session: aiohttp.ClientSession, arm: aioresponses
) -> None:
    rig = Rig(session, policy=RetryPolicy(max_attempts=1, retry_after_max=30.0))
    arm.patch(MAPPING_URL, status=429, headers={"Retry-After": "86400"})
    response = await rig.client.patch(MAPPING_URL, PATCH_BODY, subscription_id=SUB)
    assert response.status == 429
    assert rig.limiters.scope_for(SUB).set.paused_until - now() == pytest.approx(30.0)


async def test_a_429_pauses_every_call_of_the_run_scope(
    session: aiohttp.ClientSession, arm: aioresponses
) -> None:
    rig = Rig(session, policy=RetryPolicy(max_attempts=1), scope=LimitScope.RUN)
    arm.get(LIST_URL, status=429, headers={"Retry-After": "50"})
    await rig.client.get(LIST_URL, subscription_id=SUB)
    assert rig.limiters.scope_for(OTHER_SUB).get.paused_until - now() == pytest.approx(50)


async def test_a_429_in_one_subscription_scope_leaves_the_others_alone(
    session: aiohttp.ClientSession, arm: aioresponses
) -> None:
    rig = Rig(session, policy=RetryPolicy(max_attempts=1), scope=LimitScope.SUBSCRIPTION)
    arm.get(LIST_URL, status=429, headers={"Retry-After": "50"})
    await rig.client.get(LIST_URL, subscription_id=SUB)
    assert rig.limiters.scope_for(SUB.upper()).get.paused_until - now() == pytest.approx(50)
    assert rig.limiters.scope_for(OTHER_SUB).get.paused_until == 0.0


async def test_a_call_after_a_429_waits_out_the_pause(
    session: aiohttp.ClientSession, arm: aioresponses
) -> None:
    rig = Rig(session, policy=RetryPolicy(max_attempts=1))
    arm.get(LIST_URL, status=429, headers={"Retry-After": "3600"})
    arm.get(MAPPING_URL, payload={})
    await rig.client.get(LIST_URL, subscription_id=SUB)
    paused_at = now()
    blocked = asyncio.create_task(rig.client.get(MAPPING_URL, subscription_id=SUB))
    await asyncio.sleep(0)
    assert rig.limiters.scope_for(SUB).get.waiting == 1  # queued behind the pause
    assert sent(arm, "GET", MAPPING_URL) == []
    assert (await blocked).status == 200  # sent the moment the pause is over, not before
    assert now() - paused_at == pytest.approx(300.0)  # the policy's retry_after_max


async def test_repeated_429s_without_retry_after_back_off_exponentially(
    session: aiohttp.ClientSession, arm: aioresponses
) -> None:
    rig = Rig(session, rng=UpperBoundRng())
    arm.get(LIST_URL, status=429)
    arm.get(LIST_URL, status=429)
    arm.get(LIST_URL, payload={"value": []})
    with capture_logs() as logs:
        await rig.client.get(LIST_URL, subscription_id=SUB)
    assert [e["pause_s"] for e in logs if e["event"] == "throttled"] == [0.002, 0.004]


@pytest.mark.parametrize("retry_after", ["0", "-5", "soon"])
async def test_a_429_with_a_useless_retry_after_pauses_for_a_jittered_backoff(
    session: aiohttp.ClientSession, arm: aioresponses, retry_after: str
) -> None:
    rig = Rig(session, policy=RetryPolicy(max_attempts=1, backoff_base=8.0), rng=UpperBoundRng())
    arm.get(LIST_URL, status=429, headers={"Retry-After": retry_after})
    with capture_logs() as logs:
        await rig.client.get(LIST_URL, subscription_id=SUB)
    (throttled,) = [e for e in logs if e["event"] == "throttled"]
    assert (throttled["retry_after"], throttled["pause_s"]) == (None, 8.0)
    assert rig.limiters.scope_for(SUB).get.paused_until - now() == pytest.approx(8.0)


# --- expired tokens ------------------------------------------------------------------------------


# See test_credentials.py: the provider never asks the credential again while its cached
async def test_an_expired_token_is_refreshed_once_and_the_call_retried(
    rig: Rig, arm: aioresponses
) -> None:
    arm.get(LIST_URL, status=401, payload=EXPIRED)
    arm.get(LIST_URL, payload={"value": []})
    response = await rig.client.get(LIST_URL, subscription_id=SUB)
    assert response.status == 200
    assert authorizations(arm, "GET", LIST_URL) == [bearer(1), bearer(2)]
    assert rig.credential.calls == 2


async def test_expired_answers_for_one_new_token_after_another_end_within_the_attempts(
    rig: Rig, arm: aioresponses
) -> None:
    """DESIGN: get a fresh token, then retry once — once for each token ARM rejects (the fresh
    one may be rejected in its turn: tests/unit/test_token_regressions.py), so a credential
    whose every token ARM rejects ends the call after the policy's attempts in tokens."""
    arm.get(LIST_URL, status=401, payload=EXPIRED, repeat=True)
    response = await rig.client.get(LIST_URL, subscription_id=SUB)
    assert response.status == 401
    assert rig.credential.calls == FAST.max_attempts
    assert rig.client.counters.get == FAST.max_attempts


async def test_after_a_refresh_later_calls_use_the_new_token(rig: Rig, arm: aioresponses) -> None:
    arm.get(LIST_URL, status=401, payload=EXPIRED)
    arm.get(LIST_URL, payload={"value": []}, repeat=True)
    await rig.client.get(LIST_URL, subscription_id=SUB)
    await rig.client.get(LIST_URL, subscription_id=SUB)
    assert authorizations(arm, "GET", LIST_URL) == [bearer(1), bearer(2), bearer(2)]


async def test_a_401_for_another_reason_is_not_retried(rig: Rig, arm: aioresponses) -> None:
    body = {"error": {"code": "InvalidAuthenticationToken", "message": "bad audience"}}
    arm.get(LIST_URL, status=401, payload=body)
    response = await rig.client.get(LIST_URL, subscription_id=SUB)
    assert response.status == 401
    assert rig.credential.calls == 1


async def test_a_credential_that_keeps_the_rejected_token_fails_the_call_without_resending(
    session: aiohttp.ClientSession, arm: aioresponses
) -> None:
    rig = Rig(session, credential=FakeCredential(same_token=True))
    arm.get(LIST_URL, status=401, payload=EXPIRED, repeat=True)
    with pytest.raises(ArmAuthenticationError, match="keeps returning"):
        await rig.client.get(LIST_URL, subscription_id=SUB)
    assert rig.client.counters.get == 1  # the rejected token was never sent again
    assert rig.credential.calls == 1 + FAST.max_attempts


async def test_a_stale_token_is_waited_out_then_the_call_succeeds(
    session: aiohttp.ClientSession, arm: aioresponses
) -> None:
    rig = Rig(session, credential=FakeCredential(same_token_times=2))
    arm.get(LIST_URL, status=401, payload=EXPIRED)
    arm.get(LIST_URL, payload={"value": []})
    response = await rig.client.get(LIST_URL, subscription_id=SUB)
    assert response.status == 200
    assert rig.client.counters.get == 2


# --- bodies --------------------------------------------------------------------------------------


async def test_an_empty_body_reads_as_none(rig: Rig, arm: aioresponses) -> None:
    arm.patch(MAPPING_URL, status=202, body=b"")
    assert (await rig.client.patch(MAPPING_URL, PATCH_BODY, subscription_id=SUB)).body is None


async def test_a_2xx_body_that_is_not_json_is_an_invalid_response(
    rig: Rig, arm: aioresponses
) -> None:
    arm.get(LIST_URL, status=200, body=b"<html>gateway</html>", content_type="text/html")
    with pytest.raises(ArmResponseError) as raised:
        await rig.client.get(LIST_URL, subscription_id=SUB)
    assert raised.value.code == "invalid_response"


async def test_an_error_body_that_is_not_json_leaves_only_the_status(
    rig: Rig, arm: aioresponses
) -> None:
    arm.get(LIST_URL, status=404, body=b"<html>not found</html>", content_type="text/html")
    response = await rig.client.get(LIST_URL, subscription_id=SUB)
    assert (response.status, response.body) == (404, None)


async def test_a_body_nested_too_deep_is_an_invalid_response_for_that_call_only(
    rig: Rig, arm: aioresponses
) -> None:
    arm.get(LIST_URL, body=b"[" * 5_000 + b"]" * 5_000)
    arm.get(MAPPING_URL, payload={"id": "m1"})
    with pytest.raises(ArmResponseError, match="nested too deep") as raised:
        await rig.client.get(LIST_URL, subscription_id=SUB)
    assert raised.value.code == "invalid_response"
    assert (await rig.client.get(MAPPING_URL, subscription_id=SUB)).body == {"id": "m1"}


async def test_a_number_too_long_to_convert_is_an_invalid_response(
    rig: Rig, arm: aioresponses
) -> None:
    arm.get(LIST_URL, body=b'{"value": [' + b"9" * 5000 + b"]}")
    with pytest.raises(ArmResponseError, match="not JSON") as raised:
        await rig.client.get(LIST_URL, subscription_id=SUB)
    assert raised.value.code == "invalid_response"


async def test_an_unparseable_error_body_is_no_error_of_its_own(
    rig: Rig, arm: aioresponses
) -> None:
    arm.get(LIST_URL, status=403, body=b"[" * 5_000)
    response = await rig.client.get(LIST_URL, subscription_id=SUB)
    assert (response.status, response.body) == (403, None)


async def test_a_body_over_the_size_cap_is_refused(
    session: aiohttp.ClientSession, arm: aioresponses
) -> None:
    rig = Rig(session, max_body_bytes=64)
    arm.get(LIST_URL, body=json.dumps({"value": ["x" * 60]}))
    with pytest.raises(ArmResponseError, match="larger than 64 bytes"):
        await rig.client.get(LIST_URL, subscription_id=SUB)


async def test_a_body_at_the_size_cap_is_read(
    session: aiohttp.ClientSession, arm: aioresponses
) -> None:
    body = json.dumps({"value": ["x" * 49]}).encode()
    rig = Rig(session, max_body_bytes=len(body))
    arm.get(LIST_URL, body=body)
    assert (await rig.client.get(LIST_URL, subscription_id=SUB)).body == {"value": ["x" * 49]}


class _OpenConnection(ResponseHandler):
    """The protocol of a connection still open: more of the body may arrive."""

    @property
    def connected(self) -> bool:
        return True


class _TwoChunkResponse:
    """A response whose body reaches aiohttp's StreamReader in two network reads."""

    def __init__(self, first: bytes, rest: bytes) -> None:
        loop = asyncio.get_running_loop()
        self.status = 200
        self.headers = CIMultiDict({"Content-Type": "application/json"})
        self.content = StreamReader(_OpenConnection(loop=loop), limit=2**16, loop=loop)
        self.content.feed_data(first)

        def arrive() -> None:
            self.content.feed_data(rest)
            self.content.feed_eof()

        loop.call_soon(arrive)

    async def __aenter__(self) -> _TwoChunkResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class _TwoChunkSession:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def request(self, method: str, url: str, **kwargs: Any) -> _TwoChunkResponse:
        half = len(self._body) // 2
        return _TwoChunkResponse(self._body[:half], self._body[half:])

    async def close(self) -> None:
        return None


async def test_a_body_arriving_in_several_network_reads_is_read_whole() -> None:
    page = {"value": [{"id": f"m{i}", "name": "x" * 100} for i in range(50)]}
    body = json.dumps(page).encode()
    rig = Rig(_TwoChunkSession(body))
    response = await rig.client.get(LIST_URL, subscription_id=SUB)
    assert response.body == page


class _SilentSession:
    """A server that accepts the request and never answers."""

    def __init__(self) -> None:
        self.requests = 0

    def request(self, method: str, url: str, **kwargs: Any) -> _SilentSession:
        self.requests += 1
        return self

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> HttpResponse:
        await asyncio.sleep(3600)
        raise AssertionError("the request's time limit ends it first")

    async def __aexit__(self, *exc_info: object) -> None:
        return None


async def test_every_request_has_a_total_time_limit() -> None:
    session = _SilentSession()
    client = ArmClient(
        AiohttpTransport(session),
        TokenProvider(FakeCredential(), "s", credential_name="x"),
        LimiterRegistry(set_limit=SET_QUOTA, get_limit=GET_QUOTA, scope=LimitScope.RUN),
        endpoint=ENDPOINT,
        api_version=API,
        policy=FAST,
        request_timeout=5.0,
    )
    started = now()
    with pytest.raises(ArmTransportError, match="no whole answer within 5 s") as raised:
        await client.get(LIST_URL, subscription_id=SUB, attempts=1)
    assert now() - started == pytest.approx(5.0)
    assert (raised.value.sent, session.requests) == (True, 1)


# --- get_ok and http_error ------------------------------------------------------------------------


async def test_get_ok_returns_the_body_of_a_200(rig: Rig, arm: aioresponses) -> None:
    arm.get(LIST_URL, payload={"value": [1]})
    assert await rig.client.get_ok(LIST_URL, subscription_id=SUB) == {"value": [1]}


@pytest.mark.parametrize("status", [202, 204, 403, 404])
async def test_get_ok_raises_arms_error_for_any_other_status(
    rig: Rig, arm: aioresponses, status: int
) -> None:
    arm.get(LIST_URL, status=status, payload={"error": {"code": "Code", "message": "text"}})
    with pytest.raises(ArmHttpError) as raised:
        await rig.client.get_ok(LIST_URL, subscription_id=SUB)
    assert (raised.value.status, raised.value.code, raised.value.message) == (
        status,
        "Code",
        "text",
    )


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_get_ok_refuses_a_redirect_as_redirect_not_followed(
    rig: Rig, arm: aioresponses, status: int
) -> None:
    body = {"error": {"code": "Moved", "message": "go there"}}
    arm.get(LIST_URL, status=status, payload=body, headers={"Location": f"{ENDPOINT}/elsewhere"})
    with pytest.raises(ArmHttpError) as raised:
        await rig.client.get_ok(LIST_URL, subscription_id=SUB)
    assert (raised.value.status, raised.value.code) == (status, "redirect_not_followed")
    assert sent(arm, "GET", f"{ENDPOINT}/elsewhere") == []


def arm_response(status: int, body: Any) -> ArmResponse:
    return ArmResponse(status, CIMultiDictProxy(CIMultiDict()), body)


@pytest.mark.parametrize(
    "body", [None, {}, {"error": None}, {"error": "text"}, {"error": {"code": 5, "message": []}}]
)
def test_http_error_without_a_usable_error_body_names_the_status(body: Any) -> None:
    error = http_error(arm_response(503, body))
    assert (error.status, error.code, error.message) == (503, "http_503", "ARM answered HTTP 503")


def test_http_error_keeps_a_code_without_a_message() -> None:
    error = http_error(arm_response(409, {"error": {"code": "Conflict"}}))
    assert (error.code, error.message) == ("Conflict", "ARM answered HTTP 409")


@pytest.mark.parametrize("status", [300, 301, 302, 304, 307, 308, 399])
def test_http_error_of_any_3xx_is_redirect_not_followed_whatever_its_body(status: int) -> None:
    error = http_error(arm_response(status, {"error": {"code": "Moved", "message": "there"}}))
    assert (error.status, error.code) == (status, "redirect_not_followed")
    assert "never followed" in error.message


@pytest.mark.parametrize(("status", "redirect"), [(200, False), (299, False), (400, False)])
def test_only_a_3xx_is_a_redirect(status: int, redirect: bool) -> None:
    assert arm_response(status, None).redirect is redirect


# --- paging --------------------------------------------------------------------------------------


def page_url(n: int) -> str:
    return (
        f"{ENDPOINT}{VAULT}/replicationProtectionContainerMappings?api-version={API}&$skiptoken={n}"
    )


async def collect(
    rig: Rig,
    into: list[list[Any]] | None = None,
    *,
    url: str = LIST_URL,
    max_pages: int = 100,
    reserve: int = 0,
) -> list[list[Any]]:
    """Every page of ``url``; ``into`` keeps the pages read before an error."""
    pages = into if into is not None else []
    async for page in rig.client.pages(
        url, subscription_id=SUB, max_pages=max_pages, reserve=reserve
    ):
        pages.append(page)
    return pages


@pytest.mark.parametrize("last_link", [None, "", "absent"])
async def test_pages_follow_next_link_until_it_ends(
    rig: Rig, arm: aioresponses, last_link: str | None
) -> None:
    arm.get(LIST_URL, payload={"value": [1, 2], "nextLink": page_url(2)})
    last: dict[str, Any] = {"value": [3]}
    if last_link != "absent":
        last["nextLink"] = last_link
    arm.get(page_url(2), payload=last)
    assert await collect(rig) == [[1, 2], [3]]


async def test_an_empty_listing_yields_one_empty_page(rig: Rig, arm: aioresponses) -> None:
    arm.get(LIST_URL, payload={"value": []})
    assert await collect(rig) == [[]]


async def test_a_next_link_off_the_origin_is_refused_and_never_requested(
    rig: Rig, arm: aioresponses
) -> None:
    foreign = "http://127.0.0.2:9/steal?$skiptoken=2"
    arm.get(LIST_URL, payload={"value": [1], "nextLink": foreign})
    pages: list[list[Any]] = []
    with pytest.raises(UntrustedUrlError):
        await collect(rig, into=pages)
    assert pages == [[1]]
    assert sent(arm, "GET", foreign) == []
    assert list(arm.requests) == [("GET", URL(LIST_URL))]


async def test_a_relative_next_link_is_resolved_against_the_endpoint(
    rig: Rig, arm: aioresponses
) -> None:
    relative = page_url(2).removeprefix(ENDPOINT)
    arm.get(LIST_URL, payload={"value": [1], "nextLink": relative})
    arm.get(page_url(2), payload={"value": [2]})
    assert await collect(rig) == [[1], [2]]
    assert len(sent(arm, "GET", page_url(2))) == 1


async def test_a_next_link_without_api_version_gets_the_listings(
    rig: Rig, arm: aioresponses
) -> None:
    discovery = f"{ENDPOINT}/subscriptions/{SUB}/providers/Microsoft.RecoveryServices/vaults"
    first = f"{discovery}?api-version=2023-04-01"
    arm.get(first, payload={"value": [1], "nextLink": f"{discovery}?$skiptoken=2"})
    arm.get(f"{discovery}?$skiptoken=2&api-version=2023-04-01", payload={"value": [2]})
    assert await collect(rig, url=first) == [[1], [2]]
    # the first request's api-version, not the run's
    assert len(sent(arm, "GET", f"{discovery}?$skiptoken=2&api-version=2023-04-01")) == 1


async def test_a_relative_next_link_without_api_version_gets_both(
    rig: Rig, arm: aioresponses
) -> None:
    link = f"{VAULT}/replicationProtectionContainerMappings?$skiptoken=2"
    arm.get(LIST_URL, payload={"value": [1], "nextLink": link})
    arm.get(f"{ENDPOINT}{link}&api-version={API}", payload={"value": [2]})
    assert await collect(rig) == [[1], [2]]


async def test_a_next_link_with_its_own_api_version_keeps_it(rig: Rig, arm: aioresponses) -> None:
    link = f"{ENDPOINT}{VAULT}/replicationProtectionContainerMappings?api-version=2025-08-01&x=2"
    arm.get(LIST_URL, payload={"value": [1], "nextLink": link})
    arm.get(link, payload={"value": [2]})
    assert await collect(rig) == [[1], [2]]


async def test_a_next_link_that_repeats_ends_paging_with_too_many_pages(
    rig: Rig, arm: aioresponses
) -> None:
    arm.get(LIST_URL, payload={"value": [1], "nextLink": page_url(2)})
    arm.get(page_url(2), payload={"value": [2], "nextLink": LIST_URL})
    with pytest.raises(ArmResponseError, match="paging did not end") as raised:
        await collect(rig)
    assert raised.value.code == "too_many_pages"
    assert rig.client.counters.get == 2


async def test_paging_stops_after_max_pages(rig: Rig, arm: aioresponses) -> None:
    arm.get(LIST_URL, payload={"value": [], "nextLink": page_url(1)})
    for n in range(1, 5):
        arm.get(page_url(n), payload={"value": [], "nextLink": page_url(n + 1)})
    pages: list[list[Any]] = []
    with pytest.raises(ArmResponseError, match="after 3 pages") as raised:
        await collect(rig, into=pages, max_pages=3)
    assert raised.value.code == "too_many_pages"
    assert rig.client.counters.get == 3
    assert len(pages) == 3


async def test_a_listing_of_exactly_max_pages_is_read_whole(rig: Rig, arm: aioresponses) -> None:
    arm.get(LIST_URL, payload={"value": [0], "nextLink": page_url(1)})
    arm.get(page_url(1), payload={"value": [1], "nextLink": page_url(2)})
    arm.get(page_url(2), payload={"value": [2]})
    assert await collect(rig, max_pages=3) == [[0], [1], [2]]


@pytest.mark.parametrize(
    "page",
    [{}, {"value": None}, {"value": {"a": 1}}, [1, 2], {"value": [], "nextLink": 7}],
    ids=["no-value", "null-value", "object-value", "list-body", "number-link"],
)
async def test_a_malformed_page_is_an_invalid_response(
    rig: Rig, arm: aioresponses, page: Any
) -> None:
    arm.get(LIST_URL, payload=page)
    with pytest.raises(ArmResponseError):
        await collect(rig)


async def test_a_failing_page_raises_arms_error(rig: Rig, arm: aioresponses) -> None:
    arm.get(LIST_URL, payload={"value": [1], "nextLink": page_url(2)})
    arm.get(
        page_url(2), status=403, payload={"error": {"code": "AuthorizationFailed", "message": "m"}}
    )
    with pytest.raises(ArmHttpError) as raised:
        await collect(rig)
    assert (raised.value.status, raised.value.code) == (403, "AuthorizationFailed")


async def test_a_redirected_page_fails_the_listing_with_redirect_not_followed(
    rig: Rig, arm: aioresponses
) -> None:
    arm.get(LIST_URL, status=302, headers={"Location": f"{ENDPOINT}/elsewhere"})
    with pytest.raises(ArmHttpError) as raised:
        await collect(rig)
    assert raised.value.code == "redirect_not_followed"


# --- reserve and priority: a listing never starves the polls --------------------------------------


async def test_a_listing_leaves_its_reserve_to_other_gets(
    session: aiohttp.ClientSession, arm: aioresponses
) -> None:
    """Three gets a minute, a listing reserving two: a poll asked for while it lists is sent at
    once, and the listing's next page waits until every slot is free again (the poll's too)."""
    rig = Rig(session, get_quota=Quota(calls=3, per_seconds=60))
    arm.get(LIST_URL, payload={"value": [1], "nextLink": page_url(2)})
    arm.get(page_url(2), payload={"value": [2]})
    arm.get(MAPPING_URL, payload={})
    started = now()
    listing = asyncio.create_task(collect(rig, reserve=2))
    await asyncio.sleep(1.0)
    await rig.client.get(MAPPING_URL, subscription_id=SUB)
    poll_sent_after = now() - started
    assert await listing == [[1], [2]]
    limiter = rig.limiters.scope_for(SUB).get
    assert poll_sent_after == pytest.approx(1.0)
    assert now() - started == pytest.approx(1.0 + 60.0 + limiter.margin)


def test_pages_go_before_polls() -> None:
    assert LISTING_PRIORITY < 0.0  # polls pass priorities in [0, 1)
