"""Discovery and clouds, in process: filters, `all`, a subscription answering 403, merging
explicit vaults with discovered ones, and the token audience each cloud asks for.

The emulator records what each token was asked for (`resource`) and refuses a token for an
audience it does not accept (`token_audiences`), as ARM does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from asr_json import read_mapping
from flows import consistent, rig
from inprocess import InProcessRun, Rig

OTHER_ACCOUNT = (
    "/subscriptions/99999999-9999-9999-9999-999999999999/resourceGroups/rg-west/providers/"
    "Microsoft.Automation/automationAccounts/aa-west"
)


def vaults_of(r: Rig, number: int) -> list[str]:
    """The vault ids of the ``number``-th subscription (1-based, as in `vault-s1-…`)."""
    sub = r.state.subscription_ids[number - 1]
    return [v for v in r.state.vault_ids() if f"/subscriptions/{sub}/" in v]


def reported_vaults(run: InProcessRun) -> list[str]:
    assert run.report is not None
    return [vault["id"].lower() for vault in run.report["vaults"]]


def listed_vaults(r: Rig) -> set[str]:
    """The vaults whose mappings the run asked the emulator for."""
    suffix = "/replicationprotectioncontainermappings"
    return {
        entry.path.lower().removesuffix(suffix)
        for entry in r.state.journal
        if entry.path.lower().endswith(suffix)
    }


def subscriptions_of(run: InProcessRun) -> dict[str, dict[str, Any]]:
    assert run.report is not None and run.report.get("subscriptions") is not None
    return {entry["id"].lower(): entry for entry in run.report["subscriptions"]}


def shouting(vault_id: str) -> str:
    return vault_id.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/")


def test_resource_groups_and_exclusions_by_name_and_id_pick_the_vaults_in_any_case(
    tmp_path: Path,
) -> None:
    r = rig(
        tmp_path, subscriptions=2, vaults_per_subscription=6, resource_groups_per_subscription=2
    )
    first, second = r.state.subscription_ids
    # subscription 1: vaults 1, 3, 5 are in rg-dr-1; 3 is excluded by name, 5 by id
    in_group = vaults_of(r, 1)[0::2]
    config = r.write_config(
        subscriptions=[
            {
                "id": first.upper(),
                "resource_groups": ["RG-DR-1"],
                "exclude": ["VAULT-S1-003", shouting(in_group[2])],
            },
            {"id": second},
        ]
    )
    run = r.run("plan", config=config)
    assert run.exit_code == 0
    expected = [in_group[0].lower(), *(v.lower() for v in vaults_of(r, 2))]
    assert reported_vaults(run) == expected
    assert listed_vaults(r) == set(expected)  # nothing else was even read
    found = subscriptions_of(run)
    assert found.keys() == {first.lower(), second.lower()}
    assert all(s["status"] == "ok" and s["error"] is None for s in found.values())
    assert found[second.lower()]["vaults_found"] == 6
    assert run.report is not None and run.report["warnings"] == []


def test_subscriptions_all_discovers_every_subscription_the_identity_sees(tmp_path: Path) -> None:
    r = rig(tmp_path, subscriptions=3, vaults_per_subscription=2)
    run = r.run("plan", config=r.write_config(subscriptions="ALL"))
    assert run.exit_code == 0
    assert reported_vaults(run) == [v.lower() for v in r.state.vault_ids()]
    found = subscriptions_of(run)
    assert found.keys() == {s.lower() for s in r.state.subscription_ids}
    assert [s["vaults_found"] for s in found.values()] == [2, 2, 2]
    assert run.report is not None and run.report["totals"]["would_change"] > 0


def test_a_subscription_answering_403_is_reported_and_the_others_still_change(
    tmp_path: Path,
) -> None:
    r = rig(tmp_path, subscriptions=3, vaults_per_subscription=2, forbidden_subscriptions=[2])
    run = r.run(config=r.write_config(subscriptions="all"))
    consistent(run, vaults=vaults_of(r, 1) + vaults_of(r, 3), exit_code=1)
    forbidden = r.state.subscription_ids[1].lower()
    found = subscriptions_of(run)
    assert found[forbidden]["status"] == "error"
    assert found[forbidden]["error"]["code"] == "AuthorizationFailed"
    assert "vaults/read" in found[forbidden]["error"]["message"]
    assert found[forbidden]["vaults_found"] == 0
    assert [s["status"] for s in found.values() if s["id"].lower() != forbidden] == ["ok", "ok"]
    assert run.report is not None
    totals = run.report["totals"]
    assert totals["succeeded"] == totals["changed"] > 0 and totals["failed"] == 0
    assert totals["vaults_failed"] == 0  # the failure is the subscription's, not a vault's


def test_explicit_and_discovered_vaults_merge_once_and_keep_their_overrides(
    tmp_path: Path,
) -> None:
    r = rig(
        tmp_path,
        vaults_per_subscription=4,
        mappings_per_vault=[2, 3],
        shares={"not_a2a": 0.0, "not_paired": 0.0, "compliant": 0.5, "unhealthy": 0.0},
        check_automation_accounts=False,  # OTHER_ACCOUNT exists nowhere in the fleet
    )
    disabled, elsewhere, *_ = r.state.vault_ids()
    config = r.write_config(
        vaults=[
            {"id": shouting(disabled), "action": "disable"},
            {"id": elsewhere, "automation_account": OTHER_ACCOUNT},
        ],
        subscriptions=[r.state.subscription_ids[0]],
        preflight=False,
    )
    run = r.run(config=config)
    assert run.exit_code == 0
    assert sorted(reported_vaults(run)) == sorted(v.lower() for v in r.state.vault_ids())
    assert run.report is not None
    for vault in run.report["vaults"]:
        for mapping in vault["mappings"]:
            now = read_mapping(r.state, mapping["id"])["properties"]["providerSpecificDetails"]
            if vault["id"].lower() == disabled.lower():
                assert now["agentAutoUpdateStatus"] == "Disabled", mapping["id"]
                continue
            assert now["agentAutoUpdateStatus"] == "Enabled", mapping["id"]
            account = OTHER_ACCOUNT if vault["id"].lower() == elsewhere.lower() else r.account
            account_id = now["automationAccountArmId"]
            assert account_id is not None, mapping["id"]
            assert account_id.lower() == account.lower(), mapping["id"]


CLOUDS = [
    ("AzureCloud", "https://management.core.windows.net/"),
    ("AzureUSGovernment", "https://management.core.usgovcloudapi.net/"),
    ("AzureChinaCloud", "https://management.core.chinacloudapi.cn/"),
]


@pytest.mark.parametrize(("cloud", "audience"), CLOUDS, ids=[c for c, _ in CLOUDS])
def test_each_cloud_asks_for_a_token_for_its_own_audience(
    tmp_path: Path, cloud: str, audience: str
) -> None:
    r = rig(tmp_path, token_audiences=[audience])
    run = r.run("plan", config=r.write_config(subscriptions="all", cloud=cloud))
    assert run.exit_code == 0
    assert {token.resource for token in r.state.counters.tokens} == {audience}
    assert r.state.counters.requests["get"] > 0  # and arm_endpoint was honoured


def test_token_audience_overrides_the_clouds(tmp_path: Path) -> None:
    audience = "https://management.usgovcloudapi.net/"
    r = rig(tmp_path, token_audiences=[audience])
    config = r.write_config(subscriptions="all", cloud="AzureUSGovernment", token_audience=audience)
    assert r.run("plan", config=config).exit_code == 0
    assert {token.resource for token in r.state.counters.tokens} == {audience}


def test_a_token_for_an_audience_arm_does_not_accept_fails_the_discovery(tmp_path: Path) -> None:
    r = rig(tmp_path)  # the public cloud's audiences only
    run = r.run("plan", config=r.write_config(subscriptions="all", cloud="AzureChinaCloud"))
    assert run.exit_code == 1
    (entry,) = subscriptions_of(run).values()
    assert entry["error"]["code"] == "InvalidAuthenticationTokenAudience"
