"""The ARM client: one session, bearer auth, the shared limiters, retries, paging, origin checks.

Every GET goes through the get limiter of its scope and every PATCH through the set limiter; a
429 pauses the whole scope for its ``Retry-After``. 408/5xx and connection errors are retried
with capped exponential backoff and jitter; other 4xx are not, except a 401 for an expired token,
which is retried once with a fresh one. The bearer token goes only to the configured origin.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import structlog
from multidict import CIMultiDict, CIMultiDictProxy

from orchestrator.arm.credentials import TokenProvider
from orchestrator.arm.limits import CallKind, LimiterRegistry, SlidingWindowLimiter
from orchestrator.arm.retry import RetryPolicy, parse_retry_after
from orchestrator.errors import (
    ArmAuthenticationError,
    ArmHttpError,
    ArmResponseError,
    ArmTransportError,
    AuthenticationError,
    StaleTokenError,
    UntrustedUrlError,
)

MAX_BODY_BYTES: Final = 8 * 1024 * 1024  # ARM pages are far smaller; more is a broken server
MAX_PAGES: Final = 10_000  # per listing: a server that pages forever must not hang the run
EXPIRED_TOKEN_CODES: Final = frozenset({"expiredauthenticationtoken"})
# What may follow the endpoint's origin in a URL for its authority to end there: a path, a query
# or nothing. Anything else (a port, a longer look-alike host, a '#') gets the full check.
_AFTER_ORIGIN: Final = frozenset({"", "/", "?"})

_log = structlog.get_logger("orchestrator.arm.client")


@dataclass(slots=True)
class CallCounters:
    """Requests the run sent, by kind, and the 429s and retries among them (for the report)."""

    get: int = 0
    set: int = 0
    throttled: int = 0
    retried: int = 0


@dataclass(frozen=True, slots=True)
class ArmResponse:
    """An answer ARM gave: status, headers and the parsed JSON body (``None`` when empty)."""

    status: int
    headers: CIMultiDictProxy[str] = field(repr=False)
    body: Any

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass(frozen=True, slots=True)
class Origin:
    """Scheme, host and port: the only place the bearer token may go."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        try:
            port = parts.port
        except ValueError:
            port = None
        default = 443 if scheme == "https" else 80
        return cls(scheme, (parts.hostname or "").lower(), port if port is not None else default)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


