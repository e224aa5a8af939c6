"""Run records: each mapping's stages, and how each stage settles at the deadline or an interrupt.

Records do no I/O and build no report: what the report makes of them is test_assemble.py's.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.asr.desired import Action, DesiredSettings, DesiredState
from orchestrator.asr.mapping import parse_mapping
from orchestrator.asr.rules import SkipReason
from orchestrator.asr.targets import VaultId, VaultTarget
from orchestrator.work.outcomes import ErrorInfo, ListedVia, MappingResult, VaultStatus
from orchestrator.work.records import (
    Ending,
    MappingWork,
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
BODY: dict[str, object] = {"properties": {"providerSpecificInput": {"instanceType": "A2A"}}}
DESIRED = DesiredSettings("Enabled", ACCOUNT, "SystemAssignedIdentity")
UNDER_WAY = {Ending.DEADLINE: MappingResult.TIMED_OUT, Ending.INTERRUPT: MappingResult.INTERRUPTED}


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


def vault_work() -> VaultWork:
    return VaultWork(VaultTarget(VaultId.parse(VAULT_ID), DesiredState(Action.ENABLE, ACCOUNT)))


def listed(vault: VaultWork | None = None, name: str = "m1") -> MappingWork:
    vault = vault or vault_work()
    work = MappingWork.listed(parse_mapping(raw_mapping(name)), vault)
    vault.add(work)
    return work


def patching(work: MappingWork) -> MappingWork:
    """Queued and waiting for its turn to be sent (limiter, token): nothing has left yet."""
    work.queue(BODY, DESIRED)
    work.stage = Stage.PATCHING
    return work


def note_start(work: MappingWork) -> None:
    work.started_at = STARTED


def sent(work: MappingWork) -> MappingWork:
    """Its PATCH left (ASR may have it), no answer yet."""
    patching(work)
    work.stage = Stage.SENT
    work.started_at = STARTED
    return work


def running(work: MappingWork, polls: int = 2) -> MappingWork:
    sent(work)
    work.run(OP_URL)
    for _ in range(polls):
        work.read("InProgress")
    return work


# --- MappingWork: stages -------------------------------------------------------------------------


def test_a_listed_mapping_records_where_it_belongs_and_how_it_was() -> None:
    vault = vault_work()
    work = listed(vault)
    assert (work.name, work.subscription_id, work.vault_name) == ("m1", SUB, "v1")
    assert work.log_context == {"vault": "v1", "subscription_id": SUB}
    assert work.before == parse_mapping(raw_mapping()).settings()
    assert work.before.agent_auto_update_status == "Disabled"
    assert work.before.health_errors == 1
    assert work.before.state == "Paired"
    assert (work.stage, work.result, work.desired, work.vault) == (Stage.LISTED, None, None, vault)


def test_queueing_a_change_keeps_its_body_and_desired_settings() -> None:
    work = listed()
    work.queue(BODY, DESIRED)
    assert (work.stage, work.body, work.desired) == (Stage.QUEUED, BODY, DESIRED)
    assert not work.ended


def test_running_a_change_tracks_its_operation_url() -> None:
    work = sent(listed())
    work.run(OP_URL)
    assert (work.stage, work.operation_url, work.status) == (Stage.RUNNING, OP_URL, "InProgress")


def test_each_read_is_counted_and_keeps_asrs_latest_word() -> None:
    work = running(listed(), polls=0)
    work.read("Running")
    work.read(None)  # a read that said nothing (unreadable): counted, status kept
    work.read("")
    assert (work.polls, work.status) == (3, "Running")
    assert work.status is sys.intern("Running")


def test_finishing_drops_the_body_and_keeps_what_the_report_needs() -> None:
    work = running(listed(), polls=4)
    work.finish(MappingResult.SUCCEEDED, status="".join(["Succ", "eeded"]))
    assert work.body is None
    assert (work.result, work.polls, work.operation_url) == (MappingResult.SUCCEEDED, 4, OP_URL)
    assert work.status is sys.intern("Succeeded")
    assert work.desired == DESIRED  # the report shows what it set out to give
    assert work.finished_at is not None and work.finished_at >= STARTED
    assert (work.stage, work.ended) == (Stage.DONE, True)


def test_finishing_something_never_sent_gives_it_no_times() -> None:
    work = listed()
    work.finish(MappingResult.SKIPPED, skip_reason=SkipReason.COMPLIANT)
    assert (work.started_at, work.finished_at) == (None, None)
    assert work.skip_reason is SkipReason.COMPLIANT


def test_finishing_without_a_status_keeps_the_last_one_read() -> None:
    work = running(listed())
    error = ErrorInfo(code="operation_not_found", message="gone")
    work.finish(MappingResult.FAILED, error=error)
    assert (work.status, work.error, work.error_code) == (
        "InProgress",
        error,
        "operation_not_found",
    )


def test_the_error_code_is_none_without_an_error() -> None:
    assert listed().error_code is None


# --- MappingWork: settle -------------------------------------------------------------------------


@pytest.mark.parametrize("ending", list(Ending))
@pytest.mark.parametrize("stage", [Stage.LISTED, Stage.QUEUED, Stage.PATCHING])
def test_a_change_never_sent_settles_not_started(ending: Ending, stage: Stage) -> None:
    work = listed()
    if stage is not Stage.LISTED:
        work.queue(BODY, DESIRED)
    work.stage = stage
    note_start(work)  # even if a start was noted, nothing left
    work.settle(ending)
    assert (work.result, work.error) == (MappingResult.NOT_STARTED, None)
    assert (work.started_at, work.finished_at, work.operation_url) == (None, None, None)
    assert work.ended


@pytest.mark.parametrize("ending", list(Ending))
def test_a_patch_sent_but_unanswered_settles_by_the_ending(ending: Ending) -> None:
    work = sent(listed())
    work.settle(ending)
    assert work.result is UNDER_WAY[ending]
    assert (work.operation_url, work.status, work.polls) == (None, None, 0)
    assert (work.started_at, work.finished_at) == (STARTED, None)
    assert work.error is not None and work.error.code == "patch_unanswered"
    assert str(ending) in work.error.message


@pytest.mark.parametrize("ending", list(Ending))
def test_a_patch_sent_and_waited_out_keeps_what_the_run_knew(ending: Ending) -> None:
    """A 409 being waited out (the first PATCH runs) says more than `patch_unanswered`."""
    work = sent(listed())
    conflict = ErrorInfo(code="Conflict", message="an operation is in progress")
    work.error = conflict
    work.settle(ending)
    assert (work.result, work.error) == (UNDER_WAY[ending], conflict)


@pytest.mark.parametrize("ending", list(Ending))
def test_a_running_operation_settles_by_the_ending_and_keeps_its_url(ending: Ending) -> None:
    work = running(listed(), polls=3)
    work.settle(ending)
    assert work.result is UNDER_WAY[ending]
    assert (work.operation_url, work.status, work.polls) == (OP_URL, "InProgress", 3)
    assert (work.started_at, work.finished_at) == (STARTED, None)
    assert work.error is None


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


def test_the_endings_name_themselves() -> None:
    assert [str(e) for e in Ending] == ["deadline", "interrupt"]


# --- VaultWork -----------------------------------------------------------------------------------


def test_a_vault_record_names_its_vault() -> None:
    vault = VaultWork(
        VaultTarget(
            VaultId.parse(VAULT_ID.replace("/subscriptions/", "/Subscriptions/")),
            DesiredState(Action.DISABLE, None),
        )
    )
    assert vault.vault_id == VAULT_ID
    assert (vault.status, vault.error, vault.listed, vault.listed_via) == (
        VaultStatus.OK,
        None,
        False,
        None,
    )
    assert (vault.agents, vault.verified) == (None, False)


@pytest.mark.parametrize(
    ("ending", "code"), [(Ending.DEADLINE, "timed_out"), (Ending.INTERRUPT, "interrupted")]
)
def test_a_vault_never_fully_listed_settles_as_an_error(ending: Ending, code: str) -> None:
    vault = vault_work()
    work = listed(vault)
    vault.settle(ending)
    assert vault.status is VaultStatus.ERROR
    assert vault.error is not None
    assert vault.error.code == code
    assert vault.listed
    assert work.result is MappingResult.NOT_STARTED


@pytest.mark.parametrize("ending", list(Ending))
def test_a_listed_vault_stays_ok_and_settles_each_mapping(ending: Ending) -> None:
    vault = vault_work()
    skipped, queued, run = listed(vault, "a"), listed(vault, "b"), running(listed(vault, "c"))
    skipped.finish(MappingResult.SKIPPED, skip_reason=SkipReason.NOT_PAIRED)
    queued.queue(BODY, DESIRED)
    vault.end_listing()
    vault.settle(ending)
    assert (vault.status, vault.error) == (VaultStatus.OK, None)
    assert [m.result for m in vault.mappings] == [
        MappingResult.SKIPPED,
        MappingResult.NOT_STARTED,
        UNDER_WAY[ending],
    ]
    assert run.stage is Stage.DONE


def test_a_vault_whose_listing_failed_keeps_its_own_error() -> None:
    vault = vault_work()
    error = ErrorInfo(code="AuthorizationFailed", message="no access")
    vault.fail(error)
    vault.end_listing()
    vault.settle(Ending.DEADLINE)
    assert (vault.status, vault.error, vault.mappings) == (VaultStatus.ERROR, error, [])


def test_settling_a_vault_twice_changes_nothing() -> None:
    vault = vault_work()
    work = listed(vault)
    vault.settle(Ending.DEADLINE)
    first = (vault.status, vault.error, work.result, work.error)
    vault.settle(Ending.INTERRUPT)
    assert (vault.status, vault.error, work.result, work.error) == first


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
    with pytest.raises(AssertionError, match="listing has ended"):
        listed(vault, "late")


def test_a_vault_listed_the_long_way_says_so() -> None:
    vault = vault_work()
    vault.listed_via = ListedVia.CONTAINERS
    assert str(vault.listed_via) == "containers"


def test_changes_are_open_while_a_change_has_not_ended() -> None:
    vault = vault_work()
    skipped, change = listed(vault, "a"), listed(vault, "b")
    skipped.finish(MappingResult.SKIPPED, skip_reason=SkipReason.COMPLIANT)
    assert not vault.changes_open()  # nothing to change
    change.queue(BODY, DESIRED)
    assert vault.changes_open()
    running(change)
    assert vault.changes_open()
    change.finish(MappingResult.SUCCEEDED, status="Succeeded")
    assert not vault.changes_open()


# --- count_results -------------------------------------------------------------------------------


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


def test_results_are_counted_from_the_settled_records() -> None:
    assert count_results(settled_vaults()) == {
        MappingResult.SKIPPED: 1,
        MappingResult.SUCCEEDED: 1,
        MappingResult.NOT_STARTED: 1,
    }


def test_counting_an_unsettled_record_is_a_bug() -> None:
    vault = vault_work()
    listed(vault)
    with pytest.raises(AssertionError, match="settle"):
        count_results([vault])
