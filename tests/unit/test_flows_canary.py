"""Canary runs in process: --vault, --subscription, --max-changes, --retry, and their refusals.

Each narrowing flag cuts the config's targets down and sends nothing outside them; each bad use
of a flag is refused before anything is sent (exit 2, the report's error saying why).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from flows import ALL_CHANGE, codes, consistent, rig

from orchestrator.cli import main

RETRYABLE = {"failed", "unhealthy", "timed_out", "not_started", "interrupted"}


def _shouting(vault_id: str) -> str:
    """The same vault id in another case (ARM ids are case-insensitive)."""
    return vault_id.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/")


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
    assert run.report is not None and codes(run.report["warnings"]) == ["max_changes_reached"]


def test_max_changes_zero_sends_nothing_and_a_later_run_finishes_the_fleet(tmp_path: Path) -> None:
    r = rig(tmp_path, shares=ALL_CHANGE)
    config = r.write_config(subscriptions="all")
    first = r.run(config=config, max_changes=0)
    assert consistent(first, exit_code=0)["not_started"] == len(first.mappings())
    assert r.state.counters.requests["set"] == 0
    since = r.state.counters.requests.copy()
    second = r.run(config=config)
    assert consistent(second, exit_code=0, since=since)["succeeded"] == len(second.mappings())


def test_vault_narrows_the_run_to_that_vault_given_in_any_case(tmp_path: Path) -> None:
    r = rig(tmp_path, subscriptions=2, vaults_per_subscription=2)
    canary = r.state.vault_ids()[1]
    run = r.run(config=r.write_config(subscriptions="all"), vaults=(_shouting(canary),))
    consistent(run, vaults=[canary], exit_code=0)
    patched = {
        e.path.lower().split("/replicationfabrics/")[0]
        for e in r.state.journal
        if e.method == "PATCH"
    }
    assert patched == {canary.lower()}


@pytest.mark.parametrize("command", ["plan", "audit"])
def test_vault_narrows_plan_and_audit_too_and_they_send_no_patch(
    tmp_path: Path, command: str
) -> None:
    r = rig(tmp_path, subscriptions=2, vaults_per_subscription=2)
    canary = r.state.vault_ids()[2]
    run = r.run(command, config=r.write_config(subscriptions="all"), vaults=(canary,))
    assert run.exit_code in (0, 1) and run.report is not None  # 1: an audit found an expired agent
    assert [v["id"].lower() for v in run.report["vaults"]] == [canary.lower()]
    assert r.state.counters.requests["set"] == 0


def test_subscription_narrows_discovery_to_that_subscription(tmp_path: Path) -> None:
    r = rig(tmp_path, subscriptions=3, vaults_per_subscription=2)
    second = r.state.subscription_ids[1]
    run = r.run(config=r.write_config(subscriptions="all"), subscriptions=(second,))
    wanted = [v for v in r.state.vault_ids() if f"/subscriptions/{second}/" in v]
    consistent(run, vaults=wanted, exit_code=0)
    assert run.report is not None
    assert [s["id"] for s in run.report["subscriptions"]] == [second]


def test_retry_considers_only_what_the_report_left_unfinished(tmp_path: Path) -> None:
    r = rig(tmp_path, vaults_per_subscription=5, mappings_per_vault=[2, 4], shares=ALL_CHANGE,
            operation_failure_rate=0.3, unhealthy_after_success_rate=0.3,
            faults={"never_finish": 0.15})  # fmt: skip
    config = r.write_config(subscriptions="all", timeout_minutes=1)
    first = r.run(config=config, max_changes=12)
    left = {m["id"].lower(): m["result"] for m in first.mappings() if m["result"] in RETRYABLE}
    assert set(left.values()) == RETRYABLE - {"interrupted"}, "the seed draws fewer outcomes"
    shutil.copy(tmp_path / "report.json", tmp_path / "first.json")
    sets = r.state.counters.requests["set"]

    run = r.run(config=config, retry=str(tmp_path / "first.json"))

    assert {m["id"].lower() for m in run.mappings()} == set(left)
    # A timed-out operation still runs: the journal takes it over; the rest are PATCHed again.
    running = sum(result == "timed_out" for result in left.values())
    assert r.state.counters.requests["set"] - sets == len(left) - running
    assert r.state.counters.patches_while_running == 0
    assert run.report is not None
    assert run.report["totals"]["vaults"] == len({key.split("/replication")[0] for key in left})


def _report_of_another_fleet(tmp_path: Path) -> Path:
    """The report of an apply of another config, on another fleet."""
    (tmp_path / "other").mkdir()
    other = rig(tmp_path / "other", seed=99)
    assert other.run(config=other.write_config(subscriptions="all")).exit_code == 0
    return Path(shutil.copy(other.directory / "report.json", tmp_path / "another.json"))


REFUSALS = {
    "vault not targeted": ("vaults", "other-vault", "--vault"),
    "vault not an id": ("vaults", "/subscriptions/x", "--vault"),
    "subscription not targeted": ("subscriptions", "other-subscription", "--subscription"),
    "retry report missing": ("retry", "missing.json", "--retry"),
    "restore report not a report": ("restore", "config.yaml", "--restore"),
    "restore report of vaults not targeted": ("restore", "another", "--restore"),
    "resume report of another config": ("resume", "another", "--resume"),
}


@pytest.mark.parametrize(("flag", "value", "named"), REFUSALS.values(), ids=REFUSALS.keys())
def test_a_flag_the_config_does_not_allow_exits_2_and_sends_nothing(
    tmp_path: Path, flag: str, value: str, named: str
) -> None:
    r = rig(tmp_path, subscriptions=2, vaults_per_subscription=2)
    first, second = r.state.subscription_ids
    config = r.write_config(subscriptions=[first])
    given: object = {
        "other-vault": (r.state.vault_ids()[-1],),
        "/subscriptions/x": ("/subscriptions/x",),
        "other-subscription": (second,),
        "missing.json": str(tmp_path / "missing.json"),
        "config.yaml": str(config),
    }.get(value)
    if value == "another":
        given = str(_report_of_another_fleet(tmp_path))

    # `flag` names a RunArgs field, and `given` is of that field's type (a tuple or a path).
    options: dict[str, Any] = {flag: given}
    run = r.run(config=config, **options)

    assert run.exit_code == 2
    assert sum(r.state.counters.requests.values()) == 0
    assert run.report is not None and run.report["outcome"] == "invalid"
    assert run.report["error"]["code"] == "invalid_config"
    assert named in run.report["error"]["message"]


@pytest.mark.parametrize(
    "argv",
    [
        ["apply", "c.yaml", "--max-changes", "-1"],
        ["apply", "c.yaml", "--max-changes", "many"],
        ["plan", "c.yaml", "--max-changes", "1"],
        ["apply", "c.yaml", "--retry", "a.json", "--restore", "b.json"],
        ["validate", "c.yaml", "--vault", "v"],
    ],
    ids=[
        "negative cap",
        "cap not a number",
        "cap on plan",
        "retry with restore",
        "vault on validate",
    ],
)
def test_a_malformed_flag_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert "error:" in capsys.readouterr().err
