"""The JSON report: its exact shape, totals, exit codes, and atomic writing and reading."""

from __future__ import annotations

import io
import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from orchestrator.asr.desired import Action
from orchestrator.asr.rules import MappingSnapshot, SkipReason
from orchestrator.errors import ArmResponseError, ReportError
from orchestrator.output.report import (
    REPORT_SCHEMA,
    Calls,
    Command,
    ErrorInfo,
    ExitCode,
    MappingBefore,
    MappingReport,
    MappingResult,
    OperationReport,
    Outcome,
    Report,
    RunFlags,
    SubscriptionReport,
    VaultReport,
    VaultStatus,
    compute_totals,
    exit_code_for,
    flags_from_vaults,
    outcome_for,
)
from orchestrator.output.report_file import load_report, render_report, write_report

STARTED = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
FINISHED = datetime(2026, 11, 25, 1, 2, 3, 400000, tzinfo=UTC)
VAULT_ID = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v1"
MAPPING_ID = "/Subscriptions/sub/resourceGroups/rg/.../replicationProtectionContainerMappings/m"
OPERATION_URL = "https://management.azure.com/operations/op1?api-version=2021-12-01"


def mapping(result: MappingResult, skip_reason: SkipReason | None = None) -> MappingReport:
    if result is MappingResult.SKIPPED and skip_reason is None:
        skip_reason = SkipReason.COMPLIANT
    return MappingReport(
        id=MAPPING_ID, result=result, skip_reason=skip_reason, before=None, operation=None
    )


def vault(*results: MappingResult, error: ErrorInfo | None = None) -> VaultReport:
    return VaultReport(
        id=VAULT_ID,
        subscription_id="sub",
        status=VaultStatus.ERROR if error else VaultStatus.OK,
        error=error,
        mappings=[mapping(result) for result in results],
    )


def example_report(**changes: Any) -> Report:
    """DESIGN's example report: one vault, one mapping enabled by one operation."""
    vaults = [
        VaultReport(
            id=VAULT_ID,
            subscription_id="sub",
            status=VaultStatus.OK,
            error=None,
            mappings=[
                MappingReport(
                    id=MAPPING_ID,
                    result=MappingResult.SUCCEEDED,
                    skip_reason=None,
                    before=MappingBefore(
                        agent_auto_update_status="Disabled",
                        automation_account_arm_id=None,
                        authentication_type=None,
                        health_errors=0,
                        state="Paired",
                    ),
                    operation=OperationReport(
                        url=OPERATION_URL,
                        status="Succeeded",
                        polls=1,
                        started_at=STARTED,
                        finished_at=FINISHED,
                        error=None,
                    ),
                )
            ],
        )
    ]
    fields_: dict[str, Any] = {
        "run_id": "run-1",
        "command": Command.APPLY,
        "action": Action.ENABLE,
        "started_at": STARTED,
        "finished_at": FINISHED,
        "duration_s": 123.4,
        "outcome": Outcome.SUCCEEDED,
        "exit_code": 0,
        "totals": compute_totals(vaults),
        "calls": Calls(get=3, set=1, throttled=0, retried=0),
        "vaults": vaults,
    }
    fields_.update(changes)
    return Report(**fields_)


EXPECTED_JSON = """\
{
  "schema": "asr-autoupdate/report/v1",
  "run_id": "run-1",
  "command": "apply",
  "action": "enable",
  "started_at": "2026-11-25T01:00:00Z",
  "finished_at": "2026-11-25T01:02:03.400000Z",
  "duration_s": 123.4,
  "outcome": "succeeded",
  "exit_code": 0,
  "totals": {
    "vaults": 1,
    "vaults_failed": 0,
    "mappings": 1,
    "changed": 1,
    "succeeded": 1,
    "failed": 0,
    "skipped": 0,
    "timed_out": 0,
    "not_started": 0,
    "would_change": 0,
    "interrupted": 0
  },
  "calls": {
    "get": 3,
    "set": 1,
    "throttled": 0,
    "retried": 0
  },
  "vaults": [
    {
      "id": "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v1",
      "subscription_id": "sub",
      "status": "ok",
      "error": null,
      "mappings": [
        {
          "id": "/Subscriptions/sub/resourceGroups/rg/.../replicationProtectionContainerMappings/m",
          "result": "succeeded",
          "skip_reason": null,
          "before": {
            "agent_auto_update_status": "Disabled",
            "automation_account_arm_id": null,
            "authentication_type": null,
            "health_errors": 0,
            "state": "Paired"
          },
          "operation": {
            "url": "https://management.azure.com/operations/op1?api-version=2021-12-01",
            "status": "Succeeded",
            "polls": 1,
            "started_at": "2026-11-25T01:00:00Z",
            "finished_at": "2026-11-25T01:02:03.400000Z",
            "error": null
          }
        }
      ]
    }
  ]
}
"""


