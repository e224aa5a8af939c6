"""The JSON report's models: their exact shape, invariants, totals, flags and exit codes.

Rendering, writing and reading the report file are test_report_file.py's; making a report
from a run's records, test_assemble.py's.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import fields
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from report_examples import (
    ACCOUNT,
    DISABLED_BEFORE,
    EXPECTED_JSON,
    MAPPING_ID,
    STARTED,
    example_report,
    render,
    totals_of,
    vault,
)

from orchestrator.asr.agents import AgentState
from orchestrator.asr.desired import DesiredSettings
from orchestrator.asr.mapping import HealthError, MappingSettings
from orchestrator.asr.rules import SkipReason
from orchestrator.errors import ArmResponseError
from orchestrator.output.report import (
    NO_CALLS,
    REPORT_SCHEMA,
    AgentTotals,
    Calls,
    Command,
    ExitCode,
    MappingReport,
    Outcome,
    ProtectedItemReport,
    Report,
    RunFlags,
    SubscriptionReport,
    Totals,
    VaultReport,
    exit_code_for,
    flags_from_totals,
    outcome_for,
)
from orchestrator.work.outcomes import (
    FAILING_RESULTS,
    ErrorInfo,
    MappingResult,
    Notice,
    SubscriptionStatus,
    VaultStatus,
)

# --- the rendered shape --------------------------------------------------------------------


def test_a_rendered_report_has_designs_keys_in_designs_order() -> None:
    assert render(example_report()) == EXPECTED_JSON


def test_the_first_release_keys_keep_their_order_and_the_second_releases_only_add() -> None:
    """Report v1: every addition is a new key; none moved, none changed type."""
    first_release = [
        "schema", "run_id", "command", "action", "started_at", "finished_at", "duration_s",
        "outcome", "exit_code", "totals", "calls", "vaults",
    ]  # fmt: skip
    keys = list(json.loads(EXPECTED_JSON))
    assert [key for key in keys if key in first_release] == first_release
    mapping_keys = list(json.loads(EXPECTED_JSON)["vaults"][0]["mappings"][0])
    assert [k for k in mapping_keys if k in ("id", "result", "skip_reason", "before", "operation")] == [
        "id", "result", "skip_reason", "before", "operation",
    ]  # fmt: skip


def test_subscriptions_is_omitted_when_discovery_did_not_run() -> None:
    assert "subscriptions" not in json.loads(render(example_report()))


def test_subscriptions_is_rendered_last_when_discovery_ran() -> None:
    subscriptions = [
        SubscriptionReport(
            id="sub", status=SubscriptionStatus.OK, state="Enabled", error=None, vaults_found=1
        ),
        SubscriptionReport(
            id="sub2",
            status=SubscriptionStatus.ERROR,
            error=ErrorInfo(code="AuthorizationFailed", message="no access"),
            vaults_found=0,
        ),
        SubscriptionReport(
            id="sub3",
            status=SubscriptionStatus.SKIPPED,
            state="Disabled",
            error=None,
            vaults_found=0,
        ),
    ]
    rendered = json.loads(render(example_report(subscriptions=subscriptions)))
    assert list(rendered)[-1] == "subscriptions"
    assert rendered["subscriptions"] == [
        {"id": "sub", "status": "ok", "state": "Enabled", "error": None, "vaults_found": 1},
        {
            "id": "sub2",
            "status": "error",
            "state": None,
            "error": {"code": "AuthorizationFailed", "message": "no access"},
            "vaults_found": 0,
        },
        {"id": "sub3", "status": "skipped", "state": "Disabled", "error": None, "vaults_found": 0},
    ]


def test_an_empty_subscriptions_list_is_still_rendered() -> None:
    rendered = json.loads(render(example_report(subscriptions=[])))
    assert rendered["subscriptions"] == []


def test_datetimes_in_another_zone_are_rendered_in_utc_with_z() -> None:
    plus_two = timezone(timedelta(hours=2))
    report = example_report(started_at=datetime(2026, 11, 25, 3, 0, tzinfo=plus_two))
    assert json.loads(render(report))["started_at"] == "2026-11-25T01:00:00Z"


def test_a_naive_datetime_is_rejected() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        example_report(started_at=datetime(2026, 11, 25, 1, 0))


def test_duration_is_rendered_to_the_millisecond() -> None:
    report = example_report(duration_s=1.23456789)
    assert json.loads(render(report))["duration_s"] == 1.235


def test_the_schema_key_is_fixed() -> None:
    assert example_report().schema_ == REPORT_SCHEMA
    with pytest.raises(ValidationError):
        Report.model_validate({**json.loads(EXPECTED_JSON), "schema": "asr-autoupdate/report/v2"})


def test_the_json_schema_describes_every_field_and_requires_the_schema_key() -> None:
    schema = Report.model_json_schema(mode="serialization")
    assert next(iter(schema["properties"])) == "schema"
    assert "schema" in schema["required"]
    assert "subscriptions" not in schema["required"]
    for definition in [schema, *schema["$defs"].values()]:
        for name, prop in definition.get("properties", {}).items():
            assert prop.get("description"), f"{definition['title']}.{name} has no description"


def test_keys_left_out_when_they_do_not_apply_are_optional_in_the_json_schema() -> None:
    schema = Report.model_json_schema(mode="serialization")
    defs = schema["$defs"]
    assert "protected_items" not in defs["VaultReport"].get("required", [])
    assert "agents" not in defs["Totals"].get("required", [])
    # Left out rather than null: a default of null would mislead a schema's reader.
    assert "default" not in defs["VaultReport"]["properties"]["protected_items"]
    assert "default" not in defs["Totals"]["properties"]["agents"]
    assert "default" not in schema["properties"]["subscriptions"]


def test_the_second_releases_report_keys_are_rendered() -> None:
    report = example_report(
        error=ErrorInfo(code="deadline_passed", message="the deadline passed"),
        warnings=[Notice(code="filter_matched_nothing", message="exclude: v9 matched nothing")],
        outcome=Outcome.TIMED_OUT,
        exit_code=3,
    )
    rendered = json.loads(render(report))
    assert (rendered["tool_version"], rendered["config"]["path"]) == ("0.1.0", "fleet.yaml")
    assert rendered["error"] == {"code": "deadline_passed", "message": "the deadline passed"}
    assert rendered["warnings"] == [
        {"code": "filter_matched_nothing", "message": "exclude: v9 matched nothing"}
    ]


def test_health_error_details_desired_and_after_are_rendered_in_full() -> None:
    sick = MappingSettings(
        agent_auto_update_status="Enabled",
        automation_account_arm_id=ACCOUNT,
        authentication_type="SystemAssignedIdentity",
        health_errors=1,
        state="Paired",
        health_error_details=(HealthError("150501", "it failed", "no rights", "grant them"),),
    )
    report = MappingReport(
        id=MAPPING_ID,
        result=MappingResult.UNHEALTHY,
        skip_reason=None,
        before=DISABLED_BEFORE,
        desired=DesiredSettings("Enabled", ACCOUNT, "SystemAssignedIdentity"),
        after=sick,
        operation=None,
    )
    rendered = json.loads(report.model_dump_json())
    assert rendered["result"] == "unhealthy"
    assert rendered["after"]["health_error_details"] == [
        {
            "code": "150501",
            "message": "it failed",
            "possible_causes": "no rights",
            "recommended_action": "grant them",
        }
    ]
    assert rendered["desired"]["authentication_type"] == "SystemAssignedIdentity"


def test_protected_items_and_agent_totals_appear_only_in_an_audit() -> None:
    plain = json.loads(render(example_report()))
    assert "protected_items" not in plain["vaults"][0]
    assert "agents" not in plain["totals"]
    item = ProtectedItemReport(
        id="/x/replicationProtectedItems/vm-1",
        name="vm-1",
        agent_version="9.62",
        agent_state=AgentState.EXPIRING,
        agent_expiry=datetime(2026, 12, 1, 2, 0, tzinfo=timezone(timedelta(hours=1))),
        certificate_expiry=None,
        last_heartbeat=STARTED,
    )
    audited = (
        example_report(command=Command.AUDIT)
        .vaults[0]
        .model_copy(update={"protected_items": [item]})
    )
    rendered = json.loads(audited.model_dump_json())
    assert rendered["protected_items"] == [
        {
            "id": "/x/replicationProtectedItems/vm-1",
            "name": "vm-1",
            "agent_version": "9.62",
            "agent_state": "expiring",
            "agent_expiry": "2026-12-01T01:00:00Z",
            "certificate_expiry": None,
            "last_heartbeat": "2026-11-25T01:00:00Z",
        }
    ]
    agents = Counter({AgentState.CURRENT: 3, AgentState.EXPIRED: 1})
    totals = json.loads(totals_of([], agents).model_dump_json())
    assert totals["agents"] == {
        "current": 3,
        "update_required": 0,
        "expiring": 0,
        "expired": 1,
        "unknown": 0,
    }


def test_no_calls_counts_nothing() -> None:
    assert Calls(get=0, set=0, throttled=0, retried=0) == NO_CALLS


# --- model invariants ----------------------------------------------------------------------


def test_error_info_is_taken_from_an_arm_error() -> None:
    error = ErrorInfo.from_error(ArmResponseError("not JSON"))
    assert error == ErrorInfo(code="invalid_response", message="not JSON")


def test_a_skipped_mapping_needs_a_skip_reason() -> None:
    with pytest.raises(ValidationError, match="skip_reason"):
        MappingReport(
            id="m", result=MappingResult.SKIPPED, skip_reason=None, before=None, operation=None
        )


def test_only_a_skipped_mapping_has_a_skip_reason() -> None:
    with pytest.raises(ValidationError, match="skip_reason"):
        MappingReport(
            id="m",
            result=MappingResult.FAILED,
            skip_reason=SkipReason.NOT_A2A,
            before=None,
            operation=None,
        )


@pytest.mark.parametrize(
    ("status", "error"),
    [(VaultStatus.ERROR, None), (VaultStatus.OK, ErrorInfo(code="c", message="m"))],
)
def test_a_vault_has_an_error_exactly_when_its_status_is_error(
    status: VaultStatus, error: ErrorInfo | None
) -> None:
    with pytest.raises(ValidationError, match="status is error"):
        VaultReport(id="v", subscription_id="s", status=status, error=error, mappings=[])


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (SubscriptionStatus.ERROR, None),
        (SubscriptionStatus.OK, ErrorInfo(code="c", message="m")),
        (SubscriptionStatus.SKIPPED, ErrorInfo(code="c", message="m")),
    ],
)
def test_a_subscription_has_an_error_exactly_when_its_status_is_error(
    status: SubscriptionStatus, error: ErrorInfo | None
) -> None:
    with pytest.raises(ValidationError, match="status is error"):
        SubscriptionReport(id="s", status=status, error=error, vaults_found=0)


def test_a_report_whose_outcome_contradicts_its_exit_code_is_rejected() -> None:
    with pytest.raises(ValidationError, match="does not match"):
        example_report(outcome=Outcome.FAILED, exit_code=0)


def test_a_report_cannot_carry_exit_code_5() -> None:
    with pytest.raises(ValidationError, match="no report outcome"):
        example_report(outcome=Outcome.FAILED, exit_code=5)


def test_report_models_are_frozen() -> None:
    report = example_report()
    with pytest.raises(ValidationError):
        report.exit_code = 1  # type: ignore[misc]


# --- totals --------------------------------------------------------------------------------


def test_totals_of_no_vaults_are_all_zero() -> None:
    assert set(totals_of([]).model_dump(exclude_none=True).values()) == {0}
    assert totals_of([]).agents is None


def test_totals_count_each_result_and_failed_vaults() -> None:
    vaults = [
        vault(MappingResult.SUCCEEDED, MappingResult.SKIPPED, MappingResult.FAILED),
        vault(error=ErrorInfo(code="AuthorizationFailed", message="no")),
        vault(MappingResult.TIMED_OUT, MappingResult.NOT_STARTED, MappingResult.INTERRUPTED),
        vault(MappingResult.UNHEALTHY),
    ]
    assert totals_of(vaults).model_dump(exclude_none=True) == {
        "vaults": 4,
        "vaults_failed": 1,
        "mappings": 7,
        "changed": 6,
        "succeeded": 1,
        "failed": 1,
        "skipped": 1,
        "timed_out": 1,
        "not_started": 1,
        "would_change": 0,
        "interrupted": 1,
        "unhealthy": 1,
    }


def test_would_change_is_not_counted_as_changed() -> None:
    totals = totals_of([vault(MappingResult.WOULD_CHANGE, MappingResult.SKIPPED)])
    assert (totals.mappings, totals.would_change, totals.changed) == (2, 1, 0)


def test_agent_totals_count_every_state() -> None:
    agents = Counter({AgentState.CURRENT: 1, AgentState.UPDATE_REQUIRED: 2, AgentState.UNKNOWN: 4})
    assert totals_of([], agents).agents == AgentTotals(
        current=1, update_required=2, expiring=0, expired=0, unknown=4
    )


_vault_results = st.lists(st.lists(st.sampled_from(MappingResult), max_size=8), max_size=6)


@given(_vault_results, st.lists(st.booleans(), max_size=6))
def test_totals_always_add_up(results: list[list[MappingResult]], errors: list[bool]) -> None:
    error = ErrorInfo(code="c", message="m")
    vaults = [
        vault(*rs, error=error if i < len(errors) and errors[i] else None)
        for i, rs in enumerate(results)
    ]
    totals = totals_of(vaults)
    by_result = tuple(getattr(totals, result.value) for result in MappingResult)
    assert totals.mappings == sum(by_result) == sum(len(rs) for rs in results)
    assert totals.changed == totals.mappings - totals.skipped - totals.would_change
    assert totals.vaults == len(vaults)
    assert totals.vaults_failed == sum(v.status is VaultStatus.ERROR for v in vaults)


def test_every_result_has_its_own_total() -> None:
    assert {r.value for r in MappingResult} <= set(Totals.model_fields)


# --- exit codes and outcomes ---------------------------------------------------------------

# DESIGN's order of the codes a run that got going can end with (2 and 5 are decided before).
_PRECEDENCE = (
    ("unauthenticated", 4),
    ("interrupted", 130),
    ("failed", 1),
    ("timed_out", 3),
)


@pytest.mark.parametrize("combination", list(itertools.product([False, True], repeat=4)))
def test_exit_code_is_the_first_set_flag_in_designs_order(combination: tuple[bool, ...]) -> None:
    flags = RunFlags(**{name: on for (name, _), on in zip(_PRECEDENCE, combination, strict=True)})
    expected = next((code for (_, code), on in zip(_PRECEDENCE, combination, strict=True) if on), 0)
    assert exit_code_for(flags) == expected


def test_a_failure_outranks_a_timeout() -> None:
    """A monitoring check alerting on 1 must never miss a failure because of a timeout."""
    assert exit_code_for(RunFlags(failed=True, timed_out=True)) is ExitCode.FAILED


def test_run_flags_are_all_covered_by_the_precedence() -> None:
    assert {f.name for f in fields(RunFlags)} == {name for name, _ in _PRECEDENCE}


def test_run_flags_combine_with_or() -> None:
    combined = RunFlags(failed=True) | RunFlags(interrupted=True)
    assert combined == RunFlags(failed=True, interrupted=True)


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (0, Outcome.SUCCEEDED),
        (1, Outcome.FAILED),
        (2, Outcome.INVALID),
        (3, Outcome.TIMED_OUT),
        (4, Outcome.UNAUTHENTICATED),
        (130, Outcome.INTERRUPTED),
    ],
)
def test_outcome_for_each_exit_code(code: int, outcome: Outcome) -> None:
    assert outcome_for(code) is outcome


@pytest.mark.parametrize("code", [ExitCode.LOCK_HELD, 6, -1, 255])
def test_exit_codes_without_a_report_have_no_outcome(code: int) -> None:
    with pytest.raises(ValueError, match="no report outcome"):
        outcome_for(code)


@pytest.mark.parametrize(
    ("vaults", "expected"),
    [
        ([], RunFlags()),
        ([vault(MappingResult.SUCCEEDED, MappingResult.SKIPPED)], RunFlags()),
        ([vault(MappingResult.WOULD_CHANGE, MappingResult.NOT_STARTED)], RunFlags()),
        ([vault(MappingResult.FAILED)], RunFlags(failed=True)),
        ([vault(MappingResult.UNHEALTHY)], RunFlags(failed=True)),
        ([vault(error=ErrorInfo(code="c", message="m"))], RunFlags(failed=True)),
        ([vault(MappingResult.TIMED_OUT)], RunFlags(timed_out=True)),
        ([vault(MappingResult.INTERRUPTED)], RunFlags(interrupted=True)),
        (
            [vault(MappingResult.FAILED), vault(MappingResult.TIMED_OUT)],
            RunFlags(failed=True, timed_out=True),
        ),
    ],
)
def test_flags_from_totals(vaults: list[VaultReport], expected: RunFlags) -> None:
    assert flags_from_totals(totals_of(vaults)) == expected


@pytest.mark.parametrize(
    ("state", "failed"),
    [
        (AgentState.EXPIRED, True),
        (AgentState.EXPIRING, False),
        (AgentState.UPDATE_REQUIRED, False),
        (AgentState.UNKNOWN, False),
    ],
)
def test_an_expired_agent_fails_an_audit(state: AgentState, failed: bool) -> None:
    assert flags_from_totals(totals_of([], Counter({state: 1}))) == RunFlags(failed=failed)


def test_the_failing_results_are_failed_and_unhealthy() -> None:
    assert frozenset({MappingResult.FAILED, MappingResult.UNHEALTHY}) == FAILING_RESULTS
