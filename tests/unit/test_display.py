"""The terminal display: progress counting, the live panel, the summary and plan tables."""

from __future__ import annotations

import asyncio
import io
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console, RenderableType

from orchestrator.arm.limits import LimiterRegistry, LimiterTotals, LimitSpec
from orchestrator.asr.desired import Action, DesiredState
from orchestrator.asr.rules import SkipReason, parse_mapping
from orchestrator.asr.targets import VaultId, VaultTarget
from orchestrator.config.model import Config
from orchestrator.output.display import (
    PLAN_ROWS_MAX,
    CurrentStderr,
    LiveProgress,
    PlanRow,
    plan_rows,
    plan_table,
    print_outcome,
    progress_panel,
    summary_table,
)
from orchestrator.output.report import (
    Calls,
    Command,
    ErrorInfo,
    MappingBefore,
    MappingReport,
    MappingResult,
    Outcome,
    Report,
    SubscriptionReport,
    VaultReport,
    VaultStatus,
    compute_totals,
)
from orchestrator.work.progress import Phase, Progress, ProgressSnapshot
from orchestrator.work.records import MappingWork, Stage, VaultWork

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


# --- Progress ----------------------------------------------------------------------------------


def work(stage: Stage, result: MappingResult | None = None, name: str = "m1") -> MappingWork:
    vault = VaultWork(
        VaultTarget(VaultId.parse(vault_id(SUB_A, "v1")), DesiredState(Action.ENABLE, ACCOUNT))
    )
    raw = {
        "id": vault_id(SUB_A, "v1") + f"/replicationProtectionContainerMappings/{name}",
        "properties": {"state": "Paired", "providerSpecificDetails": {"instanceType": "A2A"}},
    }
    record = MappingWork.listed(parse_mapping(raw), vault)
    record.stage, record.result = stage, result
    return record


def test_an_accepted_patch_counts_as_running_until_its_operation_ends() -> None:
    progress = Progress(3)
    accepted = work(Stage.RUNNING)
    progress.patch_done(accepted)
    assert progress.snapshot().operations_running == 1
    accepted.stage, accepted.result = Stage.DONE, MappingResult.SUCCEEDED
    progress.operation_done(accepted)
    snapshot = progress.snapshot()
    assert (snapshot.patches_sent, snapshot.operations_done, snapshot.operations_running) == (
        1,
        1,
        0,
    )


def test_a_refused_patch_counts_as_refused_not_running() -> None:
    progress = Progress(1)
    progress.patch_done(work(Stage.DONE, MappingResult.FAILED))
    snapshot = progress.snapshot()
    assert (snapshot.patches_sent, snapshot.patches_failed, snapshot.operations_running) == (
        1,
        1,
        0,
    )


def test_a_resumed_operation_ending_never_makes_running_negative() -> None:
    progress = Progress(1)
    progress.operation_done(work(Stage.DONE, MappingResult.FAILED))
    snapshot = progress.snapshot()
    assert snapshot.operations_running == 0
    assert (snapshot.operations_done, snapshot.operations_failed) == (1, 1)


def test_a_listed_vault_adds_its_mappings_and_a_failed_one_counts_as_failed() -> None:
    progress = Progress(2)
    listed = work(Stage.LISTED)
    vault = VaultWork(
        VaultTarget(VaultId.parse(vault_id(SUB_A, "v1")), DesiredState(Action.DISABLE, None))
    )
    vault.add(listed)
    progress.vault_listed(vault)
    broken = VaultWork(
        VaultTarget(VaultId.parse(vault_id(SUB_A, "v2")), DesiredState(Action.DISABLE, None))
    )
    broken.fail(ErrorInfo(code="http_404", message="gone"))
    progress.vault_listed(broken)
    snapshot = progress.snapshot()
    assert (snapshot.vaults_listed, snapshot.vaults_failed, snapshot.mappings_listed) == (2, 1, 1)


async def test_a_snapshot_carries_the_limiters_totals_once_they_are_watched() -> None:
    progress = Progress()
    assert progress.snapshot().limits is None
    registry = LimiterRegistry(
        set_limit=LimitSpec(200, 60), get_limit=LimitSpec(10_000, 3_600), scope="run"
    )
    progress.watch_limits(registry)
    registry.scope_for(SUB_A).set.pause(0.0)
    limits = progress.snapshot().limits
    assert limits is not None and limits.pauses == 1


def test_the_phase_moves_as_the_runner_says() -> None:
    progress = Progress()
    assert progress.snapshot().phase is Phase.STARTING
    progress.begin(Phase.DISCOVERING)
    assert progress.snapshot().phase is Phase.DISCOVERING


# --- the live panel ----------------------------------------------------------------------------