# --- the rendered shape --------------------------------------------------------------------


def test_a_rendered_report_has_designs_keys_in_designs_order() -> None:
    assert render_report(example_report()) == EXPECTED_JSON


def test_subscriptions_is_omitted_when_discovery_did_not_run() -> None:
    assert "subscriptions" not in json.loads(render_report(example_report()))


def test_subscriptions_is_rendered_last_when_discovery_ran() -> None:
    subscriptions = [
        SubscriptionReport(id="sub", status=VaultStatus.OK, error=None, vaults_found=1),
        SubscriptionReport(
            id="sub2",
            status=VaultStatus.ERROR,
            error=ErrorInfo(code="AuthorizationFailed", message="no access"),
            vaults_found=0,
        ),
    ]
    rendered = json.loads(render_report(example_report(subscriptions=subscriptions)))
    assert list(rendered)[-1] == "subscriptions"
    assert rendered["subscriptions"] == [
        {"id": "sub", "status": "ok", "error": None, "vaults_found": 1},
        {
            "id": "sub2",
            "status": "error",
            "error": {"code": "AuthorizationFailed", "message": "no access"},
            "vaults_found": 0,
        },
    ]


def test_an_empty_subscriptions_list_is_still_rendered() -> None:
    rendered = json.loads(render_report(example_report(subscriptions=[])))
    assert rendered["subscriptions"] == []


def test_datetimes_in_another_zone_are_rendered_in_utc_with_z() -> None:
    plus_two = timezone(timedelta(hours=2))
    report = example_report(started_at=datetime(2026, 11, 25, 3, 0, tzinfo=plus_two))
    assert json.loads(render_report(report))["started_at"] == "2026-11-25T01:00:00Z"


def test_a_naive_datetime_is_rejected() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        example_report(started_at=datetime(2026, 11, 25, 1, 0))


def test_duration_is_rendered_to_the_millisecond() -> None:
    report = example_report(duration_s=1.23456789)
    assert json.loads(render_report(report))["duration_s"] == 1.235


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


def varied_vaults() -> list[VaultReport]:
    """Vaults of every shape: failed, empty, and with mappings of each kind; odd characters."""
    failed_op = OperationReport(
        url=None,
        status=None,
        polls=0,
        started_at=None,
        finished_at=None,
        error=ErrorInfo(code="untrusted_url", message='a "quoted" \\ path\nand a line — ünïcode'),
    )
    still_running = OperationReport(
        url=OPERATION_URL + "&x=<>&",
        status="InProgress",
        polls=3,
        started_at=STARTED,
        finished_at=None,
        error=None,
    )
    before = MappingBefore(
        agent_auto_update_status=None,
        automation_account_arm_id="/subscriptions/s/aa/\u00e9\t",
        authentication_type="RunAsAccount",
        health_errors=2,
        state="Paired",
    )
    mappings = [
        MappingReport(
            id=MAPPING_ID + "1",
            result=MappingResult.SKIPPED,
            skip_reason=SkipReason.COMPLIANT,
            before=before,
            operation=None,
        ),
        MappingReport(
            id=MAPPING_ID + "2",
            result=MappingResult.FAILED,
            skip_reason=None,
            before=None,
            operation=failed_op,
        ),
        MappingReport(
            id=MAPPING_ID + "3",
            result=MappingResult.TIMED_OUT,
            skip_reason=None,
            before=before,
            operation=still_running,
        ),
    ]
    return [
        *example_report().vaults,
        vault(error=ErrorInfo(code="AuthorizationFailed", message="no access")),
        vault(),
        VaultReport(
            id=VAULT_ID + "-2",
            subscription_id="sub",
            status=VaultStatus.OK,
            error=None,
            mappings=mappings,
        ),
    ]


