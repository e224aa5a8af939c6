"""Run records: how each stage settles at the deadline or an interrupt, and the report they give."""

from __future__ import annotations

import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.asr.desired import Action, DesiredState
from orchestrator.asr.rules import SkipReason, parse_mapping
from orchestrator.asr.targets import VaultId, VaultTarget
from orchestrator.output.report import (
    Calls,
    Command,
    ErrorInfo,
    MappingBefore,
    MappingResult,
    Outcome,
    Report,
    VaultStatus,
    compute_totals,
)
from orchestrator.output.report_file import render_report
from orchestrator.work.lro import AsyncOperationPolling
from orchestrator.work.poller import TrackedOperation
from orchestrator.work.records import (
    Before,
    Ending,
    MappingWork,
    RunReport,
    Stage,
    VaultWork,
    count_results,
)

SUB = "11111111-1111-1111-1111-111111111111"
VAULT_ID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v1"
ACCOUNT = (
    f"/subscriptions/{SUB}/resourceGroups/rg-automation/providers/"
    "Microsoft.Automation/automationAccounts/aa"
)
OP_URL = "https://management.azure.com/operations/op1?api-version=2021-12-01"
STARTED = datetime(2026, 11, 25, 1, 0, 0, tzinfo=UTC)


def raw_mapping(name: str = "m1", **details: Any) -> dict[str, Any]:
    specific = {"instanceType": "A2A", "agentAutoUpdateStatus": "Disabled", **details}
    return {
        "id": VAULT_ID.replace("/subscriptions/", "/Subscriptions/")
        + f"/replicationFabrics/f/replicationProtectionContainers/c/"
        f"replicationProtectionContainerMappings/{name}",
        "name": name,
        "properties": {
            "state": "Paired",
            "healthErrorDetails": [{"code": "x"}],
            "providerSpecificDetails": specific,
        },
    }


def vault_work() -> VaultWork:
    return VaultWork(VaultTarget(VaultId.parse(VAULT_ID), DesiredState(Action.ENABLE, ACCOUNT)))


def listed(vault: VaultWork | None = None, name: str = "m1") -> MappingWork:
    vault = vault or vault_work()
    work = MappingWork.listed(parse_mapping(raw_mapping(name)), vault)
    vault.add(work)
    return work


def patching(work: MappingWork) -> MappingWork:
    work.queue({"properties": {}})
    work.stage = Stage.PATCHING
    work.started_at = STARTED
    return work


def running(work: MappingWork, polls: int = 2) -> MappingWork:
    patching(work)
    op = TrackedOperation(
        strategy=AsyncOperationPolling(OP_URL),
        subscription_id=SUB,
        log_context=work.log_context,
        started=0.0,
        on_done=lambda op, verdict: None,
        not_before=0.0,
        polls=polls,
    )
    work.run(op)
    return work


# --- MappingWork ---------------------------------------------------------------------------------


def test_a_listed_mapping_records_where_it_belongs_and_how_it_was() -> None:
    work = listed()
    assert (work.name, work.subscription_id, work.vault_name) == ("m1", SUB, "v1")
    assert work.log_context == {"vault": "v1", "subscription_id": SUB}
    assert work.before.agent_auto_update_status == "Disabled"
    assert work.before.health_errors == 1
    assert work.before.state == "Paired"


@pytest.mark.parametrize("ending", list(Ending))
@pytest.mark.parametrize("queued", [False, True])
def test_a_change_never_sent_settles_not_started(ending: Ending, queued: bool) -> None:
    work = listed()
    if queued:
        work.queue({"properties": {}})
    work.settle(ending)
    report = work.to_report()
    assert (report.result, report.operation) == (MappingResult.NOT_STARTED, None)


@pytest.mark.parametrize(
    ("ending", "result"),
    [(Ending.DEADLINE, MappingResult.TIMED_OUT), (Ending.INTERRUPT, MappingResult.INTERRUPTED)],
)
def test_a_patch_under_way_settles_by_the_ending(ending: Ending, result: MappingResult) -> None:
    work = patching(listed())
    work.settle(ending)
    operation = work.to_report().operation
    assert work.result is result
    assert operation is not None
    assert (operation.url, operation.status, operation.polls) == (None, None, 0)
    assert (operation.started_at, operation.finished_at) == (STARTED, None)
    assert operation.error is not None and operation.error.code == "patch_unanswered"


@pytest.mark.parametrize(
    ("ending", "result"),
    [(Ending.DEADLINE, MappingResult.TIMED_OUT), (Ending.INTERRUPT, MappingResult.INTERRUPTED)],
)
def test_a_running_operation_settles_by_the_ending_and_keeps_its_url(
    ending: Ending, result: MappingResult
) -> None:
    work = running(listed(), polls=3)
    work.settle(ending)
    report = work.to_report()
    assert report.result is result
    assert report.operation is not None
    assert (report.operation.url, report.operation.status, report.operation.polls) == (
        OP_URL,
        "InProgress",
        3,
    )
    assert (report.operation.started_at, report.operation.finished_at) == (STARTED, None)
    assert report.operation.error is None


