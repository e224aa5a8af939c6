"""The aiohttp application: one catch-all route and the pipeline every request goes through.

For an ARM request, in order: count the arrival (window peaks) → bearer token (401) →
``api-version`` (400) → note a PATCH to a mapping whose operation still runs → the kind's
sliding-window limit (429, not admitted) → injected faults (decided before handling, so a
faulted request changes nothing) → the resource handler → journal. The managed-identity token
endpoint (``/msi/token``) is not an ARM call: no bearer token, no limits, no ARM faults.
"""

from __future__ import annotations

import asyncio
import uuid

from aiohttp import web

from orchestrator.emulator.faults import FaultKind
from orchestrator.emulator.handlers import Call, Reply, error_reply, handle
from orchestrator.emulator.journal import NO_ANSWER, JournalEntry, RequestKind
from orchestrator.emulator.paging import SKIPTOKEN
from orchestrator.emulator.routes import Route, RouteKind, resolve
from orchestrator.emulator.state import EmulatorState
from orchestrator.emulator.stats import add_stats_routes

MAX_BODY_BYTES = 1024 * 1024
_WWW_AUTHENTICATE = (
    'Bearer authorization_uri="https://login.microsoftonline.com/{tenant}", '
    'error="invalid_token", error_description="{message}"'
)


def _respond(reply: Reply) -> web.Response:
    headers = {"x-ms-request-id": str(uuid.uuid4()), **reply.headers}
    if reply.body is None:
        return web.Response(status=reply.status, headers=headers)
    return web.json_response(reply.body, status=reply.status, headers=headers)


def _fault_reply(kind: FaultKind, retry_after: int) -> Reply | None:
    """The answer an injected failure gives; None for a dropped connection."""
    if kind is FaultKind.DROP:
        return None
    if kind is FaultKind.HTTP_500:
        return error_reply(500, "InternalServerError", "Injected fault: internal server error.")
    if kind is FaultKind.HTTP_503:
        return error_reply(
            503,
            "ServiceUnavailable",
            "Injected fault: service unavailable.",
            **{"Retry-After": str(retry_after)},
        )
    return error_reply(
        429,
        "TooManyRequests",
        "Injected fault: the request is being throttled.",
        **{"Retry-After": str(max(1, retry_after))},
    )


class _Pipeline:
    """Answers every request for one `EmulatorState`."""

    __slots__ = ("state",)

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one request (the single route's handler)."""
        now = self.state.now()
        route = resolve(request.path)
        if route.kind is RouteKind.TOKEN:
            return self._answer(request, RequestKind.TOKEN, now, self._token(request, now))
        kind = RequestKind.SET if request.method == "PATCH" else RequestKind.GET
        self.state.arrive(kind, now)
        refusal = self._admission(request, route, kind, now)
        if refusal is not None:
            return self._answer(request, kind, now, refusal)
        decision = self.state.faults.decide()
        if decision.failure is None:
            reply: Reply | None = await self._handled(request, route, kind, now)
        else:
            self.state.counters.faults[decision.failure] += 1
            reply = _fault_reply(decision.failure, self.state.spec.retry_after_seconds)
        if decision.slow:
            self.state.counters.faults[FaultKind.SLOW] += 1
            await asyncio.sleep(self.state.spec.faults.slow_seconds)
        if reply is not None:
            return self._answer(request, kind, now, reply)
        self._record(request, kind, now, NO_ANSWER, None)
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)  # never sent: the connection is gone

    def _admission(
        self, request: web.Request, route: Route, kind: RequestKind, now: float
    ) -> Reply | None:
        """The refusal of a request before handling (401, 400, 429), or None to go on."""
        state = self.state
        failure = state.tokens.check(request.headers.get("Authorization"), now)
        if failure is not None:
            challenge = _WWW_AUTHENTICATE.format(
                tenant=state.fleet.tenant_id, message=failure.message
            )
            return error_reply(
                401, failure.code, failure.message, **{"WWW-Authenticate": challenge}
            )
        if not request.query.get("api-version"):
            return error_reply(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if kind is RequestKind.SET and route.kind is RouteKind.MAPPING:
            record = state.mapping_record(route.mapping_key, now)
            if record is not None and state.operations.running(record, now):
                state.counters.patches_while_running += 1
        wait = state.windows[kind].admit(now)
        if wait is None:
            return None
        state.counters.throttled[kind] += 1
        return error_reply(
            429,
            "TooManyRequests",
            f"The request is being throttled: more than {state.windows[kind].calls} {kind} calls "
            f"in {state.windows[kind].per_seconds:g} seconds.",
            **{"Retry-After": str(wait)},
        )

    async def _handled(
        self, request: web.Request, route: Route, kind: RequestKind, now: float
    ) -> Reply:
        try:
            call = await self._call(request, route, now)
        except web.HTTPRequestEntityTooLarge:
            return error_reply(
                413, "RequestEntityTooLarge", f"The request body exceeds {MAX_BODY_BYTES} bytes."
            )
        return handle(self.state, call, kind)

    async def _call(self, request: web.Request, route: Route, now: float) -> Call:
        body = await request.read() if request.method == "PATCH" else b""
        return Call(
            route=route,
            method=request.method,
            path=request.path,
            raw_path=request.url.raw_path,
            base=str(request.url.origin()),
            api_version=request.query.get("api-version", ""),
            skiptoken=request.query.get(SKIPTOKEN),
            content_type=request.headers.get("Content-Type", ""),
            body=body,
            now=now,
        )

    def _token(self, request: web.Request, now: float) -> Reply:
        """The App Service flavour of the managed-identity endpoint, as azure-identity calls it."""
        state = self.state
        state.arrive(RequestKind.TOKEN, now)
        if request.method != "GET":
            return error_reply(405, "MethodNotAllowed", "Use GET.")
        header = request.headers.get("X-IDENTITY-HEADER")
        if header is None:
            return error_reply(
                400, "MissingIdentityHeader", "The X-IDENTITY-HEADER header is required."
            )
        if header != state.identity_header:
            return error_reply(
                401, "InvalidIdentityHeader", "The X-IDENTITY-HEADER header is not valid."
            )
        resource = request.query.get("resource")
        if not request.query.get("api-version") or not resource:
            return error_reply(400, "BadRequest", "Both 'api-version' and 'resource' are required.")
        if state.faults.token_fails():
            state.counters.faults[FaultKind.TOKEN_FAILURE] += 1
            return error_reply(
                500, "InternalServerError", "Injected fault: the token request failed."
            )
        client_id = request.query.get("client_id")
        token, issued = state.tokens.issue(resource, client_id, now)
        state.counters.tokens.append(issued)
        return Reply(
            200,
            {
                "access_token": token,
                "expires_on": str(int(state.epoch(issued.reported_expires_at))),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": client_id or state.identity_client_id,
            },
        )

    def _answer(
        self, request: web.Request, kind: RequestKind, now: float, reply: Reply
    ) -> web.Response:
        self._record(request, kind, now, reply.status, reply.operation_id)
        return _respond(reply)

    def _record(
        self,
        request: web.Request,
        kind: RequestKind,
        now: float,
        status: int,
        operation_id: str | None,
    ) -> None:
        self.state.counters.responses[(kind, status)] += 1
        self.state.journal.record(
            JournalEntry(now, request.method, request.path, kind, status, operation_id)
        )


def build_app(state: EmulatorState) -> web.Application:
    """The emulator as an aiohttp application serving ``state``."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    add_stats_routes(app, state)  # before the catch-all: statistics are not ARM calls
    app.router.add_route("*", "/{tail:.*}", _Pipeline(state).handle)
    return app
