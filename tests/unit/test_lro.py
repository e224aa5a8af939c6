"""Long-running-operation strategies: which one applies, and the verdict each answer gives.

An unreadable read also says why (transient, forbidden, not found): the poller's rules for a
status URL that stays unreadable depend on it (see test_poller.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from orchestrator.arm.api import ArmResponse
from orchestrator.asr.rules import Verdict
from orchestrator.errors import ArmHttpError, ArmResponseError
from orchestrator.work.lro import (
    AsyncOperationPolling,
    LocationPolling,
    PollVerdict,
    ResumedPolling,
    StrategyKind,
    Unreadable,
    strategy_for,
    strategy_of,
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


def test_a_200_patch_answer_naming_a_status_url_is_tracked_like_a_202() -> None:
    """Real ASR may answer 200 and still be running: azure-core reads the headers, so do we."""
    done_but_running = response(200, {"id": "m1"}, Azure_AsyncOperation=ASYNC_URL)
    assert strategy_for(done_but_running) == AsyncOperationPolling(ASYNC_URL)
    assert strategy_for(response(200, {"id": "m1"})) is None


# --- kinds and strategy_of -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "kind"),
    [
        (AsyncOperationPolling(ASYNC_URL), StrategyKind.AZURE_ASYNC_OPERATION),
        (LocationPolling(LOCATION_URL), StrategyKind.LOCATION),
        (ResumedPolling(ASYNC_URL), StrategyKind.UNKNOWN),
    ],
)
def test_each_strategy_names_its_kind(
    strategy: AsyncOperationPolling | LocationPolling | ResumedPolling, kind: StrategyKind
) -> None:
    assert strategy.kind is kind


@pytest.mark.parametrize(
    "strategy",
    [AsyncOperationPolling(ASYNC_URL), LocationPolling(LOCATION_URL), ResumedPolling(ASYNC_URL)],
)
def test_strategy_of_a_kind_and_url_rebuilds_the_strategy_the_journal_recorded(
    strategy: AsyncOperationPolling | LocationPolling | ResumedPolling,
) -> None:
    assert strategy_of(strategy.kind, strategy.url) == strategy


def test_strategy_of_an_accepted_answer_round_trips_through_its_kind() -> None:
    for accepted in (
        response(202, None, Azure_AsyncOperation=ASYNC_URL),
        response(202, None, Location=LOCATION_URL),
    ):
        strategy = strategy_for(accepted)
        assert strategy is not None
        assert strategy_of(strategy.kind, strategy.url) == strategy


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


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (400, Unreadable.TRANSIENT),
        (401, Unreadable.TRANSIENT),
        (403, Unreadable.FORBIDDEN),
        (404, Unreadable.NOT_FOUND),
        (408, Unreadable.TRANSIENT),
        (429, Unreadable.TRANSIENT),
        (500, Unreadable.TRANSIENT),
        (502, Unreadable.TRANSIENT),
        (503, Unreadable.TRANSIENT),
    ],
)
def test_async_operation_error_status_means_the_read_failed_not_the_operation(
    status: int, why: Unreadable
) -> None:
    body = {"error": {"code": "SomeCode", "message": "nope"}}
    verdict = read_async(response(status, body, Retry_After="3"))
    assert verdict.verdict is Verdict.UNREADABLE
    assert verdict.unreadable is why
    assert isinstance(verdict.error, ArmHttpError)
    assert (verdict.error.status, verdict.error.code) == (status, "SomeCode")
    assert verdict.retry_after == 3.0


@pytest.mark.parametrize("status", [301, 302, 307])
def test_async_operation_redirect_is_an_unreadable_read_never_followed(status: int) -> None:
    verdict = read_async(response(status, None, Location="https://elsewhere.example/op"))
    assert (verdict.verdict, verdict.unreadable) == (Verdict.UNREADABLE, Unreadable.TRANSIENT)
    assert isinstance(verdict.error, ArmHttpError)
    assert verdict.error.code == "redirect_not_followed"


@pytest.mark.parametrize("body", [None, [], "text", {"status": None}, {"status": 3}, {}])
def test_async_operation_200_without_a_status_string_is_unreadable(body: Any) -> None:
    verdict = read_async(response(200, body))
    assert verdict.verdict is Verdict.UNREADABLE
    assert verdict.unreadable is Unreadable.TRANSIENT
    assert isinstance(verdict.error, ArmResponseError)


def test_a_readable_answer_has_no_unreadable_reason() -> None:
    for verdict in (
        read_async(response(200, op_body("InProgress"))),
        read_async(response(200, op_body("Succeeded"))),
        read_async(response(200, op_body("Failed"))),
    ):
        assert verdict.unreadable is None


def test_real_asr_status_bodies_with_explicit_nulls_are_read() -> None:
    """DESIGN's recorded shape: null id, a GUID name, 7-digit fractions, null end and error."""
    body = {
        "id": None,
        "name": "0b7c7a4e-5d58-4a3b-9e55-6f1c1f3c2d11",
        "status": "InProgress",
        "startTime": "2026-11-25T01:00:00.1234567Z",
        "endTime": None,
        "error": None,
        "properties": None,
        "percentComplete": None,
    }
    verdict = read_async(response(200, body))
    assert (verdict.verdict, verdict.status, verdict.error) == (
        Verdict.RUNNING,
        "InProgress",
        None,
    )
    done = read_async(response(200, {**body, "status": "Succeeded", "endTime": None}))
    assert (done.verdict, done.server_duration) == (Verdict.SUCCEEDED, None)