@pytest.mark.parametrize("ending", list(Ending))
def test_settle_leaves_a_finished_mapping_as_it_ended(ending: Ending) -> None:
    work = running(listed())
    work.finish(MappingResult.SUCCEEDED, status="Succeeded")
    finished_at = work.finished_at
    work.settle(ending)
    assert (work.result, work.status, work.finished_at) == (
        MappingResult.SUCCEEDED,
        "Succeeded",
        finished_at,
    )
    assert finished_at is not None


def test_a_succeeded_operation_reports_url_status_polls_and_both_times() -> None:
    work = running(listed(), polls=4)
    work.finish(MappingResult.SUCCEEDED, status="Succeeded")
    operation = work.to_report().operation
    assert operation is not None
    assert (operation.url, operation.status, operation.polls, operation.error) == (
        OP_URL,
        "Succeeded",
        4,
        None,
    )
    assert operation.started_at == STARTED
    assert operation.finished_at is not None
    assert operation.finished_at >= STARTED


def test_a_failed_operation_reports_its_error() -> None:
    work = running(listed())
    error = ErrorInfo(code="AutomationAccountNotFound", message="gone")
    work.finish(MappingResult.FAILED, status="Failed", error=error)
    operation = work.to_report().operation
    assert operation is not None
    assert (operation.url, operation.status, operation.error) == (OP_URL, "Failed", error)


def test_a_skipped_mapping_has_no_operation() -> None:
    work = listed()
    work.finish(MappingResult.SKIPPED, skip_reason=SkipReason.COMPLIANT)
    report = work.to_report()
    assert (report.result, report.skip_reason, report.operation) == (
        MappingResult.SKIPPED,
        SkipReason.COMPLIANT,
        None,
    )


def test_a_plan_would_change_mapping_has_no_operation() -> None:
    work = listed()
    work.finish(MappingResult.WOULD_CHANGE)
    assert work.to_report().operation is None


def test_a_patch_arm_refused_reports_no_url_and_the_error() -> None:
    work = patching(listed())
    error = ErrorInfo(code="BadRequest", message="invalid account")
    work.finish(MappingResult.FAILED, error=error)
    operation = work.to_report().operation
    assert operation is not None
    assert (operation.url, operation.status, operation.error) == (None, None, error)
    assert operation.started_at == STARTED
    assert operation.finished_at is not None


def test_a_change_refused_before_sending_reports_no_url_no_times_and_the_error() -> None:
    work = listed()
    error = ErrorInfo(code="no_automation_account", message="nothing to keep")
    work.finish(MappingResult.FAILED, error=error)
    operation = work.to_report().operation
    assert operation is not None
    assert (operation.url, operation.started_at, operation.finished_at, operation.polls) == (
        None,
        None,
        None,
        0,
    )
    assert operation.error == error
    assert work.error_code == "no_automation_account"


def test_reporting_an_unsettled_mapping_is_a_bug() -> None:
    with pytest.raises(AssertionError):
        listed().to_report()


def test_the_before_facts_report_as_the_snapshots_model() -> None:
    snapshot = parse_mapping(raw_mapping(authenticationType="RunAsAccount"))
    before = Before.of(snapshot)
    assert before.to_model() == MappingBefore.from_snapshot(snapshot)


def test_values_many_mappings_repeat_are_kept_once() -> None:
    decoded = [json.loads(json.dumps(raw_mapping(f"m{n}", authenticationType="x"))) for n in (1, 2)]
    assert decoded[0]["properties"]["state"] is not decoded[1]["properties"]["state"]
    first, second = (Before.of(parse_mapping(raw)) for raw in decoded)
    assert first.agent_auto_update_status is second.agent_auto_update_status
    assert first.authentication_type is second.authentication_type
    assert first.state is second.state


def test_a_finished_operation_is_let_go_and_its_polls_kept() -> None:
    work = running(listed(), polls=4)
    work.finish(MappingResult.SUCCEEDED, status="".join(["Succ", "eeded"]))
    assert work.operation is None
    assert work.polls == 4
    assert work.status is sys.intern("Succeeded")
    operation = work.to_report().operation
    assert operation is not None
    assert (operation.url, operation.polls) == (OP_URL, 4)


def test_polls_come_from_the_tracked_operation() -> None:
    work = running(listed(), polls=0)
    assert work.operation is not None
    work.operation.polls = 5
    assert work.polls == 5
    assert listed().polls == 0


