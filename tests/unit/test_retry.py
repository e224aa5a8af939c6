"""Retry decisions: which statuses are retried (PATCH apart), backoff with jitter, the server's
Retry-After (parsing, clamping, and which values are worth honouring)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from orchestrator.arm.retry import (
    DEFAULT_RETRY_AFTER_MAX,
    RETRYABLE_PATCH_STATUSES,
    RETRYABLE_STATUSES,
    RetryPolicy,
    parse_retry_after,
)

NOW = datetime(2026, 11, 25, 1, 0, 0, tzinfo=UTC)


class _ExtremesRng(random.Random):
    """Answers ``uniform`` with its lower or upper bound, so both ends of the jitter are checked."""

    def __init__(self, upper: bool) -> None:
        super().__init__(0)
        self._upper = upper

    def uniform(self, a: float, b: float) -> float:
        return b if self._upper else a


# --- is_retryable ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_throttling_timeouts_and_server_errors_are_retried(status: int) -> None:
    assert RetryPolicy().is_retryable(status)


@pytest.mark.parametrize("status", [200, 202, 204, 400, 401, 403, 404, 409, 412, 501, 505])
def test_success_other_4xx_and_unlisted_5xx_are_not_retried(status: int) -> None:
    assert not RetryPolicy().is_retryable(status)
    assert not RetryPolicy().is_retryable(status, "PATCH")


def test_a_get_is_retried_by_default() -> None:
    assert RetryPolicy().is_retryable(500) == RetryPolicy().is_retryable(500, "GET")


@pytest.mark.parametrize("status", [429, 503])
def test_a_patch_is_retried_only_where_asr_did_not_process_it(status: int) -> None:
    assert RetryPolicy().is_retryable(status, "PATCH")


@pytest.mark.parametrize("status", [408, 500, 502, 504])
def test_a_patch_that_asr_may_have_acted_on_is_not_retried(status: int) -> None:
    """The engine reads the mapping back instead of sending it blindly again."""
    assert RetryPolicy().is_retryable(status)
    assert not RetryPolicy().is_retryable(status, "PATCH")


def test_the_patch_statuses_are_a_subset_of_the_get_statuses() -> None:
    assert RETRYABLE_PATCH_STATUSES < RETRYABLE_STATUSES


# --- backoff -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 16.0)]
)
def test_backoff_ceiling_doubles_with_each_attempt(attempt: int, ceiling: float) -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=30.0)
    assert policy.backoff(attempt, _ExtremesRng(upper=True)) == ceiling
    assert policy.backoff(attempt, _ExtremesRng(upper=False)) == ceiling / 2


def test_backoff_is_capped_at_backoff_max() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=3.0)
    assert policy.backoff(10, _ExtremesRng(upper=True)) == 3.0


def test_backoff_jitter_stays_within_half_to_full_ceiling_and_varies() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_max=30.0)
    rng = random.Random(42)
    delays = [policy.backoff(3, rng) for _ in range(200)]
    assert all(2.0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 100  # jittered, not a constant


def test_backoff_treats_attempt_zero_like_the_first() -> None:
    policy = RetryPolicy(backoff_base=0.5)
    assert policy.backoff(0, _ExtremesRng(upper=True)) == 0.5


def test_backoff_stays_capped_for_a_huge_attempt_number() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=30.0)
    assert policy.backoff(1100, _ExtremesRng(upper=True)) == 30.0


# --- delay ---------------------------------------------------------------------------------------


def test_delay_uses_the_servers_retry_after_over_backoff() -> None:
    policy = RetryPolicy(backoff_base=100.0)
    assert policy.delay(5, 2.5, random.Random(0)) == 2.5


@pytest.mark.parametrize("retry_after", [0.0, -1.0, -30.0])
def test_delay_treats_a_zero_or_negative_retry_after_as_absent(retry_after: float) -> None:
    """A `Retry-After: 0` (or `-1`) would make retries spin: the backoff applies instead."""
    policy = RetryPolicy(backoff_base=0.5, backoff_max=30.0)
    assert policy.delay(3, retry_after, _ExtremesRng(upper=True)) == 2.0
    assert policy.delay(3, retry_after, _ExtremesRng(upper=False)) == 1.0


def test_delay_clamps_a_long_retry_after_to_retry_after_max() -> None:
    policy = RetryPolicy(retry_after_max=60.0)
    assert policy.delay(1, 86_400.0, random.Random(0)) == 60.0


def test_delay_without_retry_after_is_the_backoff() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=30.0)
    assert policy.delay(3, None, _ExtremesRng(upper=True)) == 2.0


# --- server_wait ---------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "seconds"), [("5", 5.0), (" 0.25 ", 0.25), ("120", 120.0)])
def test_server_wait_honours_a_positive_retry_after(header: str, seconds: float) -> None:
    assert RetryPolicy().server_wait(header) == seconds


@pytest.mark.parametrize("header", [None, "", "0", "-1", "-30", "soon", "nan", "inf"])
def test_server_wait_is_none_when_absent_zero_negative_or_garbage(header: str | None) -> None:
    assert RetryPolicy().server_wait(header) is None


def test_server_wait_clamps_to_the_policys_retry_after_max() -> None:
    assert RetryPolicy(retry_after_max=30.0).server_wait("86400") == 30.0


def test_server_wait_reads_an_http_date_in_the_future() -> None:
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    seconds = RetryPolicy().server_wait(soon)
    assert seconds is not None
    assert 30 < seconds <= 90


def test_server_wait_is_none_for_an_http_date_in_the_past() -> None:
    assert RetryPolicy().server_wait("Wed, 25 Nov 2020 00:59:00 GMT") is None


# --- parse_retry_after -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"), [("5", 5.0), (" 7 ", 7.0), ("0", 0.0), ("1.5", 1.5), ("120", 120.0)]
)
def test_delta_seconds_are_read_as_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value) == seconds


def test_negative_seconds_read_as_zero() -> None:
    assert parse_retry_after("-30") == 0.0


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_nan_and_infinite_seconds_are_ignored(value: str) -> None:
    assert parse_retry_after(value) is None


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "5 seconds", "0x10", "Wed, 99 Foo"])
def test_absent_or_garbage_values_are_none(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_http_date_reads_as_seconds_from_now() -> None:
    later = "Wed, 25 Nov 2026 01:00:42 GMT"
    assert parse_retry_after(later, now=NOW) == 42.0


def test_http_date_in_the_past_reads_as_zero() -> None:
    earlier = "Wed, 25 Nov 2026 00:59:00 GMT"
    assert parse_retry_after(earlier, now=NOW) == 0.0


def test_http_date_without_zone_is_taken_as_utc() -> None:
    # "-0000" is RFC 2822's "zone unknown"; parsedate_to_datetime returns a naive datetime.
    naive = "Wed, 25 Nov 2026 01:01:00 -0000"
    assert parse_retry_after(naive, now=NOW) == 60.0


def test_http_date_uses_the_wall_clock_when_no_now_is_given() -> None:
    soon = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    seconds = parse_retry_after(soon, maximum=7200.0)
    assert seconds is not None
    assert 3000 < seconds <= 3600


@pytest.mark.parametrize("value", ["86400000", "1e300", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_an_absurd_retry_after_is_clamped_for_every_reader(value: str) -> None:
    assert parse_retry_after(value, now=NOW) == DEFAULT_RETRY_AFTER_MAX
    assert parse_retry_after(value, now=NOW, maximum=10.0) == 10.0
