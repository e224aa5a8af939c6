"""One HTTP exchange (orchestrator.arm.transport): a total time limit that a trickled body cannot
stretch and a wait for a connection does not spend, a body cap, no redirects, and every failure
mapped to ArmTransportError saying whether the request may have been sent.

Sessions here are small fakes of the part of ``aiohttp.ClientSession`` the transport uses, on
virtual time (conftest.py); test_arm.py drives the transport through aioresponses.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from multidict import CIMultiDict

from orchestrator.arm.proxy import ProxyRoute
from orchestrator.arm.transport import (
    DEFAULT_MAX_BODY_BYTES,
    AiohttpTransport,
    RawAnswer,
    path_of,
)
from orchestrator.errors import ArmResponseError, ArmTransportError

URL = "https://management.azure.com/subscriptions/s/op?api-version=2021-12-01&sig=SECRET"
HEADERS = {"Authorization": "Bearer t", "Accept": "application/json"}


class Body:
    """An answer's body, handed out in chunks, each ``every`` seconds after the one before."""

    def __init__(self, chunks: list[bytes], every: float = 0.0) -> None:
        self.chunks = chunks
        self.every = every
        self.read = 0  # chunks handed out

    async def iter_chunked(self, size: int) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            if self.every:
                await asyncio.sleep(self.every)
            self.read += 1
            yield chunk


class Answer:
    """The response context manager ``session.request`` returns."""

    def __init__(self, session: FakeSession) -> None:
        self.status = session.status
        self.headers = CIMultiDict({"Content-Type": "application/json", "x-ms-request-id": "r1"})
        self.content = session.body
        self._session = session

    async def __aenter__(self) -> Answer:
        session = self._session
        session.open += 1
        session.most_open = max(session.most_open, session.open)
        try:
            if session.delay:
                await asyncio.sleep(session.delay)  # the server takes its time to answer
            if session.failure is not None:
                raise session.failure
        except BaseException:
            session.open -= 1
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._session.open -= 1


class FakeSession:
    """Answers every request with ``body`` after ``delay`` seconds, or raises ``failure``."""

    def __init__(
        self,
        body: Body | None = None,
        *,
        status: int = 200,
        delay: float = 0.0,
        failure: Exception | None = None,
    ) -> None:
        self.body = body or Body([b'{"value": []}'])
        self.status = status
        self.delay = delay
        self.failure = failure
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.closed = False
        self.open = 0  # exchanges under way
        self.most_open = 0

    def request(self, method: str, url: str, **kwargs: Any) -> Answer:
        self.requests.append((method, url, kwargs))
        return Answer(self)

    async def close(self) -> None:
        self.closed = True


def transport(session: FakeSession, **options: Any) -> AiohttpTransport:
    return AiohttpTransport(session, **options)


async def send(
    t: AiohttpTransport, *, method: str = "GET", body: bytes | None = None, limit: float = 60.0
) -> RawAnswer:
    return await t.send(method, URL, headers=HEADERS, body=body, time_limit=limit)


def now() -> float:
    return asyncio.get_running_loop().time()


def refused() -> aiohttp.ClientConnectorError:
    key = ConnectionKey(
        host="management.azure.com",
        port=443,
        is_ssl=True,
        ssl=True,
        proxy=None,
        proxy_auth=None,
        proxy_headers_hash=None,
    )
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))


# --- an exchange -----------------------------------------------------------------------------


async def test_an_answer_is_its_status_headers_and_bytes() -> None:
    session = FakeSession(Body([b'{"val', b'ue": [1]}']), status=202)
    answer = await send(transport(session))
    assert (answer.status, answer.body) == (202, b'{"value": [1]}')
    assert answer.headers["X-MS-Request-Id"] == "r1"


async def test_the_request_is_sent_once_as_given_and_redirects_are_not_followed() -> None:
    session = FakeSession()
    await send(transport(session), method="PATCH", body=b'{"a":1}')
    ((method, url, kwargs),) = session.requests
    assert (method, url) == ("PATCH", URL)
    assert kwargs == {
        "data": b'{"a":1}', "headers": HEADERS, "allow_redirects": False, "proxy": None,
        "proxy_headers": None,
    }  # fmt: skip


async def test_every_request_goes_through_the_proxy_it_was_given() -> None:
    session = FakeSession()
    proxied = transport(session, proxy=ProxyRoute("http://user:password@proxy:3128"))
    await send(proxied)
    await send(proxied)
    # Never the credentials in the URL aiohttp gets (it quotes that URL in its errors): they go
    # as Proxy-Authorization, on the CONNECT of an HTTPS tunnel.
    assert [kwargs["proxy"] for _, _, kwargs in session.requests] == ["http://proxy:3128"] * 2
    basic = "Basic " + base64.b64encode(b"user:password").decode()
    assert [kwargs["proxy_headers"] for _, _, kwargs in session.requests] == [
        {"Proxy-Authorization": basic}
    ] * 2
    assert "password" not in repr(proxied)


async def test_close_closes_the_session() -> None:
    session = FakeSession()
    await transport(session).close()
    assert session.closed


