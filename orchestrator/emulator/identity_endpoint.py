"""The managed-identity token endpoint, App Service flavour, as azure-identity calls it
(``GET {IDENTITY_ENDPOINT}?api-version=…&resource=…`` with ``X-IDENTITY-HEADER``).

Not an ARM call: no bearer token, no limits, no ARM faults (only ``faults.token_failures``).
A token remembers the ``resource`` it was issued for; ARM checks it against its audiences.
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.emulator.faults import FaultKind
from orchestrator.emulator.journal import RequestKind
from orchestrator.emulator.replies import Reply, error_reply
from orchestrator.emulator.state import EmulatorState


def token_reply(
    state: EmulatorState,
    method: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    now: float,
) -> Reply:
    """Answer one token request; ``headers`` has lower-cased names."""
    state.arrive(RequestKind.TOKEN, now)
    if method != "GET":
        return error_reply(405, "MethodNotAllowed", "Use GET.")
    header = headers.get("x-identity-header")
    if header is None:
        return error_reply(
            400, "MissingIdentityHeader", "The X-IDENTITY-HEADER header is required."
        )
    if header != state.identity_header:
        return error_reply(
            401, "InvalidIdentityHeader", "The X-IDENTITY-HEADER header is not valid."
        )
    resource = query.get("resource")
    if not query.get("api-version") or not resource:
        return error_reply(400, "BadRequest", "Both 'api-version' and 'resource' are required.")
    if state.faults.token_fails():
        state.counters.faults[FaultKind.TOKEN_FAILURE] += 1
        return error_reply(500, "InternalServerError", "Injected fault: the token request failed.")
    client_id = query.get("client_id")
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
