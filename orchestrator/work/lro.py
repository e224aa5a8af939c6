"""Long-running-operation strategies: how to read where an accepted PATCH stands.

The first strategy that applies wins: ``Azure-AsyncOperation`` when the 202 carried it, else
``Location``. A 200 PATCH is done at once and needs none. Strategies are pure: they turn one
answer into a :class:`PollVerdict`; the poller does the waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from orchestrator.arm.client import ArmResponse, http_error
from orchestrator.arm.retry import RETRYABLE_STATUSES, parse_retry_after
from orchestrator.asr.rules import OperationState, classify_operation_status
from orchestrator.errors import ArmError, ArmResponseError


class Verdict(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNREADABLE = "unreadable"  # reading the status failed, not the operation: read again later


@dataclass(frozen=True, slots=True)
class PollVerdict:
    """What one status read says: the verdict, ASR's status word, the error, the server's hints."""

    verdict: Verdict
    status: str | None = None
    error: ArmError | None = None
    retry_after: float | None = None
    duration: float | None = None  # the operation's own run time, when the server reports it


class PollStrategy(Protocol):
    """Reads one kind of operation-status URL."""

    @property
    def url(self) -> str: ...

    def interpret(self, response: ArmResponse) -> PollVerdict: ...


@dataclass(frozen=True, slots=True)
class AsyncOperationPolling:
    """``Azure-AsyncOperation``: 200 with ``status``; any error status means the read failed."""

    url: str

    def interpret(self, response: ArmResponse) -> PollVerdict:
        retry_after = parse_retry_after(response.header("Retry-After"))
        if response.status != 200:
            return PollVerdict(
                Verdict.UNREADABLE, error=http_error(response), retry_after=retry_after
            )
        body = response.body
        status = body.get("status") if isinstance(body, dict) else None
        if not isinstance(status, str):
            problem = ArmResponseError("operation status answer has no 'status' string")
            return PollVerdict(Verdict.UNREADABLE, error=problem, retry_after=retry_after)
        state = classify_operation_status(status)
        if state is OperationState.RUNNING:
            return PollVerdict(Verdict.RUNNING, status=status, retry_after=retry_after)
        duration = _duration(body)
        if state is OperationState.SUCCEEDED:
            return PollVerdict(Verdict.SUCCEEDED, status=status, duration=duration)
        return PollVerdict(
            Verdict.FAILED, status=status, error=_operation_error(body, status), duration=duration
        )


@dataclass(frozen=True, slots=True)
class LocationPolling:
    """``Location``: 202 while running, 200/204 when done; another 4xx is the operation's failure."""

    url: str

    def interpret(self, response: ArmResponse) -> PollVerdict:
        retry_after = parse_retry_after(response.header("Retry-After"))
        status = response.status
        if status == 202:
            return PollVerdict(Verdict.RUNNING, status="InProgress", retry_after=retry_after)
        if status in (200, 204):
            return PollVerdict(Verdict.SUCCEEDED, status="Succeeded")
        if status in RETRYABLE_STATUSES or status >= 500 or status < 200:
            return PollVerdict(
                Verdict.UNREADABLE, error=http_error(response), retry_after=retry_after
            )
        return PollVerdict(Verdict.FAILED, status="Failed", error=http_error(response))


def strategy_for(response: ArmResponse) -> PollStrategy | None:
    """The strategy for an accepted PATCH's answer; ``None`` when it names no status URL."""
    async_url = response.header("Azure-AsyncOperation")
    if async_url:
        return AsyncOperationPolling(async_url)
    location = response.header("Location")
    if location:
        return LocationPolling(location)
    return None


def _operation_error(body: dict[str, Any], status: str) -> ArmError:
    error = body.get("error")
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        if isinstance(code, str) and code:
            return ArmError(code, message if isinstance(message, str) else status)
    return ArmError("operation_failed", f"the operation ended {status}")


def _duration(body: dict[str, Any]) -> float | None:
    start, end = _timestamp(body.get("startTime")), _timestamp(body.get("endTime"))
    if start is None or end is None:
        return None
    seconds = (end - start).total_seconds()
    return seconds if seconds >= 0 else None


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


@dataclass(frozen=True, slots=True)
class ResumedPolling:
    """A status URL read back from an earlier report, whose kind the report does not record.

    An answer that carries a ``status`` string reads as ``Azure-AsyncOperation``; anything else
    as ``Location``.
    """

    url: str

    def interpret(self, response: ArmResponse) -> PollVerdict:
        body = response.body
        if (
            response.status == 200
            and isinstance(body, dict)
            and isinstance(body.get("status"), str)
        ):
            return AsyncOperationPolling(self.url).interpret(response)
        return LocationPolling(self.url).interpret(response)
