"""Long-running-operation strategies: how to read where an accepted PATCH stands.

The first strategy that applies wins: ``Azure-AsyncOperation`` when the PATCH's answer carried
it, else ``Location``. A 200 PATCH answer that carries either is still running (as azure-core
reads it); only a 200 with neither is done at once. Strategies are pure: they turn one answer
into a :class:`PollVerdict`; the poller does the waiting and decides what a status URL that stays
unreadable means (a 403 fails the operation at once, a 404 only once it persists).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from orchestrator.arm.api import ArmResponse, http_error
from orchestrator.arm.retry import RETRYABLE_STATUSES, parse_retry_after
from orchestrator.asr.agents import parse_arm_time
from orchestrator.asr.rules import Verdict, classify_operation_status
from orchestrator.errors import ArmError, ArmResponseError


class Unreadable(StrEnum):
    """Why a status read said nothing about the operation (the poller's rules differ)."""

    TRANSIENT = "transient"  # 5xx, 408, 429, a dropped connection, a broken body: read again
    FORBIDDEN = "forbidden"  # 403: the identity may not read it; it never will
    NOT_FOUND = "not_found"  # 404: not (yet, or any longer) known there


class StrategyKind(StrEnum):
    """Which kind of status URL an operation is read at (kept in the journal)."""

    AZURE_ASYNC_OPERATION = "azure_async_operation"
    LOCATION = "location"
    UNKNOWN = "unknown"  # read back from a report, which does not record it


@dataclass(frozen=True, slots=True)
class PollVerdict:
    """What one status read says: the verdict, ASR's status word, the error, the server's hints.

    ``server_duration``: ``endTime - startTime`` as the server wrote them. Never trusted alone
    to say how long to wait: the poller takes the shorter of it and what it saw pass itself.
    """

    verdict: Verdict
    status: str | None = None
    error: ArmError | None = None
    retry_after: float | None = None
    server_duration: float | None = None
    unreadable: Unreadable | None = None


class PollStrategy(Protocol):
    """Reads one kind of operation-status URL."""

    @property
    def url(self) -> str: ...

    @property
    def kind(self) -> StrategyKind: ...

    def interpret(self, response: ArmResponse) -> PollVerdict: ...


def unreadable(response: ArmResponse, retry_after: float | None) -> PollVerdict:
    """A read that says nothing of the operation, with why (the poller decides what follows)."""
    why = (
        Unreadable.FORBIDDEN
        if response.status == 403
        else Unreadable.NOT_FOUND
        if response.status == 404
        else Unreadable.TRANSIENT
    )
    return PollVerdict(
        Verdict.UNREADABLE, error=http_error(response), retry_after=retry_after, unreadable=why
    )


@dataclass(frozen=True, slots=True)
class AsyncOperationPolling:
    """``Azure-AsyncOperation``: 200 with ``status``; any other answer means the read failed."""

    url: str

    @property
    def kind(self) -> StrategyKind:
        return StrategyKind.AZURE_ASYNC_OPERATION

    def interpret(self, response: ArmResponse) -> PollVerdict:
        retry_after = parse_retry_after(response.header("Retry-After"))
        if response.status != 200:
            return unreadable(response, retry_after)
        body = response.body
        status = body.get("status") if isinstance(body, dict) else None
        if not isinstance(status, str):
            problem = ArmResponseError("operation status answer has no 'status' string")
            return PollVerdict(
                Verdict.UNREADABLE,
                error=problem,
                retry_after=retry_after,
                unreadable=Unreadable.TRANSIENT,
            )
        state = classify_operation_status(status)
        if state is Verdict.RUNNING:
            return PollVerdict(Verdict.RUNNING, status=status, retry_after=retry_after)
        duration = _server_duration(body)
        if state is Verdict.SUCCEEDED:
            return PollVerdict(Verdict.SUCCEEDED, status=status, server_duration=duration)
        return PollVerdict(
            Verdict.FAILED,
            status=status,
            error=_operation_error(body, status),
            server_duration=duration,
        )


@dataclass(frozen=True, slots=True)
class LocationPolling:
    """``Location``: 202 while running, 200/204 when done.

    A 403 or 404 is an unreadable read (the poller's rules apply); any other 4xx but 408/429 is
    the operation's failure; 408, 429, 5xx and 3xx are reads to try again.
    """

    url: str

    @property
    def kind(self) -> StrategyKind:
        return StrategyKind.LOCATION

    def interpret(self, response: ArmResponse) -> PollVerdict:
        retry_after = parse_retry_after(response.header("Retry-After"))
        status = response.status
        if status == 202:
            return PollVerdict(Verdict.RUNNING, status="InProgress", retry_after=retry_after)
        if status in (200, 204):
            return PollVerdict(Verdict.SUCCEEDED, status="Succeeded")
        if status in (403, 404) or status in RETRYABLE_STATUSES or status >= 500 or status < 400:
            return unreadable(response, retry_after)
        return PollVerdict(Verdict.FAILED, status="Failed", error=http_error(response))


@dataclass(frozen=True, slots=True)
class ResumedPolling:
    """A status URL read back from an earlier report, whose kind the report does not record.

    An answer that carries a ``status`` string reads as ``Azure-AsyncOperation``; anything else
    as ``Location``.
    """

    url: str

    @property
    def kind(self) -> StrategyKind:
        return StrategyKind.UNKNOWN

    def interpret(self, response: ArmResponse) -> PollVerdict:
        body = response.body
        if (
            response.status == 200
            and isinstance(body, dict)
            and isinstance(body.get("status"), str)
        ):
            return AsyncOperationPolling(self.url).interpret(response)
        return LocationPolling(self.url).interpret(response)


def strategy_for(response: ArmResponse) -> PollStrategy | None:
    """The strategy for an accepted PATCH's answer; ``None`` when it names no status URL."""
    async_url = response.header("Azure-AsyncOperation")
    if async_url:
        return AsyncOperationPolling(async_url)
    location = response.header("Location")
    if location:
        return LocationPolling(location)
    return None


def strategy_of(kind: StrategyKind, url: str) -> PollStrategy:
    """The strategy for a status URL of a known (or unknown) kind, e.g. from the journal."""
    if kind is StrategyKind.AZURE_ASYNC_OPERATION:
        return AsyncOperationPolling(url)
    if kind is StrategyKind.LOCATION:
        return LocationPolling(url)
    return ResumedPolling(url)


def _operation_error(body: dict[str, Any], status: str) -> ArmError:
    error = body.get("error")
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        if isinstance(code, str) and code:
            return ArmError(code, message if isinstance(message, str) else status)
    return ArmError("operation_failed", f"the operation ended {status}")


def _server_duration(body: dict[str, Any]) -> float | None:
    start, end = body.get("startTime"), body.get("endTime")
    if not isinstance(start, str) or not isinstance(end, str):
        return None
    began, ended = parse_arm_time(start), parse_arm_time(end)
    if began is None or ended is None:
        return None
    seconds = (ended - began).total_seconds()
    return seconds if seconds >= 0 else None
