"""How one HTTP exchange with ARM happens: the `Transport` protocol and its aiohttp form.

The ARM client decides *what* to send and what an answer means; a transport only moves bytes,
once, within a time limit, and says how the exchange failed when it did. Two facts a transport
reports that the client's decisions depend on:

- ``ArmTransportError.sent``: whether the request may have reached the server. A connection
  refused before anything was written is safe to send again; a connection dropped, or a time
  limit passed, after the request was written is not: ASR may have acted on it.
- the time limit covers the whole exchange, the body's last byte included (a body trickled a
  byte a second is cut off), but not the wait for a free connection: aiohttp's own ``total``
  timeout would count that wait, and the run's limiters make requests wait on purpose.

:class:`AiohttpTransport` sends through the proxy it is given (the run's, read from
``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` once: :mod:`orchestrator.arm.proxy`), never follows a
redirect, never re-sends on its own, and reads at most ``max_body_bytes`` of an answer. Its
session does not trust the environment: aiohttp would read the proxy variables again and
``~/.netrc`` for every request, each in a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Final, Protocol
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from orchestrator.arm.proxy import ProxyRoute
from orchestrator.errors import ArmResponseError, ArmTransportError

DEFAULT_REQUEST_TIMEOUT: Final = 60.0  # seconds for one whole exchange, body included
DEFAULT_CONNECT_TIMEOUT: Final = 15.0
DEFAULT_MAX_BODY_BYTES: Final = 8 * 1024 * 1024  # ARM pages are far smaller; more is broken
DEFAULT_MAX_CONNECTIONS: Final = 256
_CHUNK: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class RawAnswer:
    """An HTTP answer as it arrived: status, headers, the body's bytes (capped)."""

    status: int
    headers: CIMultiDictProxy[str] = field(repr=False)
    body: bytes = field(repr=False)


class Transport(Protocol):
    """Sends one request and returns its answer, or raises `ArmTransportError`/`ArmResponseError`."""

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        time_limit: float,
    ) -> RawAnswer: ...

    async def close(self) -> None: ...


class _Body(Protocol):
    def iter_chunked(self, n: int) -> AsyncIterator[bytes]: ...


class HttpResponse(Protocol):
    """What the transport reads of an answer (``aiohttp.ClientResponse`` is one)."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> _Body: ...


class HttpSession(Protocol):
    """What the transport asks of its session (``aiohttp.ClientSession`` is one)."""

    def request(
        self,
        method: str,
        url: str,
        *,
        data: bytes | None,
        headers: dict[str, str],
        allow_redirects: bool,
        proxy: str | None,
        proxy_headers: dict[str, str] | None,
    ) -> AbstractAsyncContextManager[HttpResponse]: ...

    async def close(self) -> None: ...


class AiohttpTransport:
    """A `Transport` over one shared ``aiohttp.ClientSession``.

    Build it inside a running loop (the session binds to it); close it when the run ends.
    ``proxy``: every request goes through it (the caller resolved it for the one origin the
    requests go to); ``None``: straight to the server.
    """

    __slots__ = (
        "_connections",
        "_max_body",
        "_proxy",
        "_proxy_headers",
        "_proxy_url",
        "_session",
    )

    def __init__(
        self,
        session: HttpSession | None = None,
        *,
        proxy: ProxyRoute | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        self._session = session or _session(connect_timeout)
        self._proxy = proxy
        # The proxy's URL without its credentials (aiohttp quotes the URL it was given in its
        # errors); they go to the proxy as a Proxy-Authorization header instead.
        self._proxy_url = proxy.display if proxy is not None else None
        auth = aiohttp.BasicAuth.from_url(URL(proxy.url)) if proxy is not None else None
        self._proxy_headers = {"Proxy-Authorization": auth.encode()} if auth is not None else None
        # Our own gate on connections, taken before a request's time limit starts: the
        # connector itself is unlimited, so no request waits inside aiohttp's timeout.
        self._connections = asyncio.Semaphore(max_connections)
        self._max_body = max_body_bytes

    def __repr__(self) -> str:
        return f"<AiohttpTransport max_body={self._max_body} proxy={self._proxy!r}>"

    def _headers(self, url: str, headers: Mapping[str, str]) -> dict[str, str]:
        """The request's headers; through a proxy to a plain-HTTP URL the request itself goes
        to the proxy, so it carries the proxy's credentials (aiohttp sends ``proxy_headers``
        only on an HTTPS tunnel's CONNECT)."""
        if self._proxy_headers is None or not url.startswith("http://"):
            return dict(headers)
        return {**headers, **self._proxy_headers}

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        time_limit: float,
    ) -> RawAnswer:
        async with self._connections:
            try:
                async with asyncio.timeout(time_limit):
                    async with self._session.request(
                        method,
                        url,
                        data=body,
                        headers=self._headers(url, headers),
                        allow_redirects=False,
                        proxy=self._proxy_url,
                        proxy_headers=self._proxy_headers,
                    ) as resp:
                        raw = await self._read(resp, method, url)
                        headers_in = CIMultiDictProxy(CIMultiDict(resp.headers))
                        return RawAnswer(resp.status, headers_in, raw)
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                # Refused, unreachable or not connected in time: nothing reached the server.
                raise ArmTransportError(
                    f"{method} {path_of(url)}: cannot connect: {type(exc).__name__}", sent=False
                ) from exc
            except TimeoutError as exc:
                raise ArmTransportError(
                    f"{method} {path_of(url)}: no whole answer within {time_limit:g} s", sent=True
                ) from exc
            except aiohttp.ClientError as exc:
                raise ArmTransportError(
                    f"{method} {path_of(url)}: {type(exc).__name__}: {exc}", sent=True
                ) from exc

    async def _read(self, resp: HttpResponse, method: str, url: str) -> bytes:
        raw = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            raw += chunk
            if len(raw) > self._max_body:
                # Read no further: the answer is refused anyway.
                raise ArmResponseError(
                    f"{method} {path_of(url)}: answer larger than {self._max_body} bytes"
                )
        return bytes(raw)

    async def close(self) -> None:
        await self._session.close()


def _session(connect_timeout: float) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(
        # The exchange's own limit is `send`'s; only the connect phase has one here.
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout),
        connector=aiohttp.TCPConnector(limit=0),
        raise_for_status=False,
        # The proxy comes per request, resolved once (proxy.py); True would read the environment
        # and ~/.netrc for every request, each in a thread (and a .netrc entry for the ARM host
        # would clash with the bearer token).
        trust_env=False,
        auto_decompress=True,
    )
    # aiohttp re-sends a GET once on its own when the server drops the connection: a call that
    # passes no limiter and no counter. The ARM client's retry policy does that job instead.
    session._retry_connection = False
    return session


def path_of(url: str) -> str:
    """The URL's path alone, for logs and errors: a server's query may carry a signature."""
    return urlsplit(url).path or "/"