def snapshot(**changes: Any) -> ProgressSnapshot:
    values: dict[str, Any] = {
        "phase": Phase.RUNNING,
        "vaults_total": 30,
        "vaults_listed": 12,
        "vaults_failed": 1,
        "mappings_listed": 48,
        "patches_sent": 40,
        "patches_failed": 2,
        "operations_done": 35,
        "operations_failed": 1,
        "operations_running": 3,
        "limits": LimiterTotals(
            get_acquired=90, set_acquired=40, get_waiting=2, set_waiting=3, pauses=1
        ),
    }
    values.update(changes)
    return ProgressSnapshot(**values)


def test_the_panel_shows_vaults_patches_operations_and_limiter_waits() -> None:
    text = render(progress_panel(snapshot(), "asr-autoupdate apply", 75.0, changes=True))
    assert "asr-autoupdate apply · working · 1:15" in text
    assert "12/30 listed (1 failed) · 48 mappings" in text
    assert "40 sent (2 refused)" in text
    assert "35 finished (1 failed) · 3 running" in text
    assert "waiting: 2 GET, 3 PATCH · 429 pauses: 1" in text


def test_the_panel_for_plan_leaves_out_patches_and_operations() -> None:
    text = render(progress_panel(snapshot(), "asr-autoupdate plan", 1.0, changes=False))
    assert "12/30 listed" in text
    assert "PATCHes" not in text and "Operations" not in text


def test_before_discovery_ends_the_panel_says_so() -> None:
    frame = snapshot(phase=Phase.DISCOVERING, vaults_total=None, limits=None)
    text = render(progress_panel(frame, "asr-autoupdate apply", 0.0, changes=True))
    assert "discovering…" in text
    assert "Limiter" in text and "not started" in text


async def test_the_live_display_prints_stderr_lines_above_itself_and_gives_stderr_back() -> None:
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=True, color_system=None)
    progress = Progress(4)
    before = sys.stderr
    async with LiveProgress(progress, console=console, title="asr-autoupdate apply"):
        assert sys.stderr is not before
        CurrentStderr().write("vault_listed vault=v1\n")
        progress.vaults_listed = 4
        await asyncio.sleep(0.3)  # at least one redraw from the loop
    assert sys.stderr is before
    text = out.getvalue()
    assert "vault_listed vault=v1" in text
    assert text.rindex("4/4 listed") > text.index("vault_listed vault=v1")


