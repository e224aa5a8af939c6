"""What a person at a terminal reads after a run (orchestrator.output.summary), made from the
run's records: the per-subscription summary, plan's changes, and every failure with its code."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, RenderableType

from orchestrator.asr.desired import Action
from orchestrator.asr.mapping import parse_mapping
from orchestrator.asr.rules import Change, SkipReason, decide
from orchestrator.asr.targets import VaultId, VaultTarget
from orchestrator.config import Config
from orchestrator.output.assemble import RunReport
from orchestrator.output.report import (
    Calls,
    Command,
    Outcome,
    Report,
    SubscriptionReport,
    count_totals,
)
from orchestrator.output.summary import (
    FAILURES_MAX,
    PLAN_ROWS_MAX,
    PlanRow,
    failures,
    failures_table,
    plan_rows,
    plan_table,
    print_outcome,
    subscription_rows,
    summary_table,
)
from orchestrator.work.outcomes import ErrorInfo, MappingResult, SubscriptionStatus, VaultStatus
from orchestrator.work.records import MappingWork, VaultWork

SUB_A = "11111111-1111-1111-1111-111111111111"
SUB_B = "22222222-2222-2222-2222-222222222222"
SUB_C = "33333333-3333-3333-3333-333333333333"
ACCOUNT = (
    f"/subscriptions/{SUB_A}/resourceGroups/rg-automation/providers/"
    "Microsoft.Automation/automationAccounts/aa-fleet"
)
OLD_ACCOUNT = ACCOUNT.replace("aa-fleet", "aa-old")
NOW = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def vault_id(sub: str, name: str) -> str:
    return (
        f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/{name}"
    )


def render(renderable: RenderableType, width: int = 160) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def config(**keys: Any) -> Config:
    return Config.model_validate({"action": "enable", "subscriptions": [SUB_A], **keys})


DEFAULT_CONFIG = config(automation_account=ACCOUNT)


def vault(
    sub: str, name: str, *, error: ErrorInfo | None = None, desired_from: Config = DEFAULT_CONFIG
) -> VaultWork:
    """A vault's record, driven to what ``desired_from`` wants for it (its own entry's
    overrides included, as the run resolves them)."""
    vault_ = VaultId.parse(vault_id(sub, name))
    explicit = {t.vault.key: t for t in desired_from.vault_targets()}
    target = explicit.get(vault_.key) or VaultTarget(vault_, desired_from.desired_for(vault_))
    record = VaultWork(target)
    if error is not None:
        record.fail(error)
    return record


def mapping(
    record: VaultWork,
    name: str,
    result: MappingResult,
    *,
    status: str | None = "Disabled",
    account: str | None = None,
    auth: str | None = None,
    health: int = 0,
    error: ErrorInfo | None = None,
) -> MappingWork:
    """A settled record of a mapping as listed; a change's desired settings are what the rules
    decide for it, as the engine does, from its vault's desired state."""
    raw = {
        "id": f"{record.vault_id}/replicationProtectionContainerMappings/{name}",
        "name": name,
        "properties": {
            "state": "Paired",
            "healthErrorDetails": [{"errorCode": str(n)} for n in range(health)],
            "providerSpecificDetails": {
                "instanceType": "A2A",
                "agentAutoUpdateStatus": status,
                "automationAccountArmId": account,
                "automationAccountAuthenticationType": auth,
            },
        },
    }
    snapshot = parse_mapping(raw)
    work = MappingWork.listed(snapshot, record)
    record.add(work)
    if result is MappingResult.SKIPPED:
        work.finish(result, skip_reason=SkipReason.COMPLIANT)
        return work
    decision = decide(snapshot, record.target.desired_for(work.id))
    if isinstance(decision, Change):
        work.queue(decision.body, decision.desired)
    work.finish(result, error=error)
    return work


