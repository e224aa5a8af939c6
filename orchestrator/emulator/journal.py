"""What the emulator saw: counters, and a bounded journal of requests, for tests to read."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_JOURNAL_SIZE = 200_000
NO_ANSWER = 0  # the status journalled for a dropped connection


class RequestKind(StrEnum):
    """How a request counts: ARM GETs and PATCHes are limited separately; tokens are not."""

    GET = "get"
    SET = "set"
    TOKEN = "token"


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One request: arrival time (the emulator's clock), what it was, and how it was answered."""

    time: float
    method: str
    path: str
    kind: RequestKind
    status: int  # NO_ANSWER when the connection was dropped
    operation_id: str | None = None  # the operation a PATCH started or a poll asked about


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token the managed-identity endpoint issued (the token itself is not kept here)."""

    resource: str
    client_id: str | None
    issued_at: float
    expires_at: float  # clock seconds: from then on ARM answers ExpiredAuthenticationToken
    reported_expiry: float | None = None  # what the identity endpoint said (default: expires_at)

    @property
    def reported_expires_at(self) -> float:
        """The expiry the identity endpoint reported (clock seconds)."""
        return self.expires_at if self.reported_expiry is None else self.reported_expiry


@dataclass(slots=True)
class Counters:
    """Running totals. `StrEnum` keys compare equal to plain strings: ``requests["set"]`` works."""

    requests: Counter[str] = field(default_factory=Counter)  # by kind
    responses: Counter[tuple[str, int]] = field(default_factory=Counter)  # by (kind, status)
    throttled: Counter[str] = field(default_factory=Counter)  # 429s from the limits, by kind
    peak_window: dict[str, int] = field(default_factory=dict)  # most arrivals in one window
    faults: Counter[str] = field(default_factory=Counter)  # injected, by FaultKind
    patches_while_running: int = 0  # PATCHes to a mapping whose operation was still running
    conflicts: int = 0  # of those, the ones answered 409 Conflict
    operations_started: int = 0
    tokens: list[IssuedToken] = field(default_factory=list)


class Journal:
    """The last ``size`` requests, oldest first; ``size=0`` keeps none (for benchmarks)."""

    __slots__ = ("_entries", "size")

    def __init__(self, size: int = DEFAULT_JOURNAL_SIZE) -> None:
        if size < 0:
            raise ValueError("journal size must not be negative")
        self.size = size
        self._entries: deque[JournalEntry] = deque(maxlen=size)

    def __repr__(self) -> str:
        return f"Journal(size={self.size}, entries={len(self._entries)})"

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(list(self._entries))

    def record(self, entry: JournalEntry) -> None:
        """Keep ``entry``, dropping the oldest when full."""
        if self.size:
            self._entries.append(entry)

    def of_operation(self, operation_id: str) -> list[JournalEntry]:
        """Entries about one operation (case-insensitive), oldest first."""
        wanted = operation_id.lower()
        return [e for e in self._entries if e.operation_id and e.operation_id.lower() == wanted]
