"""The ARM client: bearer auth, the shared limiters, retries, paging, origin checks.

Every GET goes through the get limiter of its scope and every PATCH through the set limiter; a
429 pauses the whole scope, for its ``Retry-After`` when it gave a positive one, else for an
exponential backoff with jitter. 408/5xx and connection errors are retried with capped
exponential backoff and jitter for GETs; a PATCH is retried only where ASR certainly did not act
on it (429, 503, a connection never made) — after an ambiguous failure the engine reads the
mapping back instead of sending it blindly again. Other 4xx are not retried, except a 401 for an
expired token: a fresh token, then one more try — once for each token ARM rejects, as the
fresh one may itself be rejected by the time it is sent (ARM's clock decides, not the token's
own expiry). While the credential still hands back a rejected token, the call waits, unsent,
until that token's own expiry when it is near (the credential's cache lets it go then), else
with backoff. A 3xx is returned, never followed. The bearer token goes only to the configured
origin; every answer is parsed defensively (any parse failure is an unreadable answer for that
call only).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import structlog

from orchestrator.arm.api import (
    LISTING_PRIORITY,
    ArmResponse,
    BeforeSend,
    CallCounters,
    error_fields,
    http_error,
)
from orchestrator.arm.credentials import TokenProvider
from orchestrator.arm.limits import CallKind, SlidingWindowLimiter, Slot
from orchestrator.arm.origin import TrustedOrigin
from orchestrator.arm.paging import next_link, page_values, parse_body, resolve_link
from orchestrator.arm.registry import LimiterRegistry
from orchestrator.arm.retry import RetryPolicy
from orchestrator.arm.transport import DEFAULT_REQUEST_TIMEOUT, Transport, path_of
from orchestrator.errors import (
    ArmAuthenticationError,
    ArmResponseError,
    ArmTransportError,
    AuthenticationError,
    SendWithdrawn,
    StaleTokenError,
)

EXPIRED_TOKEN_CODES: Final = frozenset({"expiredauthenticationtoken"})
# How long past a rejected token's own expiry to ask the credential again: its cache compares
# whole seconds, and the calls waiting for it should not all ask at the same instant.
STALE_WAIT_SLACK: Final = (0.05, 0.25)

_log = structlog.get_logger("orchestrator.arm")


@dataclass(slots=True, kw_only=True)
class _Call:
    """One call being sent: what it is, where it queues, and how its tries stand."""

    method: str
    url: str
    body: bytes | None
    kind: CallKind
    limiter: SlidingWindowLimiter
    priority: float
    reserve: int
    before_send: BeforeSend | None
    max_attempts: int
    attempt: int = 0
    rejected: set[str] = field(default_factory=set)  # tokens ARM called expired on this call

    @property
    def last(self) -> bool:
        return self.attempt >= self.max_attempts


class ArmClient:
    """Sends ARM requests for the run: an :class:`~orchestrator.arm.api.ArmApi`. One per run."""

    __slots__ = (
        "_api_version",
        "_counters",
        "_debug",
        "_limiters",
        "_origin",
        "_policy",
        "_request_timeout",
        "_rng",
        "_tokens",
        "_transport",
        "endpoint",
    )

    def __init__(
        self,
        transport: Transport,
        tokens: TokenProvider,
        limiters: LimiterRegistry,
        *,
        endpoint: str,
        api_version: str,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._counters = CallCounters()
        self._transport = transport
        self._tokens = tokens
        self._limiters = limiters
        self._api_version = api_version
        self._policy = policy or RetryPolicy()
        self._rng = rng or random.Random()
        self._request_timeout = request_timeout
        self._origin = TrustedOrigin(self.endpoint)
        # Whether each request is logged: asked once, not per request (the path and the time
        # it took would be worked out for every request, and then dropped).
        self._debug: bool = _log.is_enabled_for(logging.DEBUG)

    def __repr__(self) -> str:
        return f"<ArmClient endpoint={self.endpoint!r} counters={self._counters}>"

    @property
    def counters(self) -> CallCounters:
        return self._counters

    @property
    def limiters(self) -> LimiterRegistry:
        return self._limiters

    def url(self, path: str, *, api_version: str | None = None) -> str:
        """An absolute URL on the ARM endpoint for ``path`` with the ``api-version`` query."""
        return f"{self.endpoint}{path}?api-version={api_version or self._api_version}"

    def check_origin(self, url: str) -> None:
        """Raise :class:`UntrustedUrlError` unless ``url`` is on the configured ARM origin."""
        self._origin.check(url)

    async def get(
        self,
        url: str,
        *,
        subscription_id: str,
        priority: float = 0.0,
        attempts: int | None = None,
        reserve: int = 0,
    ) -> ArmResponse:
        """GET ``url``; any final status is returned (the caller decides what it means)."""
        return await self._send(
            "GET", url, None, subscription_id, priority, attempts, reserve, None
        )

    async def patch(
        self,
        url: str,
        body: Mapping[str, object],
        *,
        subscription_id: str,
        before_send: BeforeSend | None = None,
    ) -> ArmResponse:
        """PATCH ``url`` with a JSON body; any final status is returned.

        Retried only where ASR certainly did not act on it; any other failure is returned (an
        error status) or raised (:class:`ArmTransportError` with ``sent``) for the caller to
        resolve. ``before_send`` runs just before each try leaves; it may raise SendWithdrawn.
        """
        payload = json.dumps(body, separators=(",", ":")).encode()
        return await self._send("PATCH", url, payload, subscription_id, 0.0, None, 0, before_send)

    async def get_ok(
        self, url: str, *, subscription_id: str, priority: float = 0.0, reserve: int = 0
    ) -> Any:
        """GET ``url`` and return its JSON body; any status but 200 raises :class:`ArmHttpError`."""
        response = await self.get(
            url, subscription_id=subscription_id, priority=priority, reserve=reserve
        )
        if response.status != 200:
            raise http_error(response)
        return response.body

    async def pages(
        self, url: str, *, subscription_id: str, max_pages: int, reserve: int = 0
    ) -> AsyncIterator[list[Any]]:
        """Yield the ``value`` list of each page of an ARM listing, following ``nextLink``.

        A relative ``nextLink`` is resolved against the endpoint, and one with no
        ``api-version`` gets the first request's. More than ``max_pages`` pages, or a link seen
        before, raises ArmResponseError ``too_many_pages``. Pages go before polls
        (``LISTING_PRIORITY``) but never into the get budget's ``reserve``.
        """
        seen: set[bytes] = set()  # digests, not URLs: a hostile chain may send huge links
        api_version = dict(parse_qsl(urlsplit(url).query)).get("api-version", self._api_version)
        next_url: str | None = url
        while next_url is not None:
            digest = hashlib.sha256(next_url.encode()).digest()
            if digest in seen or len(seen) >= max_pages:
                raise ArmResponseError(
                    f"paging did not end: stopped after {len(seen)} pages", code="too_many_pages"
                )
            seen.add(digest)
            body = await self.get_ok(
                next_url,
                subscription_id=subscription_id,
                priority=LISTING_PRIORITY,
                reserve=reserve,
            )
            yield page_values(body)
            link = next_link(body)
            next_url = None if link is None else resolve_link(self.endpoint, link, api_version)

    async def _send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        subscription_id: str,
        priority: float,
        attempts: int | None,
        reserve: int,
        before_send: BeforeSend | None,
    ) -> ArmResponse:
        self.check_origin(url)
        kind = CallKind.SET if method == "PATCH" else CallKind.GET
        call = _Call(
            method=method,
            url=url,
            body=body,
            kind=kind,
            limiter=self._limiters.scope_for(subscription_id).for_kind(kind),
            priority=priority,
            reserve=reserve,
            before_send=before_send,
            max_attempts=attempts or self._policy.max_attempts,
        )
        while True:
            call.attempt += 1
            try:
                response, token = await self._attempt(call)
            except StaleTokenError as exc:
                # Only a token ARM already rejected is to be had: wait for a fresh one, unsent.
                if call.last:
                    raise ArmAuthenticationError(exc.detail) from exc
                await self._wait_before_retry(
                    call.method, call.url, call.attempt, self._stale_wait(exc), "token still stale"
                )
                continue
            except ArmTransportError as exc:
                if call.last or (kind is CallKind.SET and exc.sent):
                    raise
                await self._wait_before_retry(call.method, call.url, call.attempt, None, str(exc))
                continue
            if await self._settled(call, response, token):
                return response

    async def _settled(self, call: _Call, response: ArmResponse, token: str) -> bool:
        """Whether ``response`` is the call's answer; if not, wait (or not) for the next try."""
        status = response.status
        if (
            status == 401
            and token not in call.rejected
            and len(call.rejected) + 1 < self._policy.max_attempts  # tokens a call may try
            and _error_code(response.body) in EXPIRED_TOKEN_CODES
        ):
            # DESIGN: get a fresh token, then retry once. Once per rejected token (the fresh
            # one may have met ARM's cutoff too while the retry waited for its turn), even
            # for a call of one attempt (a poll): a rejected token is not a failed try.
            call.rejected.add(token)
            await self._replace_token(token, call.method, call.url)
            return False
        if status == 429:
            self._on_throttled(call.limiter, call.kind, response, call.attempt)
        if not self._policy.is_retryable(status, call.method) or call.last:
            return True
        if status == 429:
            self._counters.retried += 1  # the limiter's pause is the wait
            return False
        retry_after = self._policy.server_wait(response.header("Retry-After"))
        await self._wait_before_retry(
            call.method, call.url, call.attempt, retry_after, f"HTTP {status}"
        )
        return False

    async def _attempt(self, call: _Call) -> tuple[ArmResponse, str]:
        """One try: its limiter slot, a token, the exchange. Returns the answer and the token used."""
        # The slot is held until the answer is read or the request failed: the server counts the
        # request somewhere in between (see limits.py). The token is fetched inside it so a long
        # wait for the slot cannot leave it stale; it is cached.
        slot = await call.limiter.acquire(call.priority, reserve=call.reserve)
        with slot:
            try:
                token = await self._tokens.token()
            except StaleTokenError:
                slot.abandon()
                raise
            except AuthenticationError as exc:
                slot.abandon()
                raise ArmAuthenticationError(exc.detail) from exc
            if call.before_send is not None:
                try:
                    call.before_send()
                except SendWithdrawn:
                    slot.abandon()  # nothing leaves: the slot is free again at once
                    raise
            response = await self._exchange(
                slot, call.method, call.url, call.body, token, call.attempt
            )
            return response, token

    async def _replace_token(self, rejected: str, method: str, url: str) -> None:
        """Get a token other than ``rejected``, which ARM called expired.

        A credential's cache trusts the token's own expiry, so for a while it may hand back the
        rejected one: wait with backoff and ask again, without sending anything meanwhile.
        """
        for attempt in range(1, self._policy.max_attempts + 1):
            try:
                await self._tokens.refresh(rejected)
            except StaleTokenError as exc:
                await self._wait_before_retry(
                    method, url, attempt, self._stale_wait(exc), "token still stale"
                )
                continue
            except AuthenticationError as exc:
                raise ArmAuthenticationError(exc.detail) from exc
            _log.info("token_refreshed", method=method, path=path_of(url))
            return
        raise ArmAuthenticationError(
            "the credential keeps returning the token ARM rejected as expired"
        )

    def _stale_wait(self, exc: StaleTokenError) -> float | None:
        """How long to wait for the credential to let a rejected token go: until the token's own
        expiry when that is near, so one wait per token suffices; None (backoff) when it is far
        off (a revoked token) or unknown."""
        if exc.expires_in is None or exc.expires_in > self._policy.backoff_max:
            return None
        return max(exc.expires_in, 0.0) + self._rng.uniform(*STALE_WAIT_SLACK)

    async def _exchange(
        self, slot: Slot, method: str, url: str, body: bytes | None, token: str, attempt: int
    ) -> ArmResponse:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
            self._counters.set += 1
        else:
            self._counters.get += 1
        started = time.monotonic()
        try:
            raw = await self._transport.send(
                method, url, headers=headers, body=body, time_limit=self._request_timeout
            )
        except (ArmTransportError, ArmResponseError) as exc:
            if self._debug:
                _log.debug("request_failed", method=method, path=path_of(url), attempt=attempt,
                           ms=_ms(started), error=exc.code)  # fmt: skip
            raise
        if self._debug:
            _log.debug("request", method=method, path=path_of(url), status=raw.status,
                       attempt=attempt, ms=_ms(started))  # fmt: skip
        return ArmResponse(raw.status, raw.headers, parse_body(raw, method, url))

    def _on_throttled(
        self, limiter: SlidingWindowLimiter, kind: CallKind, response: ArmResponse, attempt: int
    ) -> None:
        self._counters.throttled += 1
        retry_after = self._policy.server_wait(response.header("Retry-After"))
        pause = self._policy.delay(attempt, retry_after, self._rng)
        limiter.pause(pause)
        _log.warning("throttled", kind=str(kind), retry_after=retry_after, pause_s=round(pause, 3))

    async def _wait_before_retry(
        self, method: str, url: str, attempt: int, retry_after: float | None, reason: str
    ) -> None:
        delay = self._policy.delay(attempt, retry_after, self._rng)
        self._counters.retried += 1
        _log.info(
            "retry",
            method=method,
            path=path_of(url),
            attempt=attempt,
            delay_s=round(delay, 3),
            reason=reason,
        )
        await asyncio.sleep(delay)


def _error_code(body: Any) -> str:
    return (error_fields(body)[0] or "").lower()


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