def run(
    vaults: list[VaultWork],
    *,
    command: Command = Command.APPLY,
    subscriptions: list[SubscriptionReport] | None = None,
    exit_code: int = 0,
) -> RunReport:
    for record in vaults:
        record.end_listing()
    results = Counter(m.result for v in vaults for m in v.mappings if m.result is not None)
    outcome = {0: Outcome.SUCCEEDED, 1: Outcome.FAILED}[exit_code]
    head = Report(
        run_id="r",
        command=command,
        action=Action.ENABLE,
        started_at=NOW,
        finished_at=NOW,
        duration_s=2.5,
        outcome=outcome,
        exit_code=exit_code,
        totals=count_totals(
            results,
            vaults=len(vaults),
            vaults_failed=sum(v.status is VaultStatus.ERROR for v in vaults),
        ),
        calls=Calls(get=1, set=1, throttled=0, retried=0),
        vaults=[],
        subscriptions=subscriptions,
    )
    return RunReport(head, vaults)


# --- the summary ---------------------------------------------------------------------------------


def test_the_summary_has_a_row_per_subscription_and_a_total() -> None:
    a1, b1 = vault(SUB_A, "va1"), vault(SUB_B, "vb1")
    mapping(a1, "m1", MappingResult.SUCCEEDED)
    mapping(a1, "m2", MappingResult.SKIPPED)
    mapping(b1, "m1", MappingResult.FAILED)
    forbidden = SubscriptionReport(
        id=SUB_C,
        status=SubscriptionStatus.ERROR,
        error=ErrorInfo(code="AuthorizationFailed", message="no role"),
        vaults_found=0,
    )
    ok = [
        SubscriptionReport(id=s, status=SubscriptionStatus.OK, error=None, vaults_found=1)
        for s in (SUB_A, SUB_B)
    ]
    done = run([a1, b1], subscriptions=[*ok, forbidden], exit_code=1)
    lines = render(summary_table(done)).splitlines()
    assert "apply failed (exit 1) in 2.5s: 2 vaults, 3 mappings" in lines[0]
    row_a = next(line for line in lines if SUB_A in line).split()
    assert row_a == [SUB_A, "1", "1", "1", "0", "1", "0", "ok"]  # vaults changed succ fail skip t/o
    row_b = next(line for line in lines if SUB_B in line).split()
    assert row_b == [SUB_B, "1", "1", "0", "1", "0", "0", "ok"]
    assert "error: AuthorizationFailed" in next(line for line in lines if SUB_C in line)
    assert next(line for line in lines if line.strip().startswith("Total")).split() == [
        "Total", "2", "2", "1", "1", "1", "0"
    ]  # fmt: skip


def test_discoverys_subscriptions_come_first_in_its_order_then_explicit_vaults() -> None:
    explicit = vault(SUB_C, "vc1")
    found = vault(SUB_B, "vb1")
    subs = [
        SubscriptionReport(id=SUB_B, status=SubscriptionStatus.OK, error=None, vaults_found=1),
        SubscriptionReport(
            id=SUB_A,
            status=SubscriptionStatus.SKIPPED,
            state="Disabled",
            error=None,
            vaults_found=0,
        ),
    ]
    rows = subscription_rows(run([explicit, found], subscriptions=subs))
    assert [row.id for row in rows] == [SUB_B, SUB_A, SUB_C]
    assert [row.status for row in rows] == ["ok", "skipped: Disabled", "ok"]
    assert [row.vaults for row in rows] == [1, 0, 1]


def test_a_subscription_whose_vault_failed_says_how_many() -> None:
    broken = vault(SUB_A, "va1", error=ErrorInfo(code="AuthorizationFailed", message="no"))
    (row,) = subscription_rows(run([broken, vault(SUB_A, "va2")], exit_code=1))
    assert (row.vaults, row.vaults_failed, row.status) == (2, 1, "1 vaults failed")


