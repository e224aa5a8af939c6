"""Canary runs in process: --vault, --subscription, --max-changes, --retry, and their refusals."""

from __future__ import annotations

from pathlib import Path

from flows import ALL_CHANGE, codes, consistent, rig


def test_max_changes_sends_at_most_n_patches_even_while_accounts_are_read_first(
    tmp_path: Path,
) -> None:
    """The cap is counted before another patch worker can look (the preflight read awaits)."""
    r = rig(tmp_path, vaults_per_subscription=4, mappings_per_vault=[2, 3], shares=ALL_CHANGE)
    run = r.run(config=r.write_config(subscriptions="all"), max_changes=2)
    results = consistent(run, exit_code=0)
    assert r.state.counters.requests["set"] == 2
    assert results["succeeded"] == 2 and results["not_started"] >= 6
    capped = [m for m in run.mappings() if m["result"] == "not_started"]
    assert {m["operation"]["error"]["code"] for m in capped} == {"max_changes_reached"}
    assert codes(run.report["warnings"]) == ["max_changes_reached"]