# --- VaultWork -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ending", "code"), [(Ending.DEADLINE, "timed_out"), (Ending.INTERRUPT, "interrupted")]
)
def test_a_vault_never_fully_listed_settles_as_an_error(ending: Ending, code: str) -> None:
    vault = vault_work()
    listed(vault)
    vault.settle(ending)
    report = vault.to_report()
    assert report.status is VaultStatus.ERROR
    assert report.error is not None
    assert report.error.code == code
    assert [m.result for m in report.mappings] == [MappingResult.NOT_STARTED]


@pytest.mark.parametrize("ending", list(Ending))
def test_a_listed_vault_stays_ok_and_settles_each_mapping(ending: Ending) -> None:
    vault = vault_work()
    skipped, queued, run = listed(vault, "a"), listed(vault, "b"), running(listed(vault, "c"))
    skipped.finish(MappingResult.SKIPPED, skip_reason=SkipReason.NOT_PAIRED)
    queued.queue({"properties": {}})
    vault.listed = True
    vault.settle(ending)
    report = vault.to_report()
    assert (report.status, report.error) == (VaultStatus.OK, None)
    expected_running = (
        MappingResult.TIMED_OUT if ending is Ending.DEADLINE else MappingResult.INTERRUPTED
    )
    assert [m.result for m in report.mappings] == [
        MappingResult.SKIPPED,
        MappingResult.NOT_STARTED,
        expected_running,
    ]
    assert run.stage is Stage.DONE


def test_a_vault_whose_listing_failed_keeps_its_own_error() -> None:
    vault = vault_work()
    error = ErrorInfo(code="AuthorizationFailed", message="no access")
    vault.fail(error)
    vault.listed = True
    vault.settle(Ending.DEADLINE)
    report = vault.to_report()
    assert (report.status, report.error, report.mappings) == (VaultStatus.ERROR, error, [])


def test_settling_a_vault_twice_changes_nothing() -> None:
    vault = vault_work()
    listed(vault)
    vault.settle(Ending.DEADLINE)
    first = vault.to_report()
    vault.settle(Ending.INTERRUPT)
    assert vault.to_report() == first


def test_the_vault_report_names_the_vault_and_its_subscription() -> None:
    vault = VaultWork(
        VaultTarget(
            VaultId.parse(VAULT_ID.replace("/subscriptions/", "/Subscriptions/")),
            DesiredState(Action.DISABLE, None),
        ),
        listed=True,
    )
    vault.settle(Ending.DEADLINE)
    report = vault.to_report()
    assert (report.id, report.subscription_id) == (VAULT_ID, SUB)


def test_mappings_are_known_by_id_case_insensitively() -> None:
    vault = vault_work()
    work = listed(vault)
    assert vault.has_mapping(work.id.upper())
    assert vault.has_mapping(work.id.lower())
    assert not vault.has_mapping(work.id + "x")


def test_the_ids_are_let_go_when_the_listing_ends() -> None:
    """Only listing looks mappings up, so their ids need not outlive it."""
    vault = vault_work()
    listed(vault)
    vault.end_listing()
    assert vault.listed
    with pytest.raises(AssertionError, match="listing has ended"):
        vault.has_mapping("anything")


# --- RunReport -----------------------------------------------------------------------------------


def settled_vaults() -> list[VaultWork]:
    first, second = vault_work(), vault_work()
    skipped, done = listed(first, "a"), running(listed(first, "b"), polls=2)
    skipped.finish(MappingResult.SKIPPED, skip_reason=SkipReason.COMPLIANT)
    done.finish(MappingResult.SUCCEEDED, status="Succeeded")
    listed(second, "c")
    first.end_listing()
    for vault in (first, second):
        vault.settle(Ending.DEADLINE)
    return [first, second]


def run_report(vaults: list[VaultWork]) -> RunReport:
    head = Report(
        run_id="run-1",
        command=Command.APPLY,
        action=Action.ENABLE,
        started_at=STARTED,
        finished_at=STARTED,
        duration_s=0.0,
        outcome=Outcome.TIMED_OUT,
        exit_code=3,
        totals=compute_totals([]),
        calls=Calls(get=0, set=0, throttled=0, retried=0),
        vaults=[],
    )
    return RunReport(head, vaults)


def test_results_are_counted_from_the_settled_records() -> None:
    vaults = settled_vaults()
    assert count_results(vaults) == {
        MappingResult.SKIPPED: 1,
        MappingResult.SUCCEEDED: 1,
        MappingResult.NOT_STARTED: 1,
    }
    report = run_report(vaults).whole()
    assert compute_totals(report.vaults).mappings == 3


def test_a_run_report_is_written_as_the_whole_report_renders(tmp_path: Path) -> None:
    report = run_report(settled_vaults())
    target = tmp_path / "report.json"
    report.write(target, stdout=io.StringIO())
    whole = report.whole()
    assert [v.status for v in whole.vaults] == [VaultStatus.OK, VaultStatus.ERROR]
    assert target.read_text(encoding="utf-8") == render_report(whole)
    assert report.exit_code == 3
