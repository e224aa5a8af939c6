"""What handlers see of a request (`Call`) and give back (`Reply`), and the pieces every handler
shares: ARM errors, links on the client's (or a foreign) origin, and paged lists."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from orchestrator.emulator.faults import FaultKind
from orchestrator.emulator.paging import decode_skiptoken, next_link, page
from orchestrator.emulator.payloads import JsonObject, arm_error
from orchestrator.emulator.routes import Route
from orchestrator.emulator.state import EmulatorState

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    """What a handler needs from one request."""

    route: Route
    method: str
    path: str  # as the client sent it, percent-decoded
    raw_path: str  # as the client sent it, still percent-encoded
    base: str  # scheme://host:port the client used
    api_version: str
    skiptoken: str | None
    content_type: str
    body: bytes
    now: float


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer: status, JSON body (None for none), headers, the operation it concerns."""

    status: int
    body: JsonObject | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    operation_id: str | None = None


def error_reply(status: int, code: str, message: str, **headers: str) -> Reply:
    """An ARM error answer."""
    return Reply(status, arm_error(code, message), headers)


def not_found(what: str) -> Reply:
    """ARM's 404 for a resource that does not exist."""
    return error_reply(404, "ResourceNotFound", f"The resource '{what}' was not found.")


def retry_after(state: EmulatorState) -> dict[str, str]:
    """The ``Retry-After`` of accepted PATCHes and in-progress reads: none unless configured."""
    seconds = state.spec.retry_after_seconds
    return {} if seconds is None else {"Retry-After": str(seconds)}


def link_base(state: EmulatorState, call: Call, foreign: str | None) -> str:
    """The origin a link in an answer points at: the one the client used, or a foreign one."""
    if foreign is None:
        return call.base
    state.counters.faults[FaultKind.FOREIGN_LINK] += 1
    return foreign


def paged(
    state: EmulatorState, call: Call, items: Sequence[T], render: Callable[[T], JsonObject]
) -> Reply:
    """One page of ``items`` with a ``nextLink`` while more remain."""
    offset = 0
    if call.skiptoken is not None:
        decoded = decode_skiptoken(call.skiptoken)
        if decoded is None:
            return error_reply(400, "InvalidSkipToken", "The continuation token is not valid.")
        offset = decoded
    items_page, next_offset = page(items, offset, state.spec.page_size)
    body: JsonObject = {"value": [render(item) for item in items_page]}
    if next_offset is not None:
        base = link_base(state, call, state.spec.faults.foreign_links.next_link)
        body["nextLink"] = next_link(base, call.raw_path, call.api_version, next_offset)
    return Reply(200, body)