@pytest.mark.parametrize(
    ("start", "end", "duration"),
    [
        ("2026-11-25T01:00:00Z", "2026-11-25T01:00:42Z", 42.0),
        ("2026-11-25T01:00:00.5+00:00", "2026-11-25T01:01:00.5+00:00", 60.0),
        ("2026-11-25T01:00:00.1234567Z", "2026-11-25T01:00:10.1234567Z", 10.0),
        ("2026-11-25T02:00:00+01:00", "2026-11-25T01:00:05Z", 5.0),
        # No zone (ASR writes UTC): read as UTC, so still comparable with a zoned time.
        ("2026-11-25T01:00:00", "2026-11-25T01:00:42", 42.0),
        ("2026-11-25T01:00:00.1234567", "2026-11-25T01:00:42.1234567Z", 42.0),
    ],
)
def test_async_operation_duration_comes_from_start_and_end_time(
    start: str, end: str, duration: float
) -> None:
    verdict = read_async(response(200, op_body("Succeeded", startTime=start, endTime=end)))
    assert verdict.server_duration == pytest.approx(duration)


def test_a_failed_operation_also_reports_its_duration() -> None:
    body = op_body("Failed", startTime="2026-11-25T01:00:00Z", endTime="2026-11-25T01:00:03Z")
    assert read_async(response(200, body)).server_duration == 3.0


def test_a_running_operation_reports_no_duration() -> None:
    body = op_body("InProgress", startTime="2026-11-25T01:00:00Z", endTime="2026-11-25T01:00:03Z")
    assert read_async(response(200, body)).server_duration is None


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (None, "2026-11-25T01:00:42Z"),
        ("2026-11-25T01:00:00Z", None),
        ("yesterday", "2026-11-25T01:00:42Z"),
        ("2026-11-25T01:00:42Z", "2026-11-25T01:00:00Z"),  # ends before it starts
        (1700000000, 1700000042),
    ],
)
def test_async_operation_duration_is_none_when_times_are_missing_or_unusable(
    start: Any, end: Any
) -> None:
    verdict = read_async(response(200, op_body("Succeeded", startTime=start, endTime=end)))
    assert verdict.verdict is Verdict.SUCCEEDED
    assert verdict.server_duration is None


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


