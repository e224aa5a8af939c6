"""Migration off Run As accounts: `automation_account: keep` with a managed identity."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import RunCli, StartEmulator, cli_env, write_config

from orchestrator.emulator import Condition, EmulatorServer

pytestmark = pytest.mark.integration

FLEET = {
    "seed": 72,
    "subscriptions": 1,
    "vaults_per_subscription": 4,
    "mappings_per_vault": [3, 4],
    # the rest (0.2) are disabled with no Automation account: nothing to keep
    "shares": {
        "not_a2a": 0.0,
        "not_paired": 0.0,
        "compliant": 0.1,
        "unhealthy": 0.1,
        "run_as_account": 0.6,
    },
    "operation_seconds": [0.1, 0.3],
    "retry_after_seconds": 0,
    "operation_failure_rate": 0.0,
}


def account(name: str) -> str:
    return (
        "/subscriptions/12121212-3434-5656-7878-909090909090/resourceGroups/rg-automation/"
        f"providers/Microsoft.Automation/automationAccounts/{name}"
    )


def keyed(server: EmulatorServer, condition: Condition) -> list[str]:
    """Lower-cased ids of the generated mappings that started in ``condition``."""
    return [r.key for r in server.state.fleet.mappings.values() if r.condition is condition]


def patched(server: EmulatorServer) -> set[str]:
    return {e.path.lower() for e in server.state.journal if e.method == "PATCH"}


async def test_keep_moves_each_mapping_to_a_managed_identity_on_its_own_account(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(**FLEET)
    run_as = keyed(server, Condition.RUN_AS_ACCOUNT)
    no_account = keyed(server, Condition.NEEDS_CHANGE)
    assert len(run_as) >= 3 and no_account, "the seed no longer draws both kinds"
    records = server.state.fleet.mappings
    # Each vault's mappings really do differ: give some their own account, and one the
    # missing authentication type of mappings enabled before the field existed.
    originals = {key: account(f"aa-{n}") for n, key in enumerate(run_as)}
    for key, own in originals.items():
        records[key].account = own
    records[run_as[0]].auth_type = None
    config = write_config(
        tmp_path / "c.yaml",
        server,
        action="enable",
        automation_account="keep",
        authentication_type="SystemAssignedIdentity",
        subscriptions="all",
    )
    run = await run_cli("apply", str(config), env=cli_env(server))
    assert run.exit_code == 1, run.stderr  # the mappings with no account to keep failed
    assert run.report is not None and run.report["outcome"] == "failed"
    mappings = {m["id"].lower(): m for v in run.report["vaults"] for m in v["mappings"]}
    for key, own in originals.items():
        assert mappings[key]["result"] == "succeeded", key
        now = server.state.mapping(key)["properties"]["providerSpecificDetails"]
        assert now["agentAutoUpdateStatus"] == "Enabled"
        assert now["automationAccountArmId"] == own
        assert now["automationAccountAuthenticationType"] == "SystemAssignedIdentity"
    for key in no_account:
        assert mappings[key]["result"] == "failed", key
        operation = mappings[key]["operation"]
        assert operation["url"] is None
        assert operation["error"]["code"] == "no_automation_account"
        assert key not in patched(server)  # nothing was sent for it
    for key in keyed(server, Condition.COMPLIANT):
        assert mappings[key] == {**mappings[key], "result": "skipped", "skip_reason": "compliant"}
    for key in keyed(server, Condition.UNHEALTHY):  # re-applied (Repair) on its own account
        assert mappings[key]["result"] == "succeeded", key
    assert server.state.counters.patches_while_running == 0


async def test_plan_with_keep_shows_what_each_mapping_would_keep_and_what_would_fail(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(**FLEET)
    config = write_config(
        tmp_path / "c.yaml", server, action="enable", automation_account="keep", subscriptions="all"
    )
    run = await run_cli("plan", str(config), env=cli_env(server))
    assert run.exit_code == 1, run.stderr  # plan also says which mappings cannot be kept
    assert server.state.counters.requests["set"] == 0
    results = run.results()
    assert {results[key] for key in keyed(server, Condition.RUN_AS_ACCOUNT)} == {"would_change"}
    assert {results[key] for key in keyed(server, Condition.NEEDS_CHANGE)} == {"failed"}
