"""The ARM client: auth header, origin checks, retries, 429 backoff, token refresh, bodies, paging.

Requests go through a real ``aiohttp.ClientSession`` answered by aioresponses; nothing leaves
the process. The retry policy's waits are a few milliseconds so retries cost no real time.
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
from aiohttp.streams import StreamReader
from aioresponses import aioresponses
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from multidict import CIMultiDict, CIMultiDictProxy
from structlog.testing import capture_logs
from yarl import URL

import orchestrator.arm.client
from orchestrator.arm.client import ArmClient, ArmResponse, http_error
from orchestrator.arm.credentials import TokenProvider
from orchestrator.arm.limits import LimiterRegistry, LimitScope, LimitSpec
from orchestrator.arm.retry import RetryPolicy
from orchestrator.errors import (
    ArmAuthenticationError,
    ArmHttpError,
    ArmResponseError,
    ArmTransportError,
    UntrustedUrlError,
)

ENDPOINT = "http://127.0.0.1:9"
API = "2021-12-01"
SUB = "11111111-1111-1111-1111-111111111111"
OTHER_SUB = "22222222-2222-2222-2222-222222222222"
VAULT = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v1"
LIST_URL = f"{ENDPOINT}{VAULT}/replicationProtectionContainerMappings?api-version={API}"
MAPPING_URL = f"{ENDPOINT}{VAULT}/replicationFabrics/f/replicationProtectionContainerMappings/m1?api-version={API}"
FAST = RetryPolicy(max_attempts=4, backoff_base=0.002, backoff_max=0.004, retry_after_max=0.01)
EXPIRED = {"error": {"code": "ExpiredAuthenticationToken", "message": "The token expired."}}
PATCH_BODY = {"properties": {"providerSpecificInput": {"instanceType": "A2A"}}}


class FakeCredential:
    """An AsyncTokenCredential handing out token-1, token-2, … (or raising ``error``).

    ``same_token``: always token-1; ``same_token_times``: token-1 for that many calls, then new ones
    (a cache that keeps a rejected token until its own expiry).
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
        return AccessToken(f"token-{n}", 4_102_444_800)  # year 2100

    async def close(self) -> None:
        pass


class UpperBoundRng(random.Random):
    """Jitter that always picks the top of its range, so backoff steps are exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Rig:
    """A client with its credential and limiter registry, for inspection."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        policy: RetryPolicy = FAST,
        scope: LimitScope = "run",
        credential: FakeCredential | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.credential = credential or FakeCredential()
        self.limiters = LimiterRegistry(
            set_limit=LimitSpec(200, 60), get_limit=LimitSpec(10_000, 3600), scope=scope
        )
        tokens = TokenProvider(
            self.credential,  # type: ignore[arg-type]  # duck-typed AsyncTokenCredential
            "https://management.core.windows.net//.default",
            credential_name="managed_identity",
        )
        self.client = ArmClient(
            session,
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
    """The recorded calls of ``method url`` (each has ``.kwargs``)."""
    return list(m.requests.get((method, URL(url)), []))


def authorizations(m: aioresponses, method: str, url: str) -> list[str]:
    return [call.kwargs["headers"]["Authorization"] for call in sent(m, method, url)]


def now() -> float:
    return asyncio.get_running_loop().time()


# --- URLs and origins ----------------------------------------------------------------------------


def test_url_joins_the_endpoint_path_and_api_version(rig: Rig) -> None:
    assert rig.client.url(VAULT) == f"{ENDPOINT}{VAULT}?api-version={API}"
    assert rig.client.url("/subscriptions", api_version="2022-12-01") == (
        f"{ENDPOINT}/subscriptions?api-version=2022-12-01"
    )


@pytest.mark.parametrize("url", [LIST_URL, "HTTP://127.0.0.1:9/x", "http://127.0.0.1:9"])
def test_urls_on_the_configured_origin_are_trusted(rig: Rig, url: str) -> None:
    rig.client.check_origin(url)


def test_a_default_port_matches_an_endpoint_that_omits_it(session: aiohttp.ClientSession) -> None:
    client = ArmClient(
        session,
        TokenProvider(FakeCredential(), "s", credential_name="x"),  # type: ignore[arg-type]
        LimiterRegistry(set_limit=LimitSpec(1, 1), get_limit=LimitSpec(1, 1), scope="run"),
        endpoint="https://management.azure.com",
        api_version=API,
    )
    client.check_origin("https://MANAGEMENT.azure.com:443/subscriptions?api-version=1")
    with pytest.raises(UntrustedUrlError):
        client.check_origin("http://management.azure.com/subscriptions")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.2:9/x",  # another host
        "http://127.0.0.1:10/x",  # another port
        "https://127.0.0.1:9/x",  # another scheme
        "http://127.0.0.1.evil.test:9/x",  # a look-alike host
        "http://user@127.0.0.1:9/x",  # credentials in the URL: aiohttp would not send ours
        "/subscriptions/x",  # relative: no origin at all
    ],
)
def test_urls_off_the_configured_origin_are_refused(rig: Rig, url: str) -> None:
    with pytest.raises(UntrustedUrlError) as raised:
        rig.client.check_origin(url)
    assert raised.value.code == "untrusted_url"