def test_current_stderr_follows_whatever_sys_stderr_is(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = CurrentStderr()
    replaced = io.StringIO()
    monkeypatch.setattr(sys, "stderr", replaced)
    stream.write("a line\n")
    assert replaced.getvalue() == "a line\n"
    assert stream.isatty() is False


# --- after the run -----------------------------------------------------------------------------


def mapping(
    vault: str,
    name: str,
    result: MappingResult,
    *,
    status: str | None = "Disabled",
    account: str | None = None,
    auth: str | None = None,
    health: int = 0,
) -> MappingReport:
    return MappingReport(
        id=f"{vault}/replicationProtectionContainerMappings/{name}",
        result=result,
        skip_reason=SkipReason.COMPLIANT if result is MappingResult.SKIPPED else None,
        before=MappingBefore(
            agent_auto_update_status=status,
            automation_account_arm_id=account,
            authentication_type=auth,
            health_errors=health,
            state="Paired",
        ),
        operation=None,
    )


def vault(vault_id_: str, sub: str, *mappings: MappingReport) -> VaultReport:
    return VaultReport(
        id=vault_id_,
        subscription_id=sub,
        status=VaultStatus.OK,
        error=None,
        mappings=list(mappings),
    )


def report(
    vaults: list[VaultReport],
    *,
    command: Command = Command.APPLY,
    subscriptions: list[SubscriptionReport] | None = None,
    exit_code: int = 0,
) -> Report:
    outcome = {0: Outcome.SUCCEEDED, 1: Outcome.FAILED}[exit_code]
    return Report(
        run_id="r",
        command=command,
        action=Action.ENABLE,
        started_at=NOW,
        finished_at=NOW,
        duration_s=2.5,
        outcome=outcome,
        exit_code=exit_code,
        totals=compute_totals(vaults),
        calls=Calls(get=1, set=1, throttled=0, retried=0),
        vaults=vaults,
        subscriptions=subscriptions,
    )


def test_the_summary_has_a_row_per_subscription_and_a_total() -> None:
    a1, b1 = vault_id(SUB_A, "va1"), vault_id(SUB_B, "vb1")
    forbidden = SubscriptionReport(
        id=SUB_C,
        status=VaultStatus.ERROR,
        error=ErrorInfo(code="AuthorizationFailed", message="no role"),
        vaults_found=0,
    )
    ok = [
        SubscriptionReport(id=s, status=VaultStatus.OK, error=None, vaults_found=1)
        for s in (SUB_A, SUB_B)
    ]
    done = report(
        [
            vault(
                a1,
                SUB_A,
                mapping(a1, "m1", MappingResult.SUCCEEDED),
                mapping(a1, "m2", MappingResult.SKIPPED),
            ),
            vault(b1, SUB_B, mapping(b1, "m1", MappingResult.FAILED)),
        ],
        subscriptions=[*ok, forbidden],
        exit_code=1,
    )
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


def test_the_plan_summary_counts_what_would_change() -> None:
    a1 = vault_id(SUB_A, "va1")
    planned = report(
        [vault(a1, SUB_A, mapping(a1, "m1", MappingResult.WOULD_CHANGE))], command=Command.PLAN
    )
    text = render(summary_table(planned))
    assert "Would change" in text and "Succeeded" not in text
    assert "Status" not in text  # every subscription is ok: no column for it
    assert "Total" not in text  # one subscription: no footer


def test_not_started_appears_only_when_something_was_not_started() -> None:
    a1 = vault_id(SUB_A, "va1")
    assert "Not started" not in render(summary_table(report([vault(a1, SUB_A)])))
    late = report([vault(a1, SUB_A, mapping(a1, "m1", MappingResult.NOT_STARTED))], exit_code=1)
    assert "Not started" in render(summary_table(late))


def config(**keys: Any) -> Config:
    return Config.model_validate({"action": "enable", "subscriptions": [SUB_A], **keys})


def test_plan_rows_show_current_and_desired_settings() -> None:
    a1 = vault_id(SUB_A, "va1")
    planned = report(
        [
            vault(
                a1,
                SUB_A,
                mapping(a1, "off", MappingResult.WOULD_CHANGE),
                mapping(
                    a1,
                    "sick",
                    MappingResult.WOULD_CHANGE,
                    status="Enabled",
                    account=ACCOUNT,
                    auth="SystemAssignedIdentity",
                    health=2,
                ),
                mapping(a1, "fine", MappingResult.SKIPPED),
            )
        ],
        command=Command.PLAN,
    )
    rows = plan_rows(planned, config(automation_account=ACCOUNT))
    assert rows == [
        PlanRow("va1", "off", "Disabled, —, —", "Enabled, aa-fleet, SystemAssignedIdentity"),
        PlanRow(
            "va1",
            "sick",
            "Enabled, aa-fleet, SystemAssignedIdentity",
            "Enabled, aa-fleet, SystemAssignedIdentity (repair: 2 health errors)",
        ),
    ]


def test_keep_desires_each_mappings_own_account() -> None:
    a1 = vault_id(SUB_A, "va1")
    planned = report(
        [
            vault(
                a1,
                SUB_A,
                mapping(
                    a1,
                    "m",
                    MappingResult.WOULD_CHANGE,
                    status="Enabled",
                    account=OLD_ACCOUNT,
                    auth="RunAsAccount",
                ),
            )
        ],
        command=Command.PLAN,
    )
    [row] = plan_rows(planned, config(automation_account="keep"))
    assert row.current == "Enabled, aa-old, RunAsAccount"
    assert row.desired == "Enabled, aa-old, SystemAssignedIdentity"


def test_a_vaults_own_override_decides_its_desired_settings() -> None:
    a1, a2 = vault_id(SUB_A, "va1"), vault_id(SUB_A, "va2")
    planned = report(
        [
            vault(
                a1,
                SUB_A,
                mapping(
                    a1,
                    "m",
                    MappingResult.WOULD_CHANGE,
                    status="Enabled",
                    account=ACCOUNT,
                    auth="SystemAssignedIdentity",
                ),
            ),
            vault(a2, SUB_A, mapping(a2, "m", MappingResult.WOULD_CHANGE)),
        ],
        command=Command.PLAN,
    )
    overrides = config(
        automation_account=ACCOUNT,
        vaults=[
            {"id": a1.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"), "action": "disable"}
        ],
    )
    first, second = plan_rows(planned, overrides)
    assert first.desired == "Disabled, aa-fleet, SystemAssignedIdentity"
    assert second.desired == "Enabled, aa-fleet, SystemAssignedIdentity"


def test_a_long_plan_points_at_the_report_for_the_rest() -> None:
    rows = [PlanRow("v", f"m{i}", "a", "b") for i in range(PLAN_ROWS_MAX)]
    text = render(plan_table(rows, PLAN_ROWS_MAX + 7))
    assert "… and 7 more: every mapping is in the report" in text


def test_print_outcome_shows_plans_changes_before_the_summary() -> None:
    a1 = vault_id(SUB_A, "va1")
    planned = report(
        [vault(a1, SUB_A, mapping(a1, "m", MappingResult.WOULD_CHANGE))], command=Command.PLAN
    )
    out = io.StringIO()
    print_outcome(planned, config(automation_account=ACCOUNT), Console(file=out, width=160))
    text = out.getvalue()
    assert text.index("would change (status") < text.index("plan succeeded (exit 0)")
