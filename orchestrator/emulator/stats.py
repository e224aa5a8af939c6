"""Read-only statistics of a running emulator, for benchmarks that run it in another process.

``GET /_emulator/counters`` answers the `Counters` as JSON (request and response totals, 429s,
window peaks next to the limits, faults, operations started, and how many status reads each
operation got, from the journal); ``GET /_emulator/journal[?kind=set|get|token]`` answers the
journalled requests, oldest first. Neither is an ARM call: they are routed before the ARM
pipeline, so they need no token, pass no limit, get no fault, and are neither counted nor
journalled. Nothing here changes the state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from aiohttp import web

from orchestrator.emulator.journal import RequestKind
from orchestrator.emulator.payloads import JsonObject
from orchestrator.emulator.state import EmulatorState

STATS_PREFIX = "/_emulator"
COUNTERS_PATH = f"{STATS_PREFIX}/counters"
JOURNAL_PATH = f"{STATS_PREFIX}/journal"


def counters_json(state: EmulatorState) -> JsonObject:
    """The counters as plain JSON; ``polls_per_operation`` maps a number of reads to operations."""
    counters = state.counters
    limits = {
        str(kind): {"calls": window.calls, "per_seconds": window.per_seconds}
        for kind, window in state.windows.items()
    }
    return {
        "clock": state.now(),
        "requests": _plain(counters.requests),
        "responses": [
            {"kind": str(kind), "status": status, "count": count}
            for (kind, status), count in sorted(counters.responses.items())
        ],
        "throttled": _plain(counters.throttled),
        "peak_window": _plain(counters.peak_window),
        "limits": limits,
        "faults": _plain(counters.faults),
        "patches_while_running": counters.patches_while_running,
        "operations_started": counters.operations_started,
        "tokens_issued": len(counters.tokens),
        "journal": {"size": state.journal.size, "entries": len(state.journal)},
        "polls_per_operation": _polls_per_operation(state),
    }


def _plain(counts: Mapping[str, int]) -> dict[str, int]:
    """Enum-keyed counts with plain string keys."""
    return {str(key): count for key, count in counts.items()}


def _polls_per_operation(state: EmulatorState) -> dict[str, int]:
    """Operations by how many status reads (GETs naming them) the journal holds for each."""
    reads: Counter[str] = Counter()
    for entry in state.journal:
        if entry.kind is RequestKind.GET and entry.operation_id:
            reads[entry.operation_id.lower()] += 1
    spread = Counter(reads.values())
    return {str(polls): operations for polls, operations in sorted(spread.items())}


def journal_json(state: EmulatorState, kind: str | None) -> JsonObject:
    """The journalled requests (all, or those of one `RequestKind`), oldest first."""
    entries = [
        {
            "time": entry.time,
            "method": entry.method,
            "path": entry.path,
            "kind": str(entry.kind),
            "status": entry.status,
            "operation_id": entry.operation_id,
        }
        for entry in state.journal
        if kind is None or entry.kind == kind
    ]
    return {"size": state.journal.size, "entries": entries}


def add_stats_routes(app: web.Application, state: EmulatorState) -> None:
    """Serve the statistics of ``state``; call before the ARM catch-all route is added."""

    async def counters(request: web.Request) -> web.Response:
        return web.json_response(counters_json(state))

    async def journal(request: web.Request) -> web.Response:
        kind = request.query.get("kind")
        if kind is not None and kind not in set(RequestKind):
            return web.json_response(
                {"error": {"code": "BadRequest", "message": f"unknown kind {kind!r}"}}, status=400
            )
        return web.json_response(journal_json(state, kind))

    app.router.add_get(COUNTERS_PATH, counters, allow_head=False)
    app.router.add_get(JOURNAL_PATH, journal, allow_head=False)
