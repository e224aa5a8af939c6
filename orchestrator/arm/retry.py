"""Retry decisions for ARM calls, kept apart from the code that sleeps.

Which answers are worth another try, how long to wait before it, and how to read a server's
``Retry-After`` (clamped: a server's word is honoured, but never a garbage or absurd one).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

RETRYABLE_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
# A PATCH answered 408/500/502/504 may have been acted on: it is not sent again blindly (the
# engine reads the mapping back first). 429 and 503 say the request was not processed.
RETRYABLE_PATCH_STATUSES: Final = frozenset({429, 503})

DEFAULT_MAX_ATTEMPTS: Final = 6
DEFAULT_BACKOFF_BASE: Final = 0.5
DEFAULT_BACKOFF_MAX: Final = 30.0
DEFAULT_RETRY_AFTER_MAX: Final = 300.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently one ARM call is retried."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS  # tries in all, the first included
    backoff_base: float = DEFAULT_BACKOFF_BASE  # seconds; doubles each attempt
    backoff_max: float = DEFAULT_BACKOFF_MAX  # cap of the exponential part
    retry_after_max: float = DEFAULT_RETRY_AFTER_MAX  # a longer Retry-After is clamped to this

    def is_retryable(self, status: int, method: str = "GET") -> bool:
        """Whether an answer with ``status`` is worth sending ``method`` again for."""
        if method == "PATCH":
            return status in RETRYABLE_PATCH_STATUSES
        return status in RETRYABLE_STATUSES

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Capped exponential backoff with *equal* jitter after try number ``attempt`` (1-based):
        uniform between half the ceiling and the ceiling, so no retry comes at once."""
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** min(max(attempt - 1, 0), 64))
        return rng.uniform(ceiling / 2, ceiling)

    def server_wait(self, header: str | None) -> float | None:
        """A ``Retry-After`` worth honouring: positive seconds, clamped; None when absent, zero,
        negative or garbage (then the backoff applies, so a `-1` cannot make retries spin)."""
        seconds = parse_retry_after(header, maximum=self.retry_after_max)
        return seconds if seconds is not None and seconds > 0 else None

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """The wait before the next try: the server's positive Retry-After, else the backoff."""
        if retry_after is not None and retry_after > 0:
            return min(retry_after, self.retry_after_max)
        return self.backoff(attempt, rng)


def parse_retry_after(
    value: str | None, *, now: datetime | None = None, maximum: float = DEFAULT_RETRY_AFTER_MAX
) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date); ``None`` if absent or garbage.

    Clamped to [0, ``maximum``]: every reader (retries, the poller's first and later reads) gets a
    sane wait, so one absurd header cannot park an operation until the deadline.
    """
    seconds = _read_retry_after(value, now)
    return None if seconds is None else min(max(seconds, 0.0), maximum)


def _read_retry_after(value: str | None, now: datetime | None) -> float | None:
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until_http_date(text, now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return seconds


def _seconds_until_http_date(text: str, now: datetime | None) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC)
    return (when - current).total_seconds()
