"""The real CLI against the emulator over loopback: validate, plan, apply and their exit codes."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_support import CliRun, RunCli, StartEmulator, cli_env, fleet_account, write_config

from orchestrator.emulator import EmulatorServer

pytestmark = pytest.mark.integration

QUICK = {"operation_seconds": [0.1, 0.4], "retry_after_seconds": 0, "operation_failure_rate": 0.0}
RESULTS = (
    "succeeded",
    "failed",
    "skipped",
    "timed_out",
    "not_started",
    "would_change",
    "interrupted",
)


def assert_totals_add_up(report: dict[str, Any]) -> None:
    totals = report["totals"]
    mappings = [m for v in report["vaults"] for m in v["mappings"]]
    assert totals["mappings"] == len(mappings)
    assert sum(totals[r] for r in RESULTS) == totals["mappings"]
    for result in RESULTS:
        assert totals[result] == sum(1 for m in mappings if m["result"] == result), result
    assert len({m["id"].lower() for m in mappings}) == len(mappings), "a mapping appears twice"


def assert_state_agrees(
    server: EmulatorServer, run: CliRun, status: str, account: str | None
) -> None:
    """succeeded <=> the emulator's mapping now has the desired setting."""
    assert run.report is not None
    for vault in run.report["vaults"]:
        for mapping in vault["mappings"]:
            details = (
                server.state.mapping(mapping["id"])["properties"].get("providerSpecificDetails")
                or {}
            )
            now_desired = details.get("agentAutoUpdateStatus") == status and (
                account is None
                or details.get("automationAccountArmId", "").lower() == account.lower()
            )
            if mapping["result"] == "succeeded":
                assert now_desired, mapping["id"]
            if mapping["result"] == "failed":
                assert mapping["operation"]["error"] is not None


