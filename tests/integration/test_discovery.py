"""Discovery through the real CLI: filters, `all`, a subscription that answers 403, merging."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_support import CliRun, RunCli, StartEmulator, cli_env, fleet_account, write_config

from orchestrator.emulator import EmulatorServer

pytestmark = pytest.mark.integration

QUICK = {"operation_seconds": [0.1, 0.3], "retry_after_seconds": 0, "operation_failure_rate": 0.0}
OTHER_ACCOUNT = (
    "/subscriptions/99999999-9999-9999-9999-999999999999/resourceGroups/rg-west/providers/"
    "Microsoft.Automation/automationAccounts/aa-west"
)


def vaults_of(server: EmulatorServer, number: int) -> list[str]:
    """The vault ids of the ``number``-th subscription (1-based, as in `vault-s1-…`)."""
    sub = server.state.subscription_ids[number - 1]
    return [v for v in server.state.vault_ids() if f"/subscriptions/{sub}/" in v]


def reported_vaults(run: CliRun) -> list[str]:
    assert run.report is not None
    return [vault["id"].lower() for vault in run.report["vaults"]]


def listed_vaults(server: EmulatorServer) -> set[str]:
    """The vaults whose mappings the run asked the emulator for."""
    suffix = "/replicationprotectioncontainermappings"
    return {
        entry.path.lower().removesuffix(suffix)
        for entry in server.state.journal
        if entry.path.lower().endswith(suffix)
    }


def subscriptions_of(run: CliRun) -> dict[str, dict[str, Any]]:
    assert run.report is not None and run.report.get("subscriptions") is not None
    return {entry["id"].lower(): entry for entry in run.report["subscriptions"]}


def shouting(vault_id: str) -> str:
    """The same vault id in another case (ARM ids are case-insensitive)."""
    return vault_id.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/")


async def test_resource_groups_and_exclusions_by_name_and_id_pick_the_vaults_in_any_case(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(
        seed=41, subscriptions=2, vaults_per_subscription=6, resource_groups_per_subscription=2
    )
    first, second = server.state.subscription_ids
    # subscription 1: vaults 1, 3, 5 are in rg-dr-1; 3 is excluded by name, 5 by id
    in_group = vaults_of(server, 1)[0::2]
    config = write_config(
        tmp_path / "c.yaml",
        server,
        action="enable",
        subscriptions=[
            {
                "id": first.upper(),
                "resource_groups": ["RG-DR-1"],
                "exclude": ["VAULT-S1-003", shouting(in_group[2])],
            },
            {"id": second},
        ],
    )
    run = await run_cli("plan", str(config), env=cli_env(server))
    assert run.exit_code == 0, run.stderr
    expected = [in_group[0].lower(), *(v.lower() for v in vaults_of(server, 2))]
    assert reported_vaults(run) == expected
    assert listed_vaults(server) == set(expected)  # nothing else was even read
    found = subscriptions_of(run)
    assert found.keys() == {first.lower(), second.lower()}
    assert all(s["status"] == "ok" and s["error"] is None for s in found.values())
    assert found[second.lower()]["vaults_found"] == 6


async def test_subscriptions_all_discovers_every_subscription_the_identity_sees(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(seed=42, subscriptions=3, vaults_per_subscription=2)
    config = write_config(tmp_path / "c.yaml", server, action="enable", subscriptions="ALL")
    run = await run_cli("plan", str(config), env=cli_env(server))
    assert run.exit_code == 0, run.stderr
    assert reported_vaults(run) == [v.lower() for v in server.state.vault_ids()]
    found = subscriptions_of(run)
    assert found.keys() == {s.lower() for s in server.state.subscription_ids}
    assert [s["vaults_found"] for s in found.values()] == [2, 2, 2]
    assert run.report is not None and run.report["totals"]["would_change"] > 0


async def test_a_subscription_answering_403_is_reported_and_the_others_still_change(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(
        seed=43, subscriptions=3, vaults_per_subscription=2, forbidden_subscriptions=[2], **QUICK
    )
    config = write_config(tmp_path / "c.yaml", server, action="enable", subscriptions="all")
    run = await run_cli("apply", str(config), env=cli_env(server))
    assert run.exit_code == 1, run.stderr
    assert run.report is not None and run.report["outcome"] == "failed"
    forbidden = server.state.subscription_ids[1].lower()
    found = subscriptions_of(run)
    assert found[forbidden]["status"] == "error"
    assert found[forbidden]["error"]["code"] == "AuthorizationFailed"
    assert "vaults/read" in found[forbidden]["error"]["message"]
    assert found[forbidden]["vaults_found"] == 0
    others = [s for s in found.values() if s["id"].lower() != forbidden]
    assert [s["status"] for s in others] == ["ok", "ok"]
    assert reported_vaults(run) == [v.lower() for v in vaults_of(server, 1) + vaults_of(server, 3)]
    totals = run.report["totals"]
    assert totals["succeeded"] == totals["changed"] > 0 and totals["failed"] == 0
    assert totals["vaults_failed"] == 0  # the failure is the subscription's, not a vault's


async def test_explicit_and_discovered_vaults_merge_once_and_keep_their_overrides(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(
        seed=44,
        subscriptions=1,
        vaults_per_subscription=4,
        mappings_per_vault=[2, 3],
        shares={"not_a2a": 0.0, "not_paired": 0.0, "compliant": 0.5, "unhealthy": 0.0},
        **QUICK,
    )
    disabled, elsewhere, *rest = server.state.vault_ids()
    config = write_config(
        tmp_path / "c.yaml",
        server,
        action="enable",
        vaults=[
            {"id": shouting(disabled), "action": "disable"},
            {"id": elsewhere, "automation_account": OTHER_ACCOUNT},
        ],
        subscriptions=[server.state.subscription_ids[0]],
    )
    run = await run_cli("apply", str(config), env=cli_env(server))
    assert run.exit_code == 0, run.stderr
    assert sorted(reported_vaults(run)) == sorted(v.lower() for v in server.state.vault_ids())
    assert run.report is not None
    expected_account = {elsewhere.lower(): OTHER_ACCOUNT}
    for vault in run.report["vaults"]:
        for mapping in vault["mappings"]:
            now = server.state.mapping(mapping["id"])["properties"]["providerSpecificDetails"]
            if vault["id"].lower() == disabled.lower():
                assert now["agentAutoUpdateStatus"] == "Disabled", mapping["id"]
                continue
            assert now["agentAutoUpdateStatus"] == "Enabled", mapping["id"]
            account = expected_account.get(vault["id"].lower(), fleet_account(server))
            assert now["automationAccountArmId"].lower() == account.lower(), mapping["id"]
    assert {v.lower() for v in rest} <= set(reported_vaults(run))
