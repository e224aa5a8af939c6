"""The words a run's records and its report share (orchestrator.work.outcomes)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orchestrator.errors import (
    ArmAuthenticationError,
    ArmError,
    ArmHttpError,
    ArmResponseError,
    ArmTransportError,
    UntrustedUrlError,
)
from orchestrator.work.outcomes import (
    FAILING_RESULTS,
    ErrorInfo,
    ListedVia,
    MappingResult,
    Notice,
    SubscriptionStatus,
    VaultStatus,
)


def test_the_words_are_designs() -> None:
    assert [r.value for r in MappingResult] == [
        "succeeded",
        "failed",
        "unhealthy",
        "skipped",
        "timed_out",
        "not_started",
        "would_change",
        "interrupted",
    ]
    assert [s.value for s in VaultStatus] == ["ok", "error"]
    assert [s.value for s in SubscriptionStatus] == ["ok", "error", "skipped"]
    assert [v.value for v in ListedVia] == ["vault", "containers"]


def test_unhealthy_fails_a_run_like_failed() -> None:
    assert {MappingResult.FAILED, MappingResult.UNHEALTHY} == FAILING_RESULTS


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ArmHttpError(403, "AuthorizationFailed", "no role"), "AuthorizationFailed"),
        (ArmTransportError("GET /x: dropped", sent=True), "connection_error"),
        (ArmResponseError("paging did not end", code="too_many_pages"), "too_many_pages"),
        (ArmAuthenticationError("no token"), "authentication_failed"),
        (ArmError("operation_not_found", "gone"), "operation_not_found"),
    ],
)
def test_error_info_keeps_an_arm_errors_code_and_message(error: ArmError, code: str) -> None:
    info = ErrorInfo.from_error(error)
    assert (info.code, info.message) == (code, error.message)


def test_an_untrusted_urls_error_info_carries_neither_its_query_nor_its_userinfo() -> None:
    error = UntrustedUrlError("https://user:pw@evil.test/op?sig=SECRET", "https://arm:443")
    info = ErrorInfo.from_error(error)
    assert info.code == "untrusted_url"
    assert "SECRET" not in info.message and "pw" not in info.message
    assert "https://evil.test/op" in info.message


def test_error_info_and_notices_are_frozen() -> None:
    info = ErrorInfo(code="c", message="m")
    notice = Notice(code="filter_matched_nothing", message="exclude: v9 matched nothing")
    with pytest.raises(ValidationError):
        info.code = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        notice.message = "other"  # type: ignore[misc]
    assert notice.model_dump() == {
        "code": "filter_matched_nothing",
        "message": "exclude: v9 matched nothing",
    }