async def test_validate_prints_targets_and_sends_nothing(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(seed=3, **QUICK)
    vault = server.state.vault_ids()[0]
    config = write_config(tmp_path / "c.yaml", server, action="enable", vaults=[vault])
    run = await run_cli("validate", str(config), env=cli_env(server), report=False)
    assert run.exit_code == 0, run.stderr
    assert vault in run.stdout
    assert sum(server.state.counters.requests.values()) == 0


async def test_plan_sends_no_patch_and_reports_would_change(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(seed=4, subscriptions=2, vaults_per_subscription=4, **QUICK)
    config = write_config(tmp_path / "c.yaml", server, action="enable", subscriptions="all")
    run = await run_cli("plan", str(config), env=cli_env(server))
    assert run.exit_code == 0, run.stderr
    assert server.state.counters.requests["set"] == 0
    assert run.report is not None and run.report["command"] == "plan"
    assert_totals_add_up(run.report)
    assert run.report["totals"]["would_change"] > 0
    assert run.report["totals"]["changed"] == 0


async def test_apply_enable_changes_what_needs_it_and_state_matches(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(seed=5, subscriptions=2, vaults_per_subscription=5, **QUICK)
    config = write_config(tmp_path / "c.yaml", server, action="enable", subscriptions="all")
    run = await run_cli("apply", str(config), env=cli_env(server))
    assert run.exit_code == 0, run.stderr
    assert run.report is not None and run.report["outcome"] == "succeeded"
    assert_totals_add_up(run.report)
    totals = run.report["totals"]
    assert totals["succeeded"] == totals["changed"] > 0
    assert totals["succeeded"] == server.state.counters.requests["set"]
    assert_state_agrees(server, run, "Enabled", fleet_account(server))
    assert server.state.counters.patches_while_running == 0


async def test_apply_disable_turns_enabled_mappings_off(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(seed=6, subscriptions=1, vaults_per_subscription=6, **QUICK)
    config = write_config(tmp_path / "c.yaml", server, action="disable", subscriptions="all")
    run = await run_cli("apply", str(config), env=cli_env(server))
    assert run.exit_code == 0, run.stderr
    assert run.report is not None
    assert_totals_add_up(run.report)
    assert run.report["totals"]["succeeded"] > 0
    assert_state_agrees(server, run, "Disabled", None)


async def test_location_only_operations_are_tracked_to_the_end(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(seed=7, lro_headers="location", **QUICK)
    config = write_config(tmp_path / "c.yaml", server, action="enable", subscriptions="all")
    run = await run_cli("apply", str(config), env=cli_env(server))
    assert run.exit_code == 0, run.stderr
    assert run.report is not None
    changed = [m for v in run.report["vaults"] for m in v["mappings"] if m["operation"]]
    assert changed and all("operationResults" in m["operation"]["url"] for m in changed)
    assert_state_agrees(server, run, "Enabled", fleet_account(server))


async def test_a_200_patch_is_done_without_polling(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(seed=8, sync_patch_rate=1.0, **QUICK)
    config = write_config(tmp_path / "c.yaml", server, action="enable", subscriptions="all")
    run = await run_cli("apply", str(config), env=cli_env(server))
    assert run.exit_code == 0, run.stderr
    assert run.report is not None and run.report["totals"]["succeeded"] > 0
    assert all(
        m["operation"]["polls"] == 0
        for v in run.report["vaults"]
        for m in v["mappings"]
        if m["operation"]
    )


async def test_a_failing_operation_exits_1(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(seed=9, **{**QUICK, "operation_failure_rate": 1.0})
    config = write_config(tmp_path / "c.yaml", server, action="enable", subscriptions="all")
    run = await run_cli("apply", str(config), env=cli_env(server))
    assert run.exit_code == 1, run.stderr
    assert run.report is not None and run.report["outcome"] == "failed"
    assert run.report["totals"]["failed"] == run.report["totals"]["changed"] > 0
    assert_totals_add_up(run.report)
    assert_state_agrees(server, run, "Enabled", fleet_account(server))


async def test_a_passing_deadline_exits_3_with_operations_timed_out(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(seed=10, faults={"never_finish": 1.0}, **QUICK)
    config = write_config(
        tmp_path / "c.yaml", server, action="enable", subscriptions="all", timeout_minutes=0.03
    )
    run = await run_cli("apply", str(config), env=cli_env(server))
    assert run.exit_code == 3, run.stderr
    assert run.report is not None and run.report["outcome"] == "timed_out"
    assert run.report["totals"]["timed_out"] == run.report["totals"]["changed"] > 0
    timed_out = [
        m for v in run.report["vaults"] for m in v["mappings"] if m["result"] == "timed_out"
    ]
    assert all(m["operation"]["url"] for m in timed_out)
    assert_totals_add_up(run.report)


async def test_an_unauthenticated_run_exits_4_and_changes_nothing(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(seed=11, **QUICK)
    config = write_config(tmp_path / "c.yaml", server, action="enable", subscriptions="all")
    env = cli_env(server, IDENTITY_HEADER="not-the-right-header")
    run = await run_cli("apply", str(config), env=env)
    assert run.exit_code == 4, run.stderr
    assert run.report is not None and run.report["outcome"] == "unauthenticated"
    assert server.state.counters.requests["get"] == 0
    assert server.state.counters.requests["set"] == 0
    assert "managed_identity" in run.stderr


async def test_a_bad_config_exits_2_and_reaches_no_server(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(seed=12, **QUICK)
    config = write_config(
        tmp_path / "c.yaml", server, action="enable", vaults=["/subscriptions/nope"]
    )
    run = await run_cli("apply", str(config), env=cli_env(server))
    assert run.exit_code == 2
    assert "c.yaml" in run.stderr and "vaults[0]" in run.stderr
    assert "Traceback" not in run.stderr
    assert sum(server.state.counters.requests.values()) == 0
    assert run.report is not None and run.report["outcome"] == "invalid"


async def test_every_log_line_of_a_vault_carries_vault_and_subscription(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(seed=13, **QUICK)
    config = write_config(tmp_path / "c.yaml", server, action="enable", subscriptions="all")
    # At debug level, so the per-mapping lines (patch_sent) are there to check too.
    run = await run_cli("apply", str(config), "--log-level", "debug", env=cli_env(server))
    assert run.exit_code == 0, run.stderr
    events = run.log_events()
    names = {e["event"] for e in events}
    assert {
        "run_started",
        "run_finished",
        "vault_listed",
        "patch_sent",
        "operation_finished",
    } <= names
    for event in events:
        if event["event"] in {"vault_listed", "patch_sent", "operation_finished"}:
            assert event["vault"] and event["subscription_id"], event
    token_values = [t for t in server.state.counters.tokens]
    assert token_values  # a token was issued; no line carries a bearer value
    assert "Bearer " not in run.stderr


async def test_a_credential_that_cannot_even_be_built_exits_4_without_a_traceback(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """workload_identity with none of its environment variables: azure-identity refuses to build it."""
    vault = (
        "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg"
        "/providers/Microsoft.RecoveryServices/vaults/v1"
    )
    config = write_config(
        tmp_path / "c.yaml",
        None,
        action="disable",
        credential="workload_identity",
        arm_endpoint="http://127.0.0.1:9",
        vaults=[vault],
    )
    run = await run_cli("apply", str(config), env=cli_env(None))
    assert run.exit_code == 4, run.stderr
    assert "Traceback" not in run.stderr
    assert "workload_identity" in run.stderr
    assert run.report is not None and run.report["outcome"] == "unauthenticated"


async def test_a_report_file_that_cannot_be_written_goes_to_stdout_instead(
    start_emulator: StartEmulator, tmp_path: Path
) -> None:
    """Even as root nothing can be created under /proc/self: the report must not be lost."""
    server = await start_emulator(seed=14, **QUICK)
    config = write_config(tmp_path / "c.yaml", server, action="enable", subscriptions="all")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestrator", "apply", str(config),
        "--report", "/proc/self/report.json", "--log-format", "json",
        env=cli_env(server), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1, err.decode()
    assert "cannot write the report" in err.decode()
    report = json.loads(out)
    assert report["outcome"] == "succeeded"
    assert report["totals"]["succeeded"] > 0
