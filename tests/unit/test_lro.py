"""Long-running-operation strategies: which one applies, and the verdict each answer gives."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from orchestrator.arm.client import ArmResponse
from orchestrator.errors import ArmHttpError, ArmResponseError
from orchestrator.work.lro import (
    AsyncOperationPolling,
    LocationPolling,
    PollVerdict,
    Verdict,
    strategy_for,
)

BASE = "https://management.azure.com/subscriptions/s/providers/Microsoft.RecoveryServices"
ASYNC_URL = f"{BASE}/operationStatus/op1?api-version=2021-12-01"
LOCATION_URL = f"{BASE}/operationResults/op1?api-version=2021-12-01"


def response(status: int, body: Any = None, **headers: str) -> ArmResponse:
    """An ArmResponse; header names are given with ``_`` for ``-`` (``Retry_After``)."""
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    return ArmResponse(status, CIMultiDictProxy(CIMultiDict(named)), body)


def op_body(status: str, **extra: Any) -> dict[str, Any]:
    return {"id": "op1", "name": "op1", "status": status, **extra}


def read_async(resp: ArmResponse) -> PollVerdict:
    return AsyncOperationPolling(ASYNC_URL).interpret(resp)


def read_location(resp: ArmResponse) -> PollVerdict:
    return LocationPolling(LOCATION_URL).interpret(resp)


# --- strategy_for --------------------------------------------------------------------------------


def test_azure_async_operation_is_preferred_when_both_headers_are_given() -> None:
    accepted = response(202, None, Azure_AsyncOperation=ASYNC_URL, Location=LOCATION_URL)
    assert strategy_for(accepted) == AsyncOperationPolling(ASYNC_URL)


def test_location_is_used_when_it_is_the_only_header() -> None:
    assert strategy_for(response(202, None, Location=LOCATION_URL)) == LocationPolling(LOCATION_URL)


def test_header_names_match_case_insensitively() -> None:
    accepted = ArmResponse(
        202, CIMultiDictProxy(CIMultiDict({"azure-asyncoperation": ASYNC_URL})), None
    )
    assert strategy_for(accepted) == AsyncOperationPolling(ASYNC_URL)


def test_no_strategy_without_either_header() -> None:
    assert strategy_for(response(202, None, Retry_After="5")) is None


def test_an_empty_azure_async_operation_header_falls_back_to_location() -> None:
    accepted = response(202, None, Azure_AsyncOperation="", Location=LOCATION_URL)
    assert strategy_for(accepted) == LocationPolling(LOCATION_URL)


# --- Azure-AsyncOperation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", ["Succeeded", "PartiallySucceeded", "CompletedWithInformation", "succeeded"]
)
def test_async_operation_terminal_success_words_succeed(status: str) -> None:
    verdict = read_async(response(200, op_body(status)))
    assert (verdict.verdict, verdict.status, verdict.error) == (Verdict.SUCCEEDED, status, None)


@pytest.mark.parametrize("status", ["Failed", "Canceled", "Cancelled", "FAILED"])
def test_async_operation_failure_words_fail(status: str) -> None:
    verdict = read_async(response(200, op_body(status)))
    assert verdict.verdict is Verdict.FAILED
    assert verdict.status == status
    assert verdict.error is not None


@pytest.mark.parametrize("status", ["InProgress", "Running", "NotStarted", "Accepted", "Whatever"])
def test_async_operation_any_other_status_is_still_running(status: str) -> None:
    verdict = read_async(response(200, op_body(status), Retry_After="7"))
    assert (verdict.verdict, verdict.status, verdict.retry_after) == (Verdict.RUNNING, status, 7.0)


def test_async_operation_running_without_retry_after_has_no_hint() -> None:
    assert read_async(response(200, op_body("InProgress"))).retry_after is None


def test_async_operation_failure_carries_the_servers_error_code_and_message() -> None:
    body = op_body("Failed", error={"code": "AutomationAccountNotFound", "message": "gone"})
    error = read_async(response(200, body)).error
    assert error is not None
    assert (error.code, error.message) == ("AutomationAccountNotFound", "gone")


def test_async_operation_failure_without_a_message_uses_the_status_word() -> None:
    error = read_async(response(200, op_body("Canceled", error={"code": "UserCancelled"}))).error
    assert error is not None
    assert (error.code, error.message) == ("UserCancelled", "Canceled")


@pytest.mark.parametrize("error", [None, {}, {"code": ""}, {"code": 7}, "broken"])
def test_async_operation_failure_without_a_usable_error_gets_a_generic_one(error: Any) -> None:
    verdict = read_async(response(200, op_body("Failed", error=error)))
    assert verdict.error is not None
    assert verdict.error.code == "operation_failed"
    assert "Failed" in verdict.error.message


@pytest.mark.parametrize("status", [400, 401, 403, 404, 408, 429, 500, 502, 503])
def test_async_operation_error_status_means_the_read_failed_not_the_operation(
    status: int,
) -> None:
    body = {"error": {"code": "SomeCode", "message": "nope"}}
    verdict = read_async(response(status, body, Retry_After="3"))
    assert verdict.verdict is Verdict.UNREADABLE
    assert isinstance(verdict.error, ArmHttpError)
    assert (verdict.error.status, verdict.error.code) == (status, "SomeCode")
    assert verdict.retry_after == 3.0


@pytest.mark.parametrize("body", [None, [], "text", {"status": None}, {"status": 3}, {}])
def test_async_operation_200_without_a_status_string_is_unreadable(body: Any) -> None:
    verdict = read_async(response(200, body))
    assert verdict.verdict is Verdict.UNREADABLE
    assert isinstance(verdict.error, ArmResponseError)


@pytest.mark.parametrize(
    ("start", "end", "duration"),
    [
        ("2026-11-25T01:00:00Z", "2026-11-25T01:00:42Z", 42.0),
        ("2026-11-25T01:00:00.5+00:00", "2026-11-25T01:01:00.5+00:00", 60.0),
        ("2026-11-25T01:00:00.1234567Z", "2026-11-25T01:00:10.1234567Z", 10.0),
        ("2026-11-25T02:00:00+01:00", "2026-11-25T01:00:05Z", 5.0),
    ],
)
def test_async_operation_duration_comes_from_start_and_end_time(
    start: str, end: str, duration: float
) -> None:
    verdict = read_async(response(200, op_body("Succeeded", startTime=start, endTime=end)))
    assert verdict.duration == pytest.approx(duration)


def test_a_failed_operation_also_reports_its_duration() -> None:
    body = op_body("Failed", startTime="2026-11-25T01:00:00Z", endTime="2026-11-25T01:00:03Z")
    assert read_async(response(200, body)).duration == 3.0


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (None, "2026-11-25T01:00:42Z"),
        ("2026-11-25T01:00:00Z", None),
        ("yesterday", "2026-11-25T01:00:42Z"),
        ("2026-11-25T01:00:00", "2026-11-25T01:00:42"),  # no zone: not comparable to ARM time
        ("2026-11-25T01:00:42Z", "2026-11-25T01:00:00Z"),  # ends before it starts
        (1700000000, 1700000042),
    ],
)
def test_async_operation_duration_is_none_when_times_are_missing_or_unusable(
    start: Any, end: Any
) -> None:
    verdict = read_async(response(200, op_body("Succeeded", startTime=start, endTime=end)))
    assert verdict.verdict is Verdict.SUCCEEDED
    assert verdict.duration is None


# --- Location ------------------------------------------------------------------------------------


def test_location_202_is_running_with_the_servers_retry_after() -> None:
    verdict = read_location(response(202, None, Retry_After="11"))
    assert (verdict.verdict, verdict.retry_after) == (Verdict.RUNNING, 11.0)


@pytest.mark.parametrize("status", [200, 204])
def test_location_200_or_204_is_succeeded(status: int) -> None:
    verdict = read_location(response(status, None))
    assert (verdict.verdict, verdict.status, verdict.error) == (
        Verdict.SUCCEEDED,
        "Succeeded",
        None,
    )


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 412])
def test_location_other_4xx_is_the_operations_failure(status: int) -> None:
    body = {"error": {"code": "ReplicationFailed", "message": "it broke"}}
    verdict = read_location(response(status, body))
    assert verdict.verdict is Verdict.FAILED
    assert verdict.status == "Failed"
    assert isinstance(verdict.error, ArmHttpError)
    assert (verdict.error.code, verdict.error.message) == ("ReplicationFailed", "it broke")


def test_location_failure_without_a_body_names_the_status() -> None:
    verdict = read_location(response(404, None))
    assert verdict.error is not None
    assert verdict.error.code == "http_404"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 501])
def test_location_408_429_and_5xx_are_unreadable(status: int) -> None:
    verdict = read_location(response(status, None, Retry_After="4"))
    assert (verdict.verdict, verdict.retry_after) == (Verdict.UNREADABLE, 4.0)
    assert isinstance(verdict.error, ArmHttpError)