def test_the_plan_summary_counts_what_would_change() -> None:
    a1 = vault(SUB_A, "va1")
    mapping(a1, "m1", MappingResult.WOULD_CHANGE)
    text = render(summary_table(run([a1], command=Command.PLAN)))
    assert "Would change" in text and "Succeeded" not in text
    assert "Status" not in text  # every subscription is ok: no column for it
    assert "Total" not in text  # one subscription: no footer


def test_not_started_appears_only_when_something_was_not_started() -> None:
    assert "Not started" not in render(summary_table(run([vault(SUB_A, "va1")])))
    a1 = vault(SUB_A, "va1")
    mapping(a1, "m1", MappingResult.NOT_STARTED)
    assert "Not started" in render(summary_table(run([a1], exit_code=1)))


def test_unhealthy_and_interrupted_appear_only_when_some_mapping_ended_so() -> None:
    a1 = vault(SUB_A, "va1")
    mapping(a1, "m1", MappingResult.UNHEALTHY)
    text = render(summary_table(run([a1], exit_code=1)))
    assert "Unhealthy" in text and "Interrupted" not in text


# --- plan's changes ------------------------------------------------------------------------------


def test_plan_rows_show_current_and_desired_settings() -> None:
    a1 = vault(SUB_A, "va1")
    mapping(a1, "off", MappingResult.WOULD_CHANGE)
    mapping(
        a1,
        "sick",
        MappingResult.WOULD_CHANGE,
        status="Enabled",
        account=ACCOUNT,
        auth="SystemAssignedIdentity",
        health=2,
    )
    mapping(a1, "fine", MappingResult.SKIPPED)
    rows = list(plan_rows(run([a1], command=Command.PLAN)))
    assert rows == [
        PlanRow("va1", "off", "Disabled, —, —", "Enabled, aa-fleet, SystemAssignedIdentity"),
        PlanRow(
            "va1",
            "sick",
            "Enabled, aa-fleet, SystemAssignedIdentity",
            "Enabled, aa-fleet, SystemAssignedIdentity (repair: 2 health errors)",
        ),
    ]


def test_one_health_error_is_a_health_error() -> None:
    a1 = vault(SUB_A, "va1")
    mapping(
        a1,
        "m",
        MappingResult.WOULD_CHANGE,
        status="Enabled",
        account=ACCOUNT,
        auth="SystemAssignedIdentity",
        health=1,
    )
    [row] = plan_rows(run([a1], command=Command.PLAN))
    assert row.desired.endswith("(repair: 1 health error)")


def test_keep_desires_each_mappings_own_account() -> None:
    a1 = vault(SUB_A, "va1", desired_from=config(automation_account="keep"))
    mapping(
        a1,
        "m",
        MappingResult.WOULD_CHANGE,
        status="Enabled",
        account=OLD_ACCOUNT,
        auth="RunAsAccount",
    )
    [row] = plan_rows(run([a1], command=Command.PLAN))
    assert row.current == "Enabled, aa-old, RunAsAccount"
    assert row.desired == "Enabled, aa-old, SystemAssignedIdentity"


def test_a_vaults_own_override_decides_its_desired_settings() -> None:
    a1_id = vault_id(SUB_A, "va1")
    overrides = config(
        automation_account=ACCOUNT,
        vaults=[
            {
                "id": a1_id.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"),
                "action": "disable",
            }
        ],
    )
    a1 = vault(SUB_A, "va1", desired_from=overrides)
    a2 = vault(SUB_A, "va2", desired_from=overrides)
    mapping(
        a1,
        "m",
        MappingResult.WOULD_CHANGE,
        status="Enabled",
        account=ACCOUNT,
        auth="SystemAssignedIdentity",
    )
    mapping(a2, "m", MappingResult.WOULD_CHANGE)
    first, second = plan_rows(run([a1, a2], command=Command.PLAN))
    assert first.desired == "Disabled, aa-fleet, SystemAssignedIdentity"
    assert second.desired == "Enabled, aa-fleet, SystemAssignedIdentity"