class ArmClient:
    """Sends ARM requests for the run. One instance per run, shared by every vault's work."""

    __slots__ = (
        "_api_version",
        "_limiters",
        "_origin",
        "_origin_prefix",
        "_policy",
        "_rng",
        "_session",
        "_tokens",
        "counters",
        "endpoint",
    )

    def __init__(
        self,
        session: aiohttp.ClientSession,
        tokens: TokenProvider,
        limiters: LimiterRegistry,
        *,
        endpoint: str,
        api_version: str,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.counters = CallCounters()
        self._session = session
        self._tokens = tokens
        self._limiters = limiters
        self._api_version = api_version
        self._policy = policy or RetryPolicy()
        self._rng = rng or random.Random()
        self._origin = Origin.of(self.endpoint)
        self._origin_prefix = _origin_prefix(self.endpoint)

    def __repr__(self) -> str:
        return f"<ArmClient endpoint={self.endpoint!r} counters={self.counters}>"

    def url(self, path: str, *, api_version: str | None = None) -> str:
        """An absolute URL on the ARM endpoint for ``path`` with the ``api-version`` query."""
        return f"{self.endpoint}{path}?api-version={api_version or self._api_version}"

    def check_origin(self, url: str) -> None:
        """Raise :class:`UntrustedUrlError` unless ``url`` is on the configured ARM origin."""
        prefix = self._origin_prefix
        if (
            prefix
            and url.startswith(prefix)
            and url[len(prefix) : len(prefix) + 1] in _AFTER_ORIGIN
        ):
            # The authority ends where the endpoint's does, so it is the endpoint's, without
            # userinfo: no parse for the client's own URLs and ARM's links (every request).
            return
        parts = urlsplit(url)
        if Origin.of(url) != self._origin or parts.username is not None:
            raise UntrustedUrlError(url, str(self._origin))

    async def get(
        self, url: str, *, subscription_id: str, priority: float = 0.0, attempts: int | None = None
    ) -> ArmResponse:
        """GET ``url``; any final status is returned (the caller decides what it means)."""
        return await self._send("GET", url, None, subscription_id, priority, attempts)

    async def patch(
        self, url: str, body: Mapping[str, object], *, subscription_id: str
    ) -> ArmResponse:
        """PATCH ``url`` with a JSON body; any final status is returned."""
        return await self._send("PATCH", url, body, subscription_id, 0.0, None)

    async def get_ok(self, url: str, *, subscription_id: str, priority: float = 0.0) -> Any:
        """GET ``url`` and return its JSON body; any status but 200 raises :class:`ArmHttpError`."""
        response = await self.get(url, subscription_id=subscription_id, priority=priority)
        if response.status != 200:
            raise http_error(response)
        return response.body

    async def pages(self, url: str, *, subscription_id: str) -> AsyncIterator[list[Any]]:
        """Yield the ``value`` list of each page of an ARM listing, following ``nextLink``."""
        seen: set[str] = set()
        next_url: str | None = url
        while next_url is not None:
            if next_url in seen or len(seen) >= MAX_PAGES:
                raise ArmResponseError(
                    f"paging did not end: nextLink repeats after {len(seen)} pages"
                )
            seen.add(next_url)
            body = await self.get_ok(next_url, subscription_id=subscription_id, priority=-1.0)
            yield _page_values(body)
            next_url = _next_link(body)

    async def _send(
        self,
        method: str,
        url: str,
        body: Mapping[str, object] | None,
        subscription_id: str,
        priority: float,
        attempts: int | None,
    ) -> ArmResponse:
        self.check_origin(url)
        kind = CallKind.SET if method == "PATCH" else CallKind.GET
        limiter = self._limiters.scope_for(subscription_id).for_kind(kind)
        max_attempts = attempts or self._policy.max_attempts
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                response, token = await self._attempt(limiter, priority, method, url, body, kind)
            except ArmTransportError as exc:
                if attempt >= max_attempts:
                    raise
                await self._wait_before_retry(method, url, attempt, None, str(exc))
                continue
            status = response.status
            if (
                status == 401
                and not refreshed
                and _error_code(response.body) in EXPIRED_TOKEN_CODES
            ):
                refreshed = True  # DESIGN: get a fresh token, then retry once
                await self._replace_token(token, method, url)
                continue
            if status == 429:
                self._on_throttled(limiter, kind, response, attempt)
            if not self._policy.is_retryable(status) or attempt >= max_attempts:
                return response
            if status == 429:
                self.counters.retried += 1  # the limiter's pause is the wait
                continue
            retry_after = parse_retry_after(response.header("Retry-After"))
            await self._wait_before_retry(method, url, attempt, retry_after, f"HTTP {status}")

    async def _attempt(
        self,
        limiter: SlidingWindowLimiter,
        priority: float,
        method: str,
        url: str,
        body: Mapping[str, object] | None,
        kind: CallKind,
    ) -> tuple[ArmResponse, str]:
        """One try: its limiter slot, a token, the exchange. Returns the answer and the token used."""
        # The slot is held until the answer is read or the request failed: the server counts the
        # request somewhere in between (see limits.py). The token is fetched inside it so a long
        # wait for the slot cannot leave it stale; it is cached.
        with await limiter.acquire(priority):
            try:
                token = await self._tokens.token()
            except AuthenticationError as exc:
                raise ArmAuthenticationError(exc.detail) from exc
            return await self._exchange(method, url, body, token, kind), token

    async def _replace_token(self, rejected: str, method: str, url: str) -> None:
        """Get a token other than ``rejected``, which ARM called expired.

        A credential's cache trusts the token's own expiry, so for a while it may hand back the
        rejected one: wait with backoff and ask again, without sending anything meanwhile.
        """
        for attempt in range(1, self._policy.max_attempts + 1):
            try:
                await self._tokens.refresh(rejected)
            except StaleTokenError:
                await self._wait_before_retry(method, url, attempt, None, "token still stale")
                continue
            except AuthenticationError as exc:
                raise ArmAuthenticationError(exc.detail) from exc
            _log.info("token_refreshed", method=method, path=_path(url))
            return
        raise ArmAuthenticationError(
            "the credential keeps returning the token ARM rejected as expired"
        )

    async def _exchange(
        self, method: str, url: str, body: Mapping[str, object] | None, token: str, kind: CallKind
    ) -> ArmResponse:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if kind is CallKind.SET:
            self.counters.set += 1
        else:
            self.counters.get += 1
        try:
            async with self._session.request(
                method, url, json=body, headers=headers, allow_redirects=False
            ) as resp:
                raw = bytearray()
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    raw += chunk
                    if len(raw) > MAX_BODY_BYTES:
                        break  # read no further: the answer is refused anyway
                status, resp_headers = resp.status, CIMultiDictProxy(CIMultiDict(resp.headers))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ArmTransportError(f"{method} {_path(url)}: {type(exc).__name__}: {exc}") from exc
        if len(raw) > MAX_BODY_BYTES:
            raise ArmResponseError(
                f"{method} {_path(url)}: answer larger than {MAX_BODY_BYTES} bytes"
            )
        return ArmResponse(status, resp_headers, _parse_body(bytes(raw), status, method, url))

    def _on_throttled(
        self, limiter: SlidingWindowLimiter, kind: CallKind, response: ArmResponse, attempt: int
    ) -> None:
        self.counters.throttled += 1
        retry_after = parse_retry_after(response.header("Retry-After"))
        pause = self._policy.delay(attempt, retry_after, self._rng)
        limiter.pause(pause)
        _log.warning("throttled", kind=str(kind), retry_after=retry_after, pause_s=round(pause, 3))

    async def _wait_before_retry(
        self, method: str, url: str, attempt: int, retry_after: float | None, reason: str
    ) -> None:
        delay = self._policy.delay(attempt, retry_after, self._rng)
        self.counters.retried += 1
        _log.info(
            "retry",
            method=method,
            path=_path(url),
            attempt=attempt,
            delay_s=round(delay, 3),
            reason=reason,
        )
        await asyncio.sleep(delay)


def http_error(response: ArmResponse) -> ArmHttpError:
    """The :class:`ArmHttpError` for an unwanted answer, with ARM's ``{code, message}`` when given."""
    code, message = _error_fields(response.body)
    return ArmHttpError(
        response.status,
        code or f"http_{response.status}",
        message or f"ARM answered HTTP {response.status}",
    )


def _parse_body(raw: bytes, status: int, method: str, url: str) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        if status >= 400:
            return None  # an error page that is not JSON: the status alone says what failed
        raise ArmResponseError(f"{method} {_path(url)}: answer is not JSON ({exc})") from exc


def _error_fields(body: Any) -> tuple[str | None, str | None]:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    return (code if isinstance(code, str) else None, message if isinstance(message, str) else None)


def _error_code(body: Any) -> str:
    return (_error_fields(body)[0] or "").lower()


def _page_values(body: Any) -> list[Any]:
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise ArmResponseError("a listing page has no 'value' list")
    values: list[Any] = body["value"]
    return values


def _next_link(body: dict[str, Any]) -> str | None:
    link = body.get("nextLink")
    if link is None or link == "":
        return None
    if not isinstance(link, str):
        raise ArmResponseError("a listing page's 'nextLink' is not a string")
    return link


def _origin_prefix(endpoint: str) -> str | None:
    """``scheme://host[:port]`` exactly as the endpoint spells it, for `check_origin`'s fast path.

    None when the endpoint is unusual (not http(s), no host, userinfo, a bad port, characters
    that urlsplit drops): then every URL gets the full check.
    """
    parts = urlsplit(endpoint)
    try:
        parts.port  # noqa: B018  # raises ValueError for a port out of range
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    prefix = f"{parts.scheme}://{parts.netloc}"
    return prefix if endpoint.startswith(prefix) else None


def _path(url: str) -> str:
    """The URL without its query, for logs: a server-supplied query may carry a signature."""
    return urlsplit(url).path