def test_a_refused_urls_query_is_left_out_of_the_error(rig: Rig) -> None:
    with pytest.raises(UntrustedUrlError) as raised:
        rig.client.check_origin("http://127.0.0.2:9/op?sig=SECRET")
    assert "SECRET" not in str(raised.value)
    assert raised.value.url == "http://127.0.0.2:9/op?sig=SECRET"


async def test_nothing_is_sent_and_no_token_fetched_for_an_untrusted_url(
    rig: Rig, arm: aioresponses
) -> None:
    with pytest.raises(UntrustedUrlError):
        await rig.client.get("http://127.0.0.2:9/x", subscription_id=SUB)
    assert arm.requests == {}
    assert rig.credential.calls == 0
    assert rig.client.counters.get == 0


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
    assert call.kwargs["headers"]["Authorization"] == "Bearer token-1"
    assert call.kwargs["headers"]["Accept"] == "application/json"
    assert call.kwargs["allow_redirects"] is False


async def test_patch_sends_the_json_body_and_counts_a_set_call(rig: Rig, arm: aioresponses) -> None:
    arm.patch(MAPPING_URL, status=202, headers={"Azure-AsyncOperation": f"{ENDPOINT}/op"})
    response = await rig.client.patch(MAPPING_URL, PATCH_BODY, subscription_id=SUB)
    assert response.status == 202
    (call,) = sent(arm, "PATCH", MAPPING_URL)
    assert call.kwargs["json"] == PATCH_BODY
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
    assert response.status == 302
    assert sent(arm, "GET", "http://127.0.0.2:9/steal") == []


async def test_the_cached_token_is_reused_across_requests(rig: Rig, arm: aioresponses) -> None:
    arm.get(LIST_URL, payload={"value": []}, repeat=True)
    await asyncio.gather(*(rig.client.get(LIST_URL, subscription_id=SUB) for _ in range(5)))
    assert rig.credential.calls == 1
    assert set(authorizations(arm, "GET", LIST_URL)) == {"Bearer token-1"}


async def test_a_credential_failure_fails_the_call_as_authentication_failed(
    session: aiohttp.ClientSession, arm: aioresponses
) -> None:
    rig = Rig(session, credential=FakeCredential(error=ClientAuthenticationError("no identity")))
    with pytest.raises(ArmAuthenticationError, match="authentication_failed"):
        await rig.client.get(LIST_URL, subscription_id=SUB)
    assert arm.requests == {}


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
    [aiohttp.ClientConnectionError("refused"), aiohttp.ServerDisconnectedError(), TimeoutError()],
    ids=["refused", "dropped", "timeout"],
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
        await rig.client.get(LIST_URL, subscription_id=SUB)
    (retry,) = [e for e in logs if e["event"] == "retry"]
    assert (retry["delay_s"], retry["attempt"], retry["reason"]) == (0.007, 1, "HTTP 503")


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
    assert pair.get.paused_until - now() == pytest.approx(100.0, abs=1.0)
    assert pair.set.paused_until == 0.0  # a GET's 429 says the get quota is spent


async def test_a_429_pause_is_clamped_to_retry_after_max(
    session: aiohttp.ClientSession, arm: aioresponses
) -> None:
    rig = Rig(session, policy=RetryPolicy(max_attempts=1, retry_after_max=30.0))
    arm.patch(MAPPING_URL, status=429, headers={"Retry-After": "86400"})
    response = await rig.client.patch(MAPPING_URL, PATCH_BODY, subscription_id=SUB)
    assert response.status == 429
    assert rig.limiters.scope_for(SUB).set.paused_until - now() == pytest.approx(30.0, abs=1.0)


async def test_a_429_pauses_every_call_of_the_run_scope(
    session: aiohttp.ClientSession, arm: aioresponses
) -> None:
    rig = Rig(session, policy=RetryPolicy(max_attempts=1), scope="run")
    arm.get(LIST_URL, status=429, headers={"Retry-After": "50"})
    await rig.client.get(LIST_URL, subscription_id=SUB)
    assert rig.limiters.scope_for(OTHER_SUB).get.paused_until - now() == pytest.approx(50, abs=1)


