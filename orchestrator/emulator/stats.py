"""Read-only statistics of a running emulator, for benchmarks that run it in another process.

``GET /_emulator/counters`` answers the `Counters` as JSON (request and response totals, 429s,
window peaks next to the limits, faults, operations started, conflicts, and how many status
reads each operation got, from the journal); ``GET /_emulator/journal[?kind=set|get|token]``
answers the journalled requests, oldest first. Neither is an ARM call: they are routed before
the ARM pipeline, so they need no token, pass no limit, get no fault, and are neither counted
nor journalled. Nothing here changes the state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from orchestrator.emulator.journal import RequestKind
from orchestrator.emulator.payloads import JsonObject
from orchestrator.emulator.replies import Reply, error_reply
from orchestrator.emulator.routes import STATS_PREFIX
from orchestrator.emulator.state import EmulatorState

COUNTERS_PATH = f"/{STATS_PREFIX}/counters"
JOURNAL_PATH = f"/{STATS_PREFIX}/journal"


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
        "conflicts": counters.conflicts,
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


def stats_reply(state: EmulatorState, method: str, path: str, query: Mapping[str, str]) -> Reply:
    """Answer a request under ``/_emulator/``."""
    if path.rstrip("/") not in (COUNTERS_PATH, JOURNAL_PATH):
        return error_reply(404, "NotFound", f"No statistics at '{path}'.")
    if method != "GET":
        return error_reply(405, "MethodNotAllowed", "Use GET.")
    if path.rstrip("/") == COUNTERS_PATH:
        return Reply(200, counters_json(state))
    kind = query.get("kind")
    if kind is not None and kind not in set(RequestKind):
        return error_reply(400, "BadRequest", f"unknown kind {kind!r}")
    return Reply(200, journal_json(state, kind))
