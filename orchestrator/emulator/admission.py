"""What ARM refuses before a request reaches the resource provider, in ARM's order: the bearer
token (401, audience included), the ``api-version`` (400), then the sliding-window limit (429,
not admitted). A PATCH to a mapping whose operation still runs is noted on the way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from orchestrator.emulator.api_versions import invalid_version_message, version_known
from orchestrator.emulator.faults import throttle_headers
from orchestrator.emulator.journal import RequestKind
from orchestrator.emulator.replies import Reply, error_reply
from orchestrator.emulator.routes import Route, RouteKind
from orchestrator.emulator.state import EmulatorState

_WWW_AUTHENTICATE: Final = (
    'Bearer authorization_uri="https://login.microsoftonline.com/{tenant}", '
    'error="invalid_token", error_description="{message}"'
)


def _unauthenticated(state: EmulatorState, authorization: str | None, now: float) -> Reply | None:
    failure = state.tokens.check(authorization, now)
    if failure is None:
        return None
    challenge = _WWW_AUTHENTICATE.format(tenant=state.fleet.tenant_id, message=failure.message)
    return error_reply(401, failure.code, failure.message, **{"WWW-Authenticate": challenge})


def _bad_api_version(state: EmulatorState, route: Route, api_version: str | None) -> Reply | None:
    if not api_version:
        return error_reply(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    if state.spec.check_api_version and not version_known(route.kind, api_version):
        message = invalid_version_message(api_version, route.kind)
        return error_reply(400, "InvalidApiVersionParameter", message)
    return None


def _throttled(state: EmulatorState, kind: RequestKind, now: float) -> Reply | None:
    window = state.windows[kind]
    wait = window.admit(now)
    if wait is None:
        return None
    state.counters.throttled[kind] += 1
    return error_reply(
        429,
        "TooManyRequests",
        f"The request is being throttled: more than {window.calls} {kind} calls "
        f"in {window.per_seconds:g} seconds.",
        **throttle_headers(state.spec.throttle_retry_after, wait),
    )


def refusal(
    state: EmulatorState,
    route: Route,
    kind: RequestKind,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    now: float,
) -> Reply | None:
    """ARM's refusal of a request before handling, or None to go on (``headers`` lower-cased)."""
    refused = _unauthenticated(state, headers.get("authorization"), now)
    refused = refused or _bad_api_version(state, route, query.get("api-version"))
    if refused is not None:
        return refused
    if kind is RequestKind.SET and route.kind is RouteKind.MAPPING:
        record = state.mapping_record(route.mapping_key, now)
        if record is not None and state.operations.running(record, now):
            state.counters.patches_while_running += 1
    return _throttled(state, kind, now)
