"""The emulator without a transport: `serve` answers one request given as plain data.

The aiohttp server (`app`) and in-process callers (tests, a virtual-time event loop) both go
through `serve`, so they see exactly the same emulator. For an ARM request, in order: count the
arrival (window peaks) → bearer token (401) → ``api-version`` (400) → the kind's sliding-window
limit (429, not admitted) → injected faults (drawn before handling: most answer instead of the
handler, so the request changes nothing; ``*_after_effect`` ones let it act first) → the resource
handler → delays (``slow``) → journal. ``/msi/token`` is the managed-identity endpoint and
``/_emulator/…`` the statistics; neither is an ARM call.

Time comes only from the state's clock; delays are ``asyncio.sleep`` on the running loop.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from orchestrator.emulator.admission import refusal
from orchestrator.emulator.faults import AFTER_EFFECT, FaultKind, throttle_headers
from orchestrator.emulator.handlers import handle
from orchestrator.emulator.identity_endpoint import token_reply
from orchestrator.emulator.journal import NO_ANSWER, JournalEntry, RequestKind
from orchestrator.emulator.paging import SKIPTOKEN
from orchestrator.emulator.replies import Call, Reply, error_reply
from orchestrator.emulator.routes import Route, RouteKind, resolve
from orchestrator.emulator.state import EmulatorState
from orchestrator.emulator.stats import stats_reply

MAX_BODY_BYTES: Final = 1024 * 1024
JSON_CONTENT_TYPE: Final = "application/json; charset=utf-8"
_DROPPING: Final = frozenset({FaultKind.DROP, FaultKind.DROP_AFTER_EFFECT})


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """One request as sent: ``url`` absolute (its origin is where links will point)."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)  # any letter case
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class OutboundAnswer:
    """The answer; ``dropped`` means the connection is closed without one (status 0)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    dropped: bool = False

    def json(self) -> Any:
        """The body as JSON (None when empty)."""
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True, slots=True)
class _Parsed:
    method: str
    path: str  # percent-decoded
    raw_path: str
    base: str  # scheme://host[:port]
    query: Mapping[str, str]  # first value of each name
    headers: Mapping[str, str]  # lower-cased names
    body: bytes


def _parse(request: InboundRequest) -> _Parsed:
    parts = urlsplit(request.url)
    query: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        query.setdefault(name, value)
    raw_path = parts.path or "/"
    return _Parsed(
        method=request.method.upper(),
        path=unquote(raw_path),
        raw_path=raw_path,
        base=f"{parts.scheme}://{parts.netloc}" if parts.scheme else "",
        query=query,
        headers={name.lower(): value for name, value in request.headers.items()},
        body=request.body,
    )


def _encode(reply: Reply) -> OutboundAnswer:
    headers = {"x-ms-request-id": str(uuid.uuid4()), **reply.headers}
    if reply.body is None:
        return OutboundAnswer(reply.status, headers, b"")
    headers["Content-Type"] = JSON_CONTENT_TYPE
    return OutboundAnswer(reply.status, headers, json.dumps(reply.body).encode())


def _fault_reply(state: EmulatorState, kind: FaultKind) -> Reply | None:
    """The answer an injected failure gives instead of the handler; None for a drop."""
    seconds = state.spec.retry_after_seconds
    if kind is FaultKind.DROP:
        return None
    if kind is FaultKind.HTTP_500:
        return error_reply(500, "InternalServerError", "Injected fault: internal server error.")
    if kind is FaultKind.HTTP_503:
        headers = {} if seconds is None else {"Retry-After": str(seconds)}
        return error_reply(
            503, "ServiceUnavailable", "Injected fault: service unavailable.", **headers
        )
    headers = throttle_headers(state.spec.throttle_retry_after, max(1, seconds or 0))
    return error_reply(
        429, "TooManyRequests", "Injected fault: the request is being throttled.", **headers
    )


def _handled(
    state: EmulatorState, parsed: _Parsed, route: Route, kind: RequestKind, now: float
) -> Reply:
    if parsed.method == "PATCH" and len(parsed.body) > MAX_BODY_BYTES:
        return error_reply(
            413, "RequestEntityTooLarge", f"The request body exceeds {MAX_BODY_BYTES} bytes."
        )
    call = Call(
        route=route,
        method=parsed.method,
        path=parsed.path,
        raw_path=parsed.raw_path,
        base=parsed.base,
        api_version=parsed.query.get("api-version", ""),
        skiptoken=parsed.query.get(SKIPTOKEN),
        content_type=parsed.headers.get("content-type", ""),
        body=parsed.body if parsed.method == "PATCH" else b"",
        now=now,
    )
    return handle(state, call, kind)


def _record(
    state: EmulatorState,
    parsed: _Parsed,
    kind: RequestKind,
    now: float,
    status: int,
    operation_id: str | None,
) -> None:
    state.counters.responses[(kind, status)] += 1
    state.journal.record(JournalEntry(now, parsed.method, parsed.path, kind, status, operation_id))


def _answer(
    state: EmulatorState, parsed: _Parsed, kind: RequestKind, now: float, reply: Reply
) -> OutboundAnswer:
    _record(state, parsed, kind, now, reply.status, reply.operation_id)
    return _encode(reply)


async def _arm(state: EmulatorState, parsed: _Parsed, route: Route, now: float) -> OutboundAnswer:
    kind = RequestKind.SET if parsed.method == "PATCH" else RequestKind.GET
    state.arrive(kind, now)
    refused = refusal(state, route, kind, parsed.query, parsed.headers, now)
    if refused is not None:
        return _answer(state, parsed, kind, now, refused)
    decision = state.faults.decide()
    failure = decision.failure
    reply: Reply | None
    if failure is None or failure in AFTER_EFFECT:
        reply = _handled(state, parsed, route, kind, now)
    else:
        reply = _fault_reply(state, failure)
    if failure is not None:
        state.counters.faults[failure] += 1
    delay = state.spec.faults.slow_seconds if failure is FaultKind.SLOW_AFTER_EFFECT else 0.0
    if decision.slow:
        state.counters.faults[FaultKind.SLOW] += 1
        delay += state.spec.faults.slow_seconds
    if delay:
        await asyncio.sleep(delay)
    if reply is not None and failure not in _DROPPING:
        return _answer(state, parsed, kind, now, reply)
    operation_id = reply.operation_id if reply is not None else None
    _record(state, parsed, kind, now, NO_ANSWER, operation_id)
    return OutboundAnswer(NO_ANSWER, {}, b"", dropped=True)


async def serve(state: EmulatorState, request: InboundRequest) -> OutboundAnswer:
    """Answer one request exactly as the HTTP server does (journal and counters included)."""
    parsed = _parse(request)
    route = resolve(parsed.path)
    if route.kind is RouteKind.STATS:
        return _encode(stats_reply(state, parsed.method, parsed.path, parsed.query))
    now = state.now()
    if route.kind is RouteKind.TOKEN:
        reply = token_reply(state, parsed.method, parsed.query, parsed.headers, now)
        return _answer(state, parsed, RequestKind.TOKEN, now, reply)
    return await _arm(state, parsed, route, now)