def test_the_repr_shows_the_body_cap() -> None:
    assert repr(transport(FakeSession(), max_body_bytes=10)) == (
        "<AiohttpTransport max_body=10 proxy=None>"
    )


async def test_the_default_session_reads_no_environment_and_has_no_total_timeout_of_its_own() -> (
    None
):
    """The proxy is resolved once per run and handed in (test_arm_proxy.py); a session that
    trusted the environment would read it, and ~/.netrc, for every request."""
    t = AiohttpTransport()
    session = t._session
    try:
        assert isinstance(session, aiohttp.ClientSession)
        assert session.trust_env is False
        assert session.timeout.total is None  # the transport's own limit excludes queueing
        assert session.timeout.sock_connect is not None
    finally:
        await t.close()


# --- the time limit ------------------------------------------------------------------------------


async def test_a_body_trickled_a_byte_a_second_is_cut_off_at_the_time_limit() -> None:
    body = Body([b"x"] * 600, every=1.0)
    started = now()
    with pytest.raises(ArmTransportError) as raised:
        await send(transport(FakeSession(body)), limit=30.0)
    assert now() - started == pytest.approx(30.0)
    assert raised.value.sent is True  # the request was written: ASR may have it
    assert "no whole answer within 30 s" in raised.value.message
    assert body.read < 600


async def test_an_answer_slower_than_the_limit_is_cut_off_too() -> None:
    with pytest.raises(ArmTransportError, match="within 5 s") as raised:
        await send(transport(FakeSession(delay=60.0)), limit=5.0)
    assert raised.value.sent is True


async def test_an_answer_within_the_limit_is_read_whole() -> None:
    body = Body([b"[", b"1", b"]"], every=1.0)
    answer = await send(transport(FakeSession(body, delay=1.0)), limit=4.5)
    assert answer.body == b"[1]"


async def test_waiting_for_a_free_connection_does_not_count_against_the_limit() -> None:
    """The run's limiters make requests wait on purpose: only the exchange itself is timed."""
    t = transport(FakeSession(delay=4.0), max_connections=1)
    started = now()
    answers = await asyncio.gather(*(send(t, limit=5.0) for _ in range(3)))
    assert [a.status for a in answers] == [200, 200, 200]
    assert now() - started == pytest.approx(12.0)  # one at a time, each within its 5 s


async def test_no_more_exchanges_run_at_once_than_the_connections() -> None:
    session = FakeSession(delay=1.0)
    t = transport(session, max_connections=2)
    started = now()
    await asyncio.gather(*(send(t) for _ in range(5)))
    assert session.most_open == 2
    assert now() - started == pytest.approx(3.0)  # 2, 2, then 1


# --- the body cap ----------------------------------------------------------------------------


def test_the_default_cap_is_eight_mebibytes() -> None:
    assert DEFAULT_MAX_BODY_BYTES == 8 * 1024 * 1024


async def test_a_body_over_the_cap_is_refused_without_reading_the_rest() -> None:
    body = Body([b"x" * 1024] * 1000)
    with pytest.raises(ArmResponseError, match="larger than 4096 bytes") as raised:
        await send(transport(FakeSession(body), max_body_bytes=4096))
    assert raised.value.code == "invalid_response"
    assert body.read == 5  # the chunk that crossed the cap was the last one read
    assert "SECRET" not in raised.value.message


async def test_a_body_exactly_at_the_cap_is_read() -> None:
    body = Body([b"x" * 1024] * 4)
    answer = await send(transport(FakeSession(body), max_body_bytes=4096))
    assert len(answer.body) == 4096


# --- failures, and whether the request may have been sent ------------------------------------


@pytest.mark.parametrize(
    ("failure", "was_sent"),
    [
        (refused(), False),
        (aiohttp.ConnectionTimeoutError("connect timed out"), False),
        (aiohttp.ServerDisconnectedError(), True),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), True),
        (aiohttp.ClientPayloadError("truncated"), True),
        (aiohttp.ClientConnectionError("dropped"), True),
        (TimeoutError(), True),
    ],
    ids=["refused", "connect-timeout", "dropped", "reset", "payload", "connection", "timeout"],
)
async def test_each_failure_says_whether_the_request_may_have_been_sent(
    failure: Exception, was_sent: bool
) -> None:
    with pytest.raises(ArmTransportError) as raised:
        await send(transport(FakeSession(failure=failure)), method="PATCH")
    error = raised.value
    assert (error.code, error.sent) == ("connection_error", was_sent)
    assert error.__cause__ is failure
    assert error.message.startswith("PATCH /subscriptions/s/op: ")
    assert "SECRET" not in error.message and "api-version" not in error.message


async def test_a_connection_never_made_names_it() -> None:
    with pytest.raises(ArmTransportError, match="cannot connect: ClientConnectorError"):
        await send(transport(FakeSession(failure=refused())))


# --- path_of ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path"),
    [
        (URL, "/subscriptions/s/op"),
        ("https://management.azure.com", "/"),
        ("https://management.azure.com/?x=1", "/"),
        ("https://user:pw@h/a/b#frag", "/a/b"),
    ],
)
def test_path_of_keeps_only_the_path_for_logs_and_errors(url: str, path: str) -> None:
    assert path_of(url) == path
