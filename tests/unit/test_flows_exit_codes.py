"""Exit codes in process, in DESIGN's order 2, 5, 4, 130, 1, 3: what outranks what, and why.

A failure outranks a timeout (a check alerting on 1 never misses a failure); an interrupt
outranks both; a run that could not authenticate changed nothing (4); the lock (5) is refused
before authentication; a config error (2) before the lock. A run whose targets resolve to no
vault fails (`no_targets`), and a filter that matches nothing says so.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

from flows import ALL_CHANGE, codes, consistent, rig

from orchestrator.app.lock import RunLock
from orchestrator.emulator import EmulatorState


def _signal_after(
    seconds: float, signum: signal.Signals = signal.SIGINT
) -> Callable[[EmulatorState], None]:
    """A `before` hook: the run gets ``signum`` after ``seconds`` of its (virtual) time."""

    def schedule(_: EmulatorState) -> None:
        asyncio.get_running_loop().call_later(seconds, os.kill, os.getpid(), signum)

    return schedule


def test_failures_with_operations_still_running_at_the_deadline_exit_1(tmp_path: Path) -> None:
    r = rig(
        tmp_path,
        vaults_per_subscription=4,
        operation_failure_rate=0.5,
        faults={"never_finish": 0.4},
    )
    run = r.run(config=r.write_config(subscriptions="all", timeout_minutes=1))
    results = consistent(run, exit_code=1)
    assert results["failed"] and results["timed_out"]
    assert run.report is not None and run.report["outcome"] == "failed"


def test_operations_still_running_at_the_deadline_alone_exit_3(tmp_path: Path) -> None:
    r = rig(tmp_path, faults={"never_finish": 0.5})
    run = r.run(config=r.write_config(subscriptions="all", timeout_minutes=1))
    assert consistent(run, exit_code=3)["timed_out"]
    assert run.report is not None and run.report["error"]["code"] == "deadline_passed"


def test_an_interrupt_outranks_failures_and_queued_changes_end_not_started(tmp_path: Path) -> None:
    r = rig(tmp_path, shares=ALL_CHANGE, mappings_per_vault=[3, 4], operation_seconds=[2, 12],
            operation_failure_rate=0.5)  # fmt: skip
    config = r.write_config(subscriptions="all", limits={"set": {"calls": 3, "per_seconds": 4}})
    run = r.run(config=config, before=_signal_after(9, signal.SIGTERM))
    results = consistent(run, exit_code=130)
    assert results["failed"] and results["interrupted"] and results["not_started"]
    assert run.report is not None and run.report["error"]["code"] == "interrupted"
    assert "SIGTERM" in run.report["error"]["message"]
    for mapping in run.mappings():
        if mapping["result"] == "interrupted":
            assert mapping["operation"]["url"], "a sent change keeps its operation's URL"
        if mapping["result"] == "not_started":
            assert mapping["operation"] is None, "a queued change was never sent"


def test_a_run_that_cannot_authenticate_exits_4_and_its_report_says_why(tmp_path: Path) -> None:
    r = rig(tmp_path, faults={"token_failures": 10})
    run = r.run(config=r.write_config(subscriptions="all"))
    assert run.exit_code == 4
    assert run.report is not None and run.report["outcome"] == "unauthenticated"
    assert run.report["error"]["code"] == "authentication_failed"
    assert "managed_identity" in run.report["error"]["message"]
    assert r.state.counters.requests["get"] == r.state.counters.requests["set"] == 0


def test_a_held_lock_exits_5_before_authenticating_and_a_config_error_2_before_the_lock(
    tmp_path: Path,
) -> None:
    r = rig(tmp_path, faults={"token_failures": 10})
    lock = str(tmp_path / "run.lock")
    with RunLock(lock):
        held = r.run(config=r.write_config(subscriptions="all", lock_file=lock))
        invalid = r.run(config=r.write_config(vaults=["/subscriptions/nope"], lock_file=lock))
    assert held.exit_code == 5 and held.report is None
    assert invalid.exit_code == 2 and invalid.report is not None
    assert sum(r.state.counters.requests.values()) == 0


def test_a_typo_in_resource_groups_warns_and_no_vault_at_all_fails_with_no_targets(
    tmp_path: Path,
) -> None:
    r = rig(tmp_path)
    sub = r.state.subscription_ids[0]
    config = r.write_config(subscriptions=[{"id": sub, "resource_groups": ["rg-dr-01"]}])
    run = r.run(config=config)
    assert run.exit_code == 1
    assert run.report is not None and run.report["outcome"] == "failed"
    assert run.report["error"]["code"] == "no_targets"
    assert codes(run.report["warnings"]) == ["filter_matched_nothing"]
    assert "rg-dr-01" in run.report["warnings"][0]["message"]
    assert r.state.counters.requests["set"] == 0


def test_an_exclusion_that_matches_nothing_warns_and_the_run_goes_on(tmp_path: Path) -> None:
    r = rig(tmp_path)
    sub = r.state.subscription_ids[0]
    run = r.run(config=r.write_config(subscriptions=[{"id": sub, "exclude": ["vault-s1-009"]}]))
    assert consistent(run, exit_code=0)
    assert run.report is not None and codes(run.report["warnings"]) == ["filter_matched_nothing"]