async def test_a_429_in_one_subscription_scope_leaves_the_others_alone(
    session: aiohttp.ClientSession, arm: aioresponses
) -> None:
    rig = Rig(session, policy=RetryPolicy(max_attempts=1), scope="subscription")
    arm.get(LIST_URL, status=429, headers={"Retry-After": "50"})
    await rig.client.get(LIST_URL, subscription_id=SUB)
    assert rig.limiters.scope_for(SUB.upper()).get.paused_until - now() == pytest.approx(50, abs=1)
    assert rig.limiters.scope_for(OTHER_SUB).get.paused_until == 0.0


async def test_a_call_after_a_429_waits_out_the_pause(
    session: aiohttp.ClientSession, arm: aioresponses
) -> None:
    rig = Rig(session, policy=RetryPolicy(max_attempts=1))
    arm.get(LIST_URL, status=429, headers={"Retry-After": "3600"})
    arm.get(MAPPING_URL, payload={})
    await rig.client.get(LIST_URL, subscription_id=SUB)
    blocked = asyncio.create_task(rig.client.get(MAPPING_URL, subscription_id=SUB))
    await asyncio.sleep(0)
    assert rig.limiters.scope_for(SUB).get.waiting == 1  # queued behind the pause
    assert sent(arm, "GET", MAPPING_URL) == []
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked


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


# --- expired tokens ------------------------------------------------------------------------------


async def test_an_expired_token_is_refreshed_once_and_the_call_retried(
    rig: Rig, arm: aioresponses
) -> None:
    arm.get(LIST_URL, status=401, payload=EXPIRED)
    arm.get(LIST_URL, payload={"value": []})
    response = await rig.client.get(LIST_URL, subscription_id=SUB)
    assert response.status == 200
    assert authorizations(arm, "GET", LIST_URL) == ["Bearer token-1", "Bearer token-2"]
    assert rig.credential.calls == 2


async def test_a_second_expired_answer_is_returned_not_refreshed_again(
    rig: Rig, arm: aioresponses
) -> None:
    """DESIGN: get a fresh token, then retry once."""
    arm.get(LIST_URL, status=401, payload=EXPIRED, repeat=True)
    response = await rig.client.get(LIST_URL, subscription_id=SUB)
    assert response.status == 401
    assert rig.credential.calls == 2
    assert rig.client.counters.get == 2


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


async def test_a_body_over_the_size_cap_is_refused(
    rig: Rig, arm: aioresponses, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orchestrator.arm.client, "MAX_BODY_BYTES", 64)
    arm.get(LIST_URL, body=json.dumps({"value": ["x" * 60]}))
    with pytest.raises(ArmResponseError, match="larger than 64 bytes"):
        await rig.client.get(LIST_URL, subscription_id=SUB)


async def test_a_body_at_the_size_cap_is_read(
    rig: Rig, arm: aioresponses, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = json.dumps({"value": ["x" * 49]}).encode()
    monkeypatch.setattr(orchestrator.arm.client, "MAX_BODY_BYTES", len(body))
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


async def test_a_body_arriving_in_several_network_reads_is_read_whole() -> None:
    page = {"value": [{"id": f"m{i}", "name": "x" * 100} for i in range(50)]}
    body = json.dumps(page).encode()
    rig = Rig(_TwoChunkSession(body))  # type: ignore[arg-type]
    response = await rig.client.get(LIST_URL, subscription_id=SUB)
    assert response.body == page


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


# --- paging --------------------------------------------------------------------------------------


def page_url(n: int) -> str:
    return (
        f"{ENDPOINT}{VAULT}/replicationProtectionContainerMappings?api-version={API}&$skiptoken={n}"
    )


async def collect(rig: Rig, into: list[list[Any]] | None = None) -> list[list[Any]]:
    """Every page of LIST_URL; ``into`` keeps the pages read before an error."""
    pages = into if into is not None else []
    async for page in rig.client.pages(LIST_URL, subscription_id=SUB):
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


async def test_a_next_link_that_repeats_ends_paging_with_an_error(
    rig: Rig, arm: aioresponses
) -> None:
    arm.get(LIST_URL, payload={"value": [1], "nextLink": page_url(2)})
    arm.get(page_url(2), payload={"value": [2], "nextLink": LIST_URL})
    with pytest.raises(ArmResponseError, match="nextLink repeats"):
        await collect(rig)
    assert rig.client.counters.get == 2


async def test_paging_stops_after_max_pages(
    rig: Rig, arm: aioresponses, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orchestrator.arm.client, "MAX_PAGES", 3)
    arm.get(LIST_URL, payload={"value": [], "nextLink": page_url(1)})
    for n in range(1, 5):
        arm.get(page_url(n), payload={"value": [], "nextLink": page_url(n + 1)})
    with pytest.raises(ArmResponseError, match="after 3 pages"):
        await collect(rig)
    assert rig.client.counters.get == 3


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
