"""Outcomes checked, not assumed, in process: verification, the account preflight, templates.

An enable that succeeded but left the mapping with health errors is `unhealthy` (exit 1), its
health error in `after.health_error_details`; an Automation account that does not exist, or has
no system-assigned identity, fails its mappings before any PATCH is sent for them; templated and
per-subscription accounts reach the PATCH bodies, as the emulator's mappings show.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from asr_json import read_mapping
from fleet_checks import patched
from flows import ALL_CHANGE, by_id, codes, consistent, rig

from orchestrator.emulator import AFTER_SUCCESS_CODE, NO_RIGHTS_CODE

TEMPLATE = (
    "/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/"
    "Microsoft.Automation/automationAccounts/aa-{vault}"
)


def _account(subscription: str, name: str) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/rg-automation/providers/"
        f"Microsoft.Automation/automationAccounts/{name}"
    )


def test_a_mapping_unhealthy_after_success_is_unhealthy_with_asr_s_health_error(
    tmp_path: Path,
) -> None:
    r = rig(tmp_path, unhealthy_after_success_rate=1.0, shares=ALL_CHANGE)
    run = r.run(config=r.write_config(subscriptions="all"))
    results = consistent(run, exit_code=1)
    assert results == Counter(unhealthy=len(run.mappings()))
    assert run.report is not None and run.report["outcome"] == "failed"
    assert run.report["totals"]["unhealthy"] == len(run.mappings())
    for mapping in run.mappings():
        (detail,) = mapping["after"]["health_error_details"]
        assert detail["code"] == AFTER_SUCCESS_CODE
        assert detail["message"] and detail["possible_causes"] and detail["recommended_action"]
        assert mapping["after"]["health_errors"] == 1
        assert mapping["after"]["agent_auto_update_status"] == "Enabled"


def test_an_account_whose_identity_has_no_rights_leaves_its_mappings_unhealthy(
    tmp_path: Path,
) -> None:
    r = rig(
        tmp_path,
        shares=ALL_CHANGE,
        automation_accounts=[{"id": "fleet", "rights_on_vaults": False}],
    )
    run = r.run(config=r.write_config(subscriptions="all"))
    assert consistent(run, exit_code=1)["unhealthy"] == len(run.mappings())
    assert {d["code"] for m in run.mappings() for d in m["after"]["health_error_details"]} == {
        NO_RIGHTS_CODE
    }


def test_preflight_fails_the_mappings_of_a_missing_or_identityless_account_unsent(
    tmp_path: Path,
) -> None:
    probe = rig(tmp_path, vaults_per_subscription=3)
    sub = probe.state.subscription_ids[0]
    missing, identityless = _account(sub, "aa-gone"), _account(sub, "aa-no-identity")
    r = rig(
        tmp_path,
        vaults_per_subscription=3,
        shares=ALL_CHANGE,
        automation_accounts=[{"id": identityless, "identity": None}],
    )
    first, second, third = r.state.vault_ids()
    config = r.write_config(
        vaults=[{"id": first, "automation_account": missing}, {"id": second, "automation_account": identityless}, third]
    )  # fmt: skip
    run = r.run(config=config)
    consistent(run, exit_code=1)
    expected = {
        first.lower(): "automation_account_not_found",
        second.lower(): "automation_account_identity_missing",
    }
    for vault in run.report["vaults"] if run.report else []:
        code = expected.get(vault["id"].lower())
        for mapping in vault["mappings"]:
            if code is None:
                assert mapping["result"] == "succeeded"
                continue
            assert mapping["result"] == "failed"
            assert mapping["operation"]["error"]["code"] == code
            assert mapping["operation"]["url"] is None
            assert patched(r.state, mapping["id"]) == []  # 0 PATCHes for it
    reads = [e for e in r.state.journal if "automationaccounts" in e.path.lower()]
    assert len(reads) == 3  # each distinct account read once


def test_plan_shows_the_mappings_preflight_would_refuse_as_failed(tmp_path: Path) -> None:
    probe = rig(tmp_path)
    gone = _account(probe.state.subscription_ids[0], "aa-gone")
    r = rig(tmp_path, shares=ALL_CHANGE)
    run = r.run("plan", config=r.write_config(subscriptions="all", automation_account=gone))
    assert run.exit_code == 1
    assert {m["operation"]["error"]["code"] for m in run.mappings()} == {
        "automation_account_not_found"
    }
    assert r.state.counters.requests["set"] == 0


def test_an_unreadable_account_is_not_checked_and_a_warning_names_the_role(tmp_path: Path) -> None:
    r = rig(tmp_path, shares=ALL_CHANGE, automation_accounts=[{"id": "fleet", "readable": False}])
    run = r.run(config=r.write_config(subscriptions="all"))
    assert consistent(run, exit_code=0)["succeeded"] == len(run.mappings())
    assert run.report is not None
    (warning,) = [w for w in run.report["warnings"] if w["code"] == "automation_account_unreadable"]
    assert "Reader" in warning["message"] and r.account in warning["message"]


def test_templates_and_per_subscription_accounts_reach_the_patch_bodies(tmp_path: Path) -> None:
    probe = rig(tmp_path, subscriptions=2, vaults_per_subscription=2)
    per_sub = _account(probe.state.subscription_ids[1], "aa-second")
    r = rig(
        tmp_path,
        subscriptions=2,
        vaults_per_subscription=2,
        shares=ALL_CHANGE,
        automation_accounts=[{"id": TEMPLATE}, {"id": per_sub}],
    )
    first, second = r.state.subscription_ids
    config = r.write_config(
        automation_account=TEMPLATE,
        subscriptions=[{"id": first}, {"id": second, "automation_account": per_sub}],
    )
    run = r.run(config=config)

    def wanted(vault_id: str) -> str:
        vault = r.state.vault(vault_id)
        assert vault is not None
        if vault.subscription_id == second:
            return per_sub
        return TEMPLATE.format(
            subscription_id=vault.subscription_id,
            resource_group=vault.resource_group,
            vault=vault.name,
        )

    assert consistent(run, account=wanted, exit_code=0)["succeeded"] == len(run.mappings())
    for vault in r.state.fleet.vaults.values():
        for record in vault.mappings:
            now = read_mapping(r.state, record.key)["properties"]["providerSpecificDetails"]
            account_id = now["automationAccountArmId"]
            assert account_id is not None, record.key
            assert account_id.lower() == wanted(vault.id).lower(), record.key
            assert by_id(run)[record.key]["desired"]["automation_account_arm_id"] == wanted(
                vault.id
            )
    assert run.report is not None and not codes(run.report["warnings"])


def test_the_first_vault_s_account_is_read_as_the_listings_start_not_after_them(
    tmp_path: Path,
) -> None:
    r = rig(tmp_path, shares=ALL_CHANGE)
    run = r.run(config=r.write_config(subscriptions="all"))
    assert consistent(run, exit_code=0)["succeeded"] == len(run.mappings())
    paths = [url.split("?")[0].lower() for _, url in run.transport.sent if "/msi/" not in url]
    reads = [i for i, path in enumerate(paths) if path.endswith(r.account.lower())]
    listings = [
        i for i, p in enumerate(paths) if p.endswith("replicationprotectioncontainermappings")
    ]
    assert len(reads) == 1  # read once: ahead, not again when a change uses it
    assert reads[0] < listings[0]  # sent before any vault's listing


def test_an_account_read_ahead_that_no_change_uses_says_nothing(tmp_path: Path) -> None:
    compliant = {**ALL_CHANGE, "compliant": 1.0}
    r = rig(tmp_path, shares=compliant, automation_accounts=[{"id": "fleet", "readable": False}])
    run = r.run(config=r.write_config(subscriptions="all"))
    assert consistent(run, exit_code=0)["skipped"] == len(run.mappings())
    reads = [e for e in r.state.journal if e.path.lower().endswith(r.account.lower())]
    assert len(reads) == 1 and reads[0].status == 403  # read ahead, unreadable, unused
    assert run.report is not None and not codes(run.report["warnings"])
    assert not [e for e in run.events if str(e.get("event", "")).startswith("automation_account")]