@pytest.mark.parametrize("count", [0, 1, 4])
@pytest.mark.parametrize("discovered", [False, True])
def test_a_report_rendered_vault_by_vault_is_byte_for_byte_pydantics_whole_dump(
    count: int, discovered: bool
) -> None:
    """The head and its vaults, rendered apart and joined, are exactly the whole model's dump."""
    vaults = varied_vaults()[:count]
    subscriptions = (
        [SubscriptionReport(id="sub", status=VaultStatus.OK, error=None, vaults_found=count)]
        if discovered
        else None
    )
    whole = example_report(
        vaults=vaults,
        totals=compute_totals(vaults),
        subscriptions=subscriptions,
        duration_s=1.23456789,
    )
    exclude = None if discovered else {"subscriptions"}
    expected = whole.model_dump_json(indent=2, by_alias=True, exclude=exclude) + "\n"
    head = whole.model_copy(update={"vaults": []})
    assert render_report(whole) == expected
    assert render_report(head, iter(vaults)) == expected
    assert json.loads(expected)["vaults"] == [v.model_dump(mode="json") for v in vaults]


def test_a_report_written_vault_by_vault_is_the_rendered_report(tmp_path: Path) -> None:
    vaults = varied_vaults()
    whole = example_report(vaults=vaults, totals=compute_totals(vaults))
    head = whole.model_copy(update={"vaults": []})
    target = tmp_path / "report.json"
    write_report(head, target, stdout=io.StringIO(), vaults=iter(vaults))
    assert target.read_bytes() == render_report(whole).encode()
    assert load_report(target) == whole
    stdout = io.StringIO()
    write_report(head, None, stdout=stdout, vaults=iter(vaults))
    assert stdout.getvalue() == render_report(whole)


def test_vaults_are_rendered_and_written_one_at_a_time() -> None:
    """Each vault is written out before the next is asked for: none waits for the rest."""
    vaults = varied_vaults()
    stdout = io.StringIO()

    def one_at_a_time() -> Iterator[VaultReport]:
        for number, each in enumerate(vaults, start=1):
            yield each
            assert stdout.getvalue().count('"subscription_id"') == number

    head = example_report(vaults=[], totals=compute_totals(vaults))
    write_report(head, None, stdout=stdout, vaults=one_at_a_time())
    assert json.loads(stdout.getvalue())["vaults"] == [v.model_dump(mode="json") for v in vaults]


# --- model invariants ----------------------------------------------------------------------


def test_mapping_before_is_taken_from_a_snapshot() -> None:
    snapshot = MappingSnapshot(
        id=MAPPING_ID,
        name="m1",
        state="Paired",
        instance_type="A2A",
        agent_auto_update_status="Enabled",
        automation_account_arm_id="/subscriptions/s/aa",
        authentication_type="RunAsAccount",
        health_errors=2,
    )
    assert MappingBefore.from_snapshot(snapshot) == MappingBefore(
        agent_auto_update_status="Enabled",
        automation_account_arm_id="/subscriptions/s/aa",
        authentication_type="RunAsAccount",
        health_errors=2,
        state="Paired",
    )


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


def test_a_report_whose_outcome_contradicts_its_exit_code_is_rejected() -> None:
    with pytest.raises(ValidationError, match="does not match"):
        example_report(outcome=Outcome.FAILED, exit_code=0)


def test_a_report_cannot_carry_exit_code_5() -> None:
    with pytest.raises(ValidationError, match="no report outcome"):
        example_report(outcome=Outcome.FAILED, exit_code=5)


# --- totals --------------------------------------------------------------------------------


def test_totals_of_no_vaults_are_all_zero() -> None:
    assert set(compute_totals([]).model_dump().values()) == {0}


def test_totals_count_each_result_and_failed_vaults() -> None:
    vaults = [
        vault(MappingResult.SUCCEEDED, MappingResult.SKIPPED, MappingResult.FAILED),
        vault(error=ErrorInfo(code="AuthorizationFailed", message="no")),
        vault(MappingResult.TIMED_OUT, MappingResult.NOT_STARTED, MappingResult.INTERRUPTED),
    ]
    assert compute_totals(vaults).model_dump() == {
        "vaults": 3,
        "vaults_failed": 1,
        "mappings": 6,
        "changed": 5,
        "succeeded": 1,
        "failed": 1,
        "skipped": 1,
        "timed_out": 1,
        "not_started": 1,
        "would_change": 0,
        "interrupted": 1,
    }


def test_would_change_is_not_counted_as_changed() -> None:
    totals = compute_totals([vault(MappingResult.WOULD_CHANGE, MappingResult.SKIPPED)])
    assert (totals.mappings, totals.would_change, totals.changed) == (2, 1, 0)


_vault_results = st.lists(st.lists(st.sampled_from(MappingResult), max_size=8), max_size=6)