@pytest.mark.parametrize("status", [400, 401, 409, 412])
def test_location_other_4xx_is_the_operations_failure(status: int) -> None:
    body = {"error": {"code": "ReplicationFailed", "message": "it broke"}}
    verdict = read_location(response(status, body))
    assert verdict.verdict is Verdict.FAILED
    assert verdict.status == "Failed"
    assert isinstance(verdict.error, ArmHttpError)
    assert (verdict.error.code, verdict.error.message) == ("ReplicationFailed", "it broke")


@pytest.mark.parametrize("status", [400, 404])
def test_location_failure_without_a_body_names_the_status(status: int) -> None:
    verdict = read_location(response(status, None))
    assert verdict.error is not None
    assert verdict.error.code == f"http_{status}"


@pytest.mark.parametrize(
    ("status", "why"), [(403, Unreadable.FORBIDDEN), (404, Unreadable.NOT_FOUND)]
)
def test_location_403_and_404_are_unreadable_reads_for_the_poller_to_judge(
    status: int, why: Unreadable
) -> None:
    """Not the operation's failure outright: the poller fails a 403 at once, a 404 only once it
    persists (DESIGN, "A status URL that stays unreadable")."""
    body = {"error": {"code": "AuthorizationFailed", "message": "no read"}}
    verdict = read_location(response(status, body, Retry_After="2"))
    assert (verdict.verdict, verdict.unreadable, verdict.retry_after) == (
        Verdict.UNREADABLE,
        why,
        2.0,
    )
    assert isinstance(verdict.error, ArmHttpError)
    assert verdict.error.code == "AuthorizationFailed"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 501])
def test_location_408_429_and_5xx_are_unreadable(status: int) -> None:
    verdict = read_location(response(status, None, Retry_After="4"))
    assert (verdict.verdict, verdict.retry_after) == (Verdict.UNREADABLE, 4.0)
    assert verdict.unreadable is Unreadable.TRANSIENT
    assert isinstance(verdict.error, ArmHttpError)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_location_redirect_is_an_unreadable_read_never_followed(status: int) -> None:
    verdict = read_location(response(status, None, Location="https://elsewhere.example/x"))
    assert (verdict.verdict, verdict.unreadable) == (Verdict.UNREADABLE, Unreadable.TRANSIENT)
    assert verdict.error is not None
    assert verdict.error.code == "redirect_not_followed"


# --- a status URL read back from a report, kind unknown ------------------------------------------


def read_resumed(resp: ArmResponse) -> PollVerdict:
    return ResumedPolling(ASYNC_URL).interpret(resp)


def plain(verdict: PollVerdict) -> tuple[object, ...]:
    """A verdict's fields, its error by class, code and message (errors compare by identity)."""
    error = verdict.error
    return (
        verdict.verdict,
        verdict.status,
        None if error is None else (type(error), error.code, error.message),
        verdict.retry_after,
        verdict.server_duration,
        verdict.unreadable,
    )


@pytest.mark.parametrize(
    ("status", "verdict"),
    [("InProgress", Verdict.RUNNING), ("Succeeded", Verdict.SUCCEEDED), ("Failed", Verdict.FAILED)],
)
def test_a_resumed_answer_with_a_status_string_reads_as_azure_async_operation(
    status: str, verdict: Verdict
) -> None:
    resp = response(200, op_body(status), Retry_After="6")
    assert plain(read_resumed(resp)) == plain(read_async(resp))
    assert read_resumed(resp).verdict is verdict


@pytest.mark.parametrize(
    ("resp", "verdict"),
    [
        (response(202, None), Verdict.RUNNING),
        (response(200, None), Verdict.SUCCEEDED),
        (response(204, None), Verdict.SUCCEEDED),
        (response(200, {"id": "m1"}), Verdict.SUCCEEDED),
        (response(400, None), Verdict.FAILED),
        (response(404, None), Verdict.UNREADABLE),
        (response(503, None), Verdict.UNREADABLE),
    ],
)
def test_a_resumed_answer_without_a_status_string_reads_as_location(
    resp: ArmResponse, verdict: Verdict
) -> None:
    assert plain(read_resumed(resp)) == plain(read_location(resp))
    assert read_resumed(resp).verdict is verdict