def test_a_long_plan_points_at_the_report_for_the_rest() -> None:
    rows = [PlanRow("v", f"m{i}", "a", "b") for i in range(PLAN_ROWS_MAX)]
    text = render(plan_table(rows, PLAN_ROWS_MAX + 7))
    assert "… and 7 more: every mapping is in the report" in text


def test_a_plan_of_at_most_the_limit_has_no_note() -> None:
    rows = [PlanRow("v", f"m{i}", "a", "b") for i in range(3)]
    assert "more" not in render(plan_table(rows, 3))


# --- failures ------------------------------------------------------------------------------------


def test_every_failed_unhealthy_or_timed_out_mapping_is_listed_with_its_code() -> None:
    a1 = vault(SUB_A, "va1")
    mapping(a1, "ok", MappingResult.SUCCEEDED)
    mapping(a1, "bad", MappingResult.FAILED, error=ErrorInfo(code="BadRequest", message="no"))
    mapping(a1, "sick", MappingResult.UNHEALTHY)
    mapping(a1, "slow", MappingResult.TIMED_OUT)
    mapping(a1, "late", MappingResult.NOT_STARTED)
    report = run([a1], exit_code=1)
    assert [(v, s, m.name) for v, s, m in failures(report)] == [
        ("va1", SUB_A, "bad"),
        ("va1", SUB_A, "sick"),
        ("va1", SUB_A, "slow"),
    ]
    table = failures_table(report)
    assert table is not None
    text = render(table)
    assert "needs attention" in text
    assert "failed: BadRequest" in text and "no" in text
    assert "unhealthy" in text and "timed_out" in text
    assert "late" not in text


def test_vault_errors_are_listed_first() -> None:
    broken = vault(SUB_A, "broken", error=ErrorInfo(code="too_many_pages", message="paging"))
    a2 = vault(SUB_A, "va2")
    mapping(a2, "bad", MappingResult.FAILED, error=ErrorInfo(code="Conflict", message="busy"))
    table = failures_table(run([a2, broken], exit_code=1))
    assert table is not None
    lines = render(table).splitlines()
    vault_line = next(i for i, line in enumerate(lines) if "too_many_pages" in line)
    mapping_line = next(i for i, line in enumerate(lines) if "Conflict" in line)
    assert vault_line < mapping_line
    assert "vault failed" in lines[vault_line]


def test_nothing_needs_attention_after_a_clean_run() -> None:
    a1 = vault(SUB_A, "va1")
    mapping(a1, "ok", MappingResult.SUCCEEDED)
    assert failures_table(run([a1])) is None


def test_past_the_limit_the_failures_list_says_how_many_more_the_report_holds() -> None:
    a1 = vault(SUB_A, "va1")
    for n in range(FAILURES_MAX + 5):
        mapping(a1, f"m{n}", MappingResult.FAILED, error=ErrorInfo(code="E", message="x"))
    table = failures_table(run([a1], exit_code=1))
    assert table is not None
    text = render(table)
    assert "… and 5 more in the report" in text
    assert f"m{FAILURES_MAX - 1} " in text and f"m{FAILURES_MAX} " not in text


# --- print_outcome -------------------------------------------------------------------------------


def test_print_outcome_shows_plans_changes_before_the_summary() -> None:
    a1 = vault(SUB_A, "va1")
    mapping(a1, "m", MappingResult.WOULD_CHANGE)
    out = io.StringIO()
    print_outcome(run([a1], command=Command.PLAN), Console(file=out, width=160))
    text = out.getvalue()
    assert text.index("would change (status") < text.index("plan succeeded (exit 0)")


def test_print_outcome_shows_the_failures_after_the_summary() -> None:
    a1 = vault(SUB_A, "va1")
    mapping(a1, "m", MappingResult.FAILED, error=ErrorInfo(code="BadRequest", message="no"))
    out = io.StringIO()
    print_outcome(run([a1], exit_code=1), Console(file=out, width=160))
    text = out.getvalue()
    assert "would change" not in text
    assert text.index("apply failed (exit 1)") < text.index("needs attention")