@given(_vault_results, st.lists(st.booleans(), max_size=6))
def test_totals_always_add_up(results: list[list[MappingResult]], errors: list[bool]) -> None:
    error = ErrorInfo(code="c", message="m")
    vaults = [
        vault(*rs, error=error if i < len(errors) and errors[i] else None)
        for i, rs in enumerate(results)
    ]
    totals = compute_totals(vaults)
    by_result = (
        totals.succeeded,
        totals.failed,
        totals.skipped,
        totals.timed_out,
        totals.not_started,
        totals.would_change,
        totals.interrupted,
    )
    assert totals.mappings == sum(by_result) == sum(len(rs) for rs in results)
    assert totals.changed == totals.mappings - totals.skipped - totals.would_change
    assert totals.vaults == len(vaults)
    assert totals.vaults_failed == sum(v.status is VaultStatus.ERROR for v in vaults)


# --- exit codes and outcomes ---------------------------------------------------------------

_PRECEDENCE = (
    ("invalid", 2),
    ("lock_held", 5),
    ("unauthenticated", 4),
    ("interrupted", 130),
    ("timed_out", 3),
    ("failed", 1),
)


@pytest.mark.parametrize("combination", list(itertools.product([False, True], repeat=6)))
def test_exit_code_is_the_first_set_flag_in_designs_order(combination: tuple[bool, ...]) -> None:
    flags = RunFlags(**{name: on for (name, _), on in zip(_PRECEDENCE, combination, strict=True)})
    expected = next((code for (_, code), on in zip(_PRECEDENCE, combination, strict=True) if on), 0)
    assert exit_code_for(flags) == expected


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
        ([vault(error=ErrorInfo(code="c", message="m"))], RunFlags(failed=True)),
        ([vault(MappingResult.TIMED_OUT)], RunFlags(timed_out=True)),
        ([vault(MappingResult.INTERRUPTED)], RunFlags(interrupted=True)),
        (
            [vault(MappingResult.FAILED), vault(MappingResult.TIMED_OUT)],
            RunFlags(failed=True, timed_out=True),
        ),
    ],
)
def test_flags_from_vaults(vaults: list[VaultReport], expected: RunFlags) -> None:
    assert flags_from_vaults(vaults) == expected


# --- writing and reading -------------------------------------------------------------------


def test_a_report_without_a_path_goes_to_stdout() -> None:
    stdout = io.StringIO()
    write_report(example_report(), None, stdout=stdout)
    assert stdout.getvalue() == EXPECTED_JSON


def test_a_report_written_to_a_file_reads_back_equal(tmp_path: Path) -> None:
    subscriptions = [SubscriptionReport(id="s", status=VaultStatus.OK, error=None, vaults_found=1)]
    report = example_report(subscriptions=subscriptions)
    target = tmp_path / "report.json"
    write_report(report, target, stdout=io.StringIO())
    assert target.read_text(encoding="utf-8") == render_report(report)
    assert load_report(target) == report


def test_writing_replaces_an_old_report_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old", encoding="utf-8")
    write_report(example_report(), str(target), stdout=io.StringIO())
    assert target.read_text(encoding="utf-8") == EXPECTED_JSON
    assert os.listdir(tmp_path) == ["report.json"]


def test_a_failed_write_keeps_the_old_report_and_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.json"
    target.write_text("old", encoding="utf-8")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_report(example_report(), target, stdout=io.StringIO())
    assert target.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["report.json"]


def test_a_failed_rename_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.mkdir()
    with pytest.raises(OSError):  # noqa: PT011 - the OSError subclass differs by platform
        write_report(example_report(), target, stdout=io.StringIO())
    assert os.listdir(tmp_path) == ["report.json"]


def test_writing_into_a_missing_directory_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    with pytest.raises(FileNotFoundError, match="no-such-dir"):
        write_report(example_report(), missing / "report.json", stdout=io.StringIO())


def test_loading_a_missing_report_raises_report_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="cannot read report"):
        load_report(tmp_path / "absent.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not a valid report"),
        ("[]", "not a valid report"),
        ('{"schema": "asr-autoupdate/report/v1"}', "run_id"),
        (EXPECTED_JSON.replace('"polls": 1', '"polls": -1'), "polls"),
    ],
)
def test_loading_a_bad_report_raises_report_error(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ReportError, match=message) as caught:
        load_report(path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_loading_a_file_that_is_not_utf8_raises_report_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ReportError, match="cannot read report"):
        load_report(path)
