"""`audit`, the whole run in process: every replicated item's Mobility agent judged, GET only."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from inprocess import Rig

AGENTS = {
    "per_vault": [4, 8],
    "non_a2a": 0.1,
    "update_required": 0.2,
    "expiring": 0.2,
    "expired": 0.1,
    "unknown": 0.1,
}


def rig(tmp_path: Path, **spec: Any) -> Rig:
    return Rig(
        tmp_path,
        {
            "seed": 21,
            "subscriptions": 2,
            "vaults_per_subscription": 4,
            "protected_items": AGENTS,
            **spec,
        },
    )


def test_an_audit_judges_every_a2a_agent_and_counts_each_state(tmp_path: Path) -> None:
    r = rig(tmp_path)
    run = r.run("audit", r.write_config(subscriptions="all"))
    assert run.report is not None
    items = [item for v in run.report["vaults"] for item in v["protected_items"]]
    expected = Counter(
        str(record.agent)
        for vault_id in r.state.vault_ids()
        for record in r.state.protected_items(vault_id)
        if record.a2a
    )
    assert Counter(item["agent_state"] for item in items) == expected
    assert set(expected) == {"current", "update_required", "expiring", "expired", "unknown"}
    assert run.report["totals"]["agents"] == {state: expected[state] for state in expected}
    assert r.state.counters.requests["set"] == 0
    assert run.exit_code == 1  # an expired agent


def test_an_audit_without_an_expired_agent_exits_as_plan_does(tmp_path: Path) -> None:
    r = rig(tmp_path, protected_items={**AGENTS, "expired": 0.0})
    run = r.run("audit", r.write_config(subscriptions="all"))
    assert run.report is not None and run.report["totals"]["agents"]["expired"] == 0
    assert run.exit_code == 0
    assert run.report["totals"]["would_change"] > 0  # the mapping part is plan's


def test_an_agent_expiring_beyond_the_warning_window_is_current(tmp_path: Path) -> None:
    r = rig(tmp_path)
    near = r.run("audit", r.write_config(subscriptions="all"))
    none_warned = r.run(
        "audit", r.write_config(subscriptions="all", audit={"expiry_warning_days": 0})
    )
    assert near.report is not None and none_warned.report is not None
    assert none_warned.report["totals"]["agents"]["expiring"] == 0
    moved = near.report["totals"]["agents"]["expiring"]
    assert (
        none_warned.report["totals"]["agents"]["current"]
        == near.report["totals"]["agents"]["current"] + moved
    )


def test_an_audit_reads_the_items_container_by_container_when_the_vault_list_is_refused(
    tmp_path: Path,
) -> None:
    r = rig(tmp_path, vault_list_forbidden_share=1.0)
    run = r.run("audit", r.write_config(subscriptions="all"))
    assert run.report is not None
    assert {v["listed_via"] for v in run.report["vaults"]} == {"containers"}
    items = sum(len(v["protected_items"]) for v in run.report["vaults"])
    assert items == sum(
        record.a2a
        for vault_id in r.state.vault_ids()
        for record in r.state.protected_items(vault_id)
    )
