"""Migration off Run As accounts, in process: `automation_account: keep` with a managed identity.

Each mapping keeps its own Automation account and moves to `SystemAssignedIdentity`; a mapping
with no account to keep fails, unsent; compliant ones are skipped, unhealthy ones repaired.
"""

from __future__ import annotations

from pathlib import Path

from asr_json import read_mapping
from fleet_checks import patched
from flows import by_id, rig
from inprocess import Rig

from orchestrator.emulator import Condition

SHARES = {  # the rest (0.2) are disabled with no Automation account: nothing to keep
    "not_a2a": 0.0,
    "not_paired": 0.0,
    "compliant": 0.1,
    "unhealthy": 0.1,
    "run_as_account": 0.6,
}


def account(name: str) -> str:
    return (
        "/subscriptions/12121212-3434-5656-7878-909090909090/resourceGroups/rg-automation/"
        f"providers/Microsoft.Automation/automationAccounts/{name}"
    )


def keyed(r: Rig, condition: Condition) -> list[str]:
    """Lower-cased ids of the generated mappings that started in ``condition``."""
    return [m.key for m in r.state.fleet.mappings.values() if m.condition is condition]


def _fleet(tmp_path: Path) -> Rig:
    # Every account a mapping keeps exists and is fit: the emulator need not know them all.
    return rig(
        tmp_path,
        seed=72,
        vaults_per_subscription=4,
        mappings_per_vault=[3, 4],
        shares=SHARES,
        check_automation_accounts=False,
    )


def test_keep_moves_each_mapping_to_a_managed_identity_on_its_own_account(tmp_path: Path) -> None:
    r = _fleet(tmp_path)
    run_as, no_account = keyed(r, Condition.RUN_AS_ACCOUNT), keyed(r, Condition.NEEDS_CHANGE)
    assert len(run_as) >= 3 and no_account, "the seed no longer draws both kinds"
    records = r.state.fleet.mappings
    # Each mapping really has its own account; one lacks the authentication type, as mappings
    # enabled before the field existed do.
    originals = {key: account(f"aa-{n}") for n, key in enumerate(run_as)}
    for key, own in originals.items():
        records[key].account = own
    records[run_as[0]].auth_type = None
    config = r.write_config(
        automation_account="keep", authentication_type="SystemAssignedIdentity", subscriptions="all"
    )
    run = r.run(config=config)
    assert run.exit_code == 1  # the mappings with no account to keep failed
    mappings = by_id(run)
    for key, own in originals.items():
        assert mappings[key]["result"] == "succeeded", key
        now = read_mapping(r.state, key)["properties"]["providerSpecificDetails"]
        assert now["agentAutoUpdateStatus"] == "Enabled"
        assert now["automationAccountArmId"] == own
        assert now["automationAccountAuthenticationType"] == "SystemAssignedIdentity"
        assert mappings[key]["desired"]["automation_account_arm_id"] == own
    for key in no_account:
        assert mappings[key]["result"] == "failed", key
        assert mappings[key]["operation"]["url"] is None
        assert mappings[key]["operation"]["error"]["code"] == "no_automation_account"
        assert patched(r.state, key) == []  # nothing was sent for it
    for key in keyed(r, Condition.COMPLIANT):
        assert (mappings[key]["result"], mappings[key]["skip_reason"]) == ("skipped", "compliant")
    for key in keyed(r, Condition.UNHEALTHY):  # re-applied (Repair) on its own account
        assert mappings[key]["result"] == "succeeded", key
    assert r.state.counters.patches_while_running == 0


def test_plan_with_keep_shows_what_each_mapping_would_keep_and_what_would_fail(
    tmp_path: Path,
) -> None:
    r = _fleet(tmp_path)
    run = r.run("plan", config=r.write_config(automation_account="keep", subscriptions="all"))
    assert run.exit_code == 1  # plan also says which mappings cannot be kept
    assert r.state.counters.requests["set"] == 0
    results = run.results()
    assert {results[key] for key in keyed(r, Condition.RUN_AS_ACCOUNT)} == {"would_change"}
    assert {results[key] for key in keyed(r, Condition.NEEDS_CHANGE)} == {"failed"}
