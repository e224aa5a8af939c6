"""The report made from a run's records (orchestrator.output.assemble): each settled mapping's
and vault's entry, and a run's report built one vault at a time."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from report_examples import render, totals_of

from orchestrator.asr.agents import AgentRecord, AgentState, parse_protected_item
from orchestrator.asr.desired import Action, DesiredSettings, DesiredState
from orchestrator.asr.mapping import parse_mapping
from orchestrator.asr.rules import SkipReason
from orchestrator.asr.targets import VaultId, VaultTarget
from orchestrator.output.assemble import RunReport, mapping_report, vault_report
from orchestrator.output.report import (
    Calls,
    Command,
    MappingReport,
    Outcome,
    ProtectedItemReport,
    Report,
)
from orchestrator.output.report_file import load_report, write_report
from orchestrator.work.outcomes import ErrorInfo, ListedVia, MappingResult, VaultStatus
from orchestrator.work.records import Ending, MappingWork, Stage, VaultWork

SUB = "11111111-1111-1111-1111-111111111111"
VAULT_ID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v1"
ACCOUNT = (
    f"/subscriptions/{SUB}/resourceGroups/rg-automation/providers/"
    "Microsoft.Automation/automationAccounts/aa"
)
OP_URL = "https://management.azure.com/operations/op1?api-version=2021-12-01"
STARTED = datetime(2026, 11, 25, 1, 0, 0, tzinfo=UTC)
BODY: dict[str, object] = {"properties": {}}
DESIRED = DesiredSettings("Enabled", ACCOUNT, "SystemAssignedIdentity")


def raw_mapping(name: str = "m1", **details: Any) -> dict[str, Any]:
    specific = {"instanceType": "A2A", "agentAutoUpdateStatus": "Disabled", **details}
    return {
        "id": VAULT_ID.replace("/subscriptions/", "/Subscriptions/")
        + f"/replicationFabrics/f/replicationProtectionContainers/c/"
        f"replicationProtectionContainerMappings/{name}",
        "name": name,
        "properties": {
            "state": "Paired",
            "healthErrorDetails": [{"errorCode": "x"}],
            "providerSpecificDetails": specific,
        },
    }


def vault_work(vault_id: str = VAULT_ID) -> VaultWork:
    return VaultWork(VaultTarget(VaultId.parse(vault_id), DesiredState(Action.ENABLE, ACCOUNT)))


def listed(vault: VaultWork | None = None, name: str = "m1", **details: Any) -> MappingWork:
    vault = vault or vault_work()
    work = MappingWork.listed(parse_mapping(raw_mapping(name, **details)), vault)
    vault.add(work)
    return work


def sent(work: MappingWork) -> MappingWork:
    work.queue(BODY, DESIRED)
    work.stage = Stage.SENT
    work.started_at = STARTED
    return work


def running(work: MappingWork, polls: int = 2) -> MappingWork:
    sent(work)
    work.run(OP_URL)
    for _ in range(polls):
        work.read("InProgress")
    return work


# --- mapping_report ------------------------------------------------------------------------------


@pytest.mark.parametrize("ending", list(Ending))
@pytest.mark.parametrize("queued", [False, True])
def test_a_change_never_sent_reports_no_operation(ending: Ending, queued: bool) -> None:
    work = listed()
    if queued:
        work.queue(BODY, DESIRED)
    work.settle(ending)
    report = mapping_report(work)
    assert (report.result, report.operation) == (MappingResult.NOT_STARTED, None)
    assert report.desired == (DESIRED if queued else None)


@pytest.mark.parametrize(
    ("ending", "result"),
    [(Ending.DEADLINE, MappingResult.TIMED_OUT), (Ending.INTERRUPT, MappingResult.INTERRUPTED)],
)
def test_a_patch_under_way_reports_its_start_and_why_no_url(
    ending: Ending, result: MappingResult
) -> None:
    work = sent(listed())
    work.settle(ending)
    report = mapping_report(work)
    operation = report.operation
    assert report.result is result
    assert operation is not None
    assert (operation.url, operation.status, operation.polls) == (None, None, 0)
    assert (operation.started_at, operation.finished_at) == (STARTED, None)
    assert operation.error is not None and operation.error.code == "patch_unanswered"


@pytest.mark.parametrize(
    ("ending", "result"),
    [(Ending.DEADLINE, MappingResult.TIMED_OUT), (Ending.INTERRUPT, MappingResult.INTERRUPTED)],
)
def test_a_running_operation_reports_its_url_to_resume_from(
    ending: Ending, result: MappingResult
) -> None:
    work = running(listed(), polls=3)
    work.settle(ending)
    report = mapping_report(work)
    assert report.result is result
    assert report.operation is not None
    assert (report.operation.url, report.operation.status, report.operation.polls) == (
        OP_URL,
        "InProgress",
        3,
    )
    assert (report.operation.started_at, report.operation.finished_at) == (STARTED, None)
    assert report.operation.error is None


def test_a_succeeded_operation_reports_url_status_polls_and_both_times() -> None:
    work = running(listed(), polls=4)
    work.finish(MappingResult.SUCCEEDED, status="Succeeded")
    operation = mapping_report(work).operation
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
    operation = mapping_report(work).operation
    assert operation is not None
    assert (operation.url, operation.status, operation.error) == (OP_URL, "Failed", error)


def test_a_skipped_mapping_has_no_operation() -> None:
    work = listed()
    work.finish(MappingResult.SKIPPED, skip_reason=SkipReason.COMPLIANT)
    report = mapping_report(work)
    assert (report.result, report.skip_reason, report.operation) == (
        MappingResult.SKIPPED,
        SkipReason.COMPLIANT,
        None,
    )
    assert (report.desired, report.after) == (None, None)


def test_a_plan_would_change_mapping_has_no_operation_and_says_what_it_would_set() -> None:
    work = listed()
    work.queue(BODY, DESIRED)
    work.finish(MappingResult.WOULD_CHANGE)
    report = mapping_report(work)
    assert (report.operation, report.desired) == (None, DESIRED)


def test_a_patch_arm_refused_reports_no_url_and_the_error() -> None:
    work = sent(listed())
    error = ErrorInfo(code="BadRequest", message="invalid account")
    work.finish(MappingResult.FAILED, error=error)
    operation = mapping_report(work).operation
    assert operation is not None
    assert (operation.url, operation.status, operation.error) == (None, None, error)
    assert operation.started_at == STARTED
    assert operation.finished_at is not None


def test_a_change_refused_before_sending_reports_no_url_no_times_and_the_error() -> None:
    work = listed()
    error = ErrorInfo(code="no_automation_account", message="nothing to keep")
    work.finish(MappingResult.FAILED, error=error)
    operation = mapping_report(work).operation
    assert operation is not None
    assert (operation.url, operation.started_at, operation.finished_at, operation.polls) == (
        None,
        None,
        None,
        0,
    )
    assert operation.error == error
    assert work.error_code == "no_automation_account"


def test_a_change_capped_by_max_changes_reports_why_it_was_not_started() -> None:
    work = listed()
    work.queue(BODY, DESIRED)
    cap = ErrorInfo(code="max_changes_reached", message="not sent: --max-changes 1")
    work.finish(MappingResult.NOT_STARTED, error=cap)
    report = mapping_report(work)
    assert report.result is MappingResult.NOT_STARTED
    assert report.operation is not None and report.operation.error == cap


def test_reporting_an_unsettled_mapping_is_a_bug() -> None:
    with pytest.raises(AssertionError):
        mapping_report(listed())


def test_before_is_the_snapshots_settings_and_after_the_read_back() -> None:
    raw = raw_mapping(automationAccountAuthenticationType="RunAsAccount")
    work = listed(automationAccountAuthenticationType="RunAsAccount")
    running(work).finish(MappingResult.UNHEALTHY, status="Succeeded")
    work.after = parse_mapping(raw_mapping(agentAutoUpdateStatus="Enabled")).settings()
    report = mapping_report(work)
    assert report.before == parse_mapping(raw).settings()
    assert report.after is not None and report.after.agent_auto_update_status == "Enabled"
    assert (report.result, report.desired) == (MappingResult.UNHEALTHY, DESIRED)


def test_a_mapping_report_is_a_valid_model_round_trip() -> None:
    work = running(listed())
    work.finish(MappingResult.SUCCEEDED, status="Succeeded")
    report = mapping_report(work)
    assert MappingReport.model_validate_json(report.model_dump_json()) == report


# --- vault_report --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ending", "code"), [(Ending.DEADLINE, "timed_out"), (Ending.INTERRUPT, "interrupted")]
)
def test_a_vault_never_fully_listed_reports_an_error(ending: Ending, code: str) -> None:
    vault = vault_work()
    listed(vault)
    vault.settle(ending)
    report = vault_report(vault)
    assert report.status is VaultStatus.ERROR
    assert report.error is not None
    assert report.error.code == code
    assert [m.result for m in report.mappings] == [MappingResult.NOT_STARTED]
    assert report.listed_via is None


def test_a_vault_whose_listing_failed_reports_its_own_error_and_no_mappings() -> None:
    vault = vault_work()
    error = ErrorInfo(code="AuthorizationFailed", message="no access")
    vault.fail(error)
    vault.end_listing()
    vault.settle(Ending.DEADLINE)
    report = vault_report(vault)
    assert (report.status, report.error, report.mappings) == (VaultStatus.ERROR, error, [])


def test_settling_a_vault_twice_reports_the_same() -> None:
    vault = vault_work()
    listed(vault)
    vault.settle(Ending.DEADLINE)
    first = vault_report(vault)
    vault.settle(Ending.INTERRUPT)
    assert vault_report(vault) == first


def test_the_vault_report_names_the_vault_and_its_subscription() -> None:
    vault = vault_work(VAULT_ID.replace("/subscriptions/", "/Subscriptions/"))
    vault.end_listing()
    vault.listed_via = ListedVia.CONTAINERS
    vault.settle(Ending.DEADLINE)
    report = vault_report(vault)
    assert (report.id, report.subscription_id) == (VAULT_ID, SUB)
    assert report.listed_via is ListedVia.CONTAINERS
    assert report.protected_items is None


def test_an_audited_vault_reports_each_agent_and_its_state() -> None:
    vault = vault_work()
    vault.end_listing()
    item_id = (
        f"{VAULT_ID}/replicationFabrics/f/replicationProtectionContainers/c/"
        "replicationProtectedItems/vm-1"
    )
    raw = {
        "id": item_id,
        "properties": {
            "providerSpecificDetails": {
                "instanceType": "A2A",
                "agentVersion": "9.62",
                "agentExpiryDate": "2027-01-01T00:00:00.0000000Z",
                "lastHeartbeat": "2026-11-25T00:55:00",
            }
        },
    }
    agent = parse_protected_item(raw)
    assert agent is not None
    vault.agents = [AgentRecord.of(agent, AgentState.CURRENT)]
    vault.settle(Ending.DEADLINE)
    (item,) = vault_report(vault).protected_items or []
    assert item == ProtectedItemReport(
        id=item_id,
        name="vm-1",
        agent_version="9.62",
        agent_state=AgentState.CURRENT,
        agent_expiry=datetime(2027, 1, 1, tzinfo=UTC),
        certificate_expiry=None,
        last_heartbeat=datetime(2026, 11, 25, 0, 55, tzinfo=UTC),
    )


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
    reports = [vault_report(vault) for vault in vaults]
    head = Report(
        run_id="run-1",
        command=Command.APPLY,
        action=Action.ENABLE,
        started_at=STARTED,
        finished_at=STARTED,
        duration_s=0.0,
        outcome=Outcome.TIMED_OUT,
        exit_code=3,
        totals=totals_of(reports),
        calls=Calls(get=0, set=0, throttled=0, retried=0),
        vaults=[],
    )
    return RunReport(head, vaults)


def test_a_run_reports_its_head_and_each_vault_from_its_record() -> None:
    report = run_report(settled_vaults())
    assert report.exit_code == 3
    whole = report.whole()
    assert [v.status for v in whole.vaults] == [VaultStatus.OK, VaultStatus.ERROR]
    assert whole.totals.mappings == sum(len(v.mappings) for v in whole.vaults) == 3
    assert whole.model_copy(update={"vaults": []}) == report.head


def test_each_vaults_models_are_built_only_when_asked_for() -> None:
    vaults = settled_vaults()
    report = run_report(vaults)
    lazily = report.vaults()
    first = next(lazily)
    vaults[1].mappings.clear()  # a record changed after the first vault was built
    second = next(lazily)
    assert (len(first.mappings), second.mappings) == (2, [])


def test_a_run_report_is_written_as_the_whole_report_renders(tmp_path: Path) -> None:
    report = run_report(settled_vaults())
    target = tmp_path / "report.json"
    write_report(report.head, target, stdout=io.StringIO(), vaults=report.vaults())
    whole = report.whole()
    assert target.read_text(encoding="utf-8") == render(whole)
    assert load_report(target) == whole
