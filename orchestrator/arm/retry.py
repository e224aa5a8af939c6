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

    def is_retryable(self, status: int) -> bool:
        return status in RETRYABLE_STATUSES

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Capped exponential backoff with full jitter for the retry after try number ``attempt`` (1-based)."""
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** min(max(attempt - 1, 0), 64))
        return rng.uniform(ceiling / 2, ceiling)

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """The wait before the next try: the server's Retry-After when it gave one, else backoff."""
        if retry_after is not None:
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
