"""The fault matrix through the real CLI: each fault alone, then all of them at once on a fleet.

Every scenario is one `apply` against its own emulator; they run side by side (`scenarios`).
After every run `assert_run_consistent` proves nothing was lost and the report tells the truth;
each test also proves its fault was really injected (the emulator's fault counter).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest
from run_checks import assert_run_consistent
from scenarios import Outcomes, Scenario, run_scenarios

from orchestrator.emulator import EmulatorServer

pytestmark = pytest.mark.integration

SMALL_FLEET: dict[str, Any] = {
    "subscriptions": 1,
    "vaults_per_subscription": 4,
    "mappings_per_vault": [2, 4],
    "shares": {"not_a2a": 0.1, "not_paired": 0.1, "compliant": 0.2, "unhealthy": 0.1},
    "page_size": 2,
}
REALISTIC_FAULTS = {
    "http_500": 0.02,
    "http_503": 0.02,
    "drop": 0.02,
    "throttle": 0.02,
    "slow": 0.02,
    "slow_seconds": 0.5,
    "never_finish": 0.02,
    "status_404_seconds": 0.5,
}
TIGHT_LIMITS = {"set": {"calls": 40, "per_seconds": 3}, "get": {"calls": 300, "per_seconds": 3}}
DEADLINE_MINUTES = 0.05  # 3 s
DROP_WINDOW_LIMITS = {
    "set": {"calls": 200, "per_seconds": 60},
    "get": {"calls": 8, "per_seconds": 4},
}


def _small(seed: int, **spec: Any) -> dict[str, Any]:
    return {**SMALL_FLEET, "seed": seed, **spec}


SCENARIOS = {
    "http_500": Scenario(_small(31, faults={"http_500": 0.1})),
    "http_503": Scenario(_small(32, retry_after_seconds=1, faults={"http_503": 0.15})),
    "drop": Scenario(_small(33, faults={"drop": 0.15})),
    "throttle": Scenario(_small(34, faults={"throttle": 0.1})),
    "status_404": Scenario(_small(35, faults={"status_404_seconds": 1.0})),
    "slow": Scenario(_small(36, faults={"slow": 0.3, "slow_seconds": 0.5})),
    "failing_operations": Scenario(_small(37, operation_failure_rate=0.5)),
    "never_finish": Scenario(
        _small(38, faults={"never_finish": 0.5}), {"timeout_minutes": DEADLINE_MINUTES}
    ),
    "drop_window": Scenario(
        _small(40, vaults_per_subscription=3, limits=DROP_WINDOW_LIMITS, faults={"drop": 0.5}),
        {"timeout_minutes": 0.1, "limits": DROP_WINDOW_LIMITS},
    ),
    "everything": Scenario(
        {
            "seed": 39,
            "subscriptions": 2,
            "vaults_per_subscription": 10,
            "mappings_per_vault": [4, 8],
            "page_size": 3,
            # Short enough that every operation but the endless ones ends well before the deadline.
            "operation_seconds": [0.2, 1.5],
            "operation_failure_rate": 0.05,
            "limits": TIGHT_LIMITS,
            "faults": REALISTIC_FAULTS,
        },
        {"timeout_minutes": 0.15, "limits": TIGHT_LIMITS},
    ),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Outcomes:
    return run_scenarios(tmp_path_factory.mktemp("faults"), SCENARIOS)


def _all_changes_succeeded(results: Counter[str]) -> None:
    assert results["succeeded"] > 0
    assert results["failed"] == results["timed_out"] == results["not_started"] == 0


def test_http_500_answers_are_retried_and_every_change_lands(outcomes: Outcomes) -> None:
    server, run = outcomes["http_500"].server, outcomes["http_500"].run
    _all_changes_succeeded(assert_run_consistent(server, run, exit_code=0))
    assert server.state.counters.faults["http_500"] > 0
    assert run.report is not None and run.report["calls"]["retried"] > 0


def test_503_with_retry_after_is_waited_out_and_every_change_lands(outcomes: Outcomes) -> None:
    server, run = outcomes["http_503"].server, outcomes["http_503"].run
    _all_changes_succeeded(assert_run_consistent(server, run, exit_code=0))
    assert server.state.counters.faults["http_503"] > 0


def test_dropped_connections_are_retried_and_every_change_lands(outcomes: Outcomes) -> None:
    server, run = outcomes["drop"].server, outcomes["drop"].run
    _all_changes_succeeded(assert_run_consistent(server, run, exit_code=0))
    assert server.state.counters.faults["drop"] > 0


def test_spurious_429s_pause_the_scope_and_every_change_lands(outcomes: Outcomes) -> None:
    server, run = outcomes["throttle"].server, outcomes["throttle"].run
    _all_changes_succeeded(assert_run_consistent(server, run, exit_code=0))
    assert server.state.counters.faults["throttle"] > 0
    assert run.report is not None
    assert run.report["calls"]["throttled"] == server.state.counters.faults["throttle"]


def test_status_urls_that_404_for_a_while_are_read_again_until_the_end(outcomes: Outcomes) -> None:
    server, run = outcomes["status_404"].server, outcomes["status_404"].run
    _all_changes_succeeded(assert_run_consistent(server, run, exit_code=0))
    assert server.state.counters.faults["status_404"] > 0


def test_slow_answers_are_waited_for_and_every_change_lands(outcomes: Outcomes) -> None:
    server, run = outcomes["slow"].server, outcomes["slow"].run
    _all_changes_succeeded(assert_run_consistent(server, run, exit_code=0))
    assert server.state.counters.faults["slow"] > 0


def test_failing_operations_fail_their_own_mappings_and_exit_1(outcomes: Outcomes) -> None:
    server, run = outcomes["failing_operations"].server, outcomes["failing_operations"].run
    results = assert_run_consistent(server, run, exit_code=1)
    assert results["failed"] > 0 and results["succeeded"] > 0
    assert run.report is not None
    failed = [m for v in run.report["vaults"] for m in v["mappings"] if m["result"] == "failed"]
    codes = {m["operation"]["error"]["code"] for m in failed}
    assert codes == {"ProtectionContainerMappingUpdateFailed"}


def test_operations_that_never_finish_end_timed_out_at_the_deadline(outcomes: Outcomes) -> None:
    server, run = outcomes["never_finish"].server, outcomes["never_finish"].run
    results = assert_run_consistent(server, run, exit_code=3)
    assert results["timed_out"] == server.state.counters.faults["never_finish"] > 0
    assert results["succeeded"] > 0
    assert run.report is not None
    assert DEADLINE_MINUTES * 60 <= run.report["duration_s"] < DEADLINE_MINUTES * 60 + 3


def test_all_faults_together_on_over_100_mappings_lose_nothing(outcomes: Outcomes) -> None:
    server, run = outcomes["everything"].server, outcomes["everything"].run
    results = assert_run_consistent(server, run, exit_code=3)
    assert sum(results.values()) >= 100
    faults = server.state.counters.faults
    injected = ("http_500", "http_503", "drop", "throttle", "slow")
    assert all(faults[kind] > 0 for kind in injected), faults
    assert server.state.counters.peak_window["set"] == TIGHT_LIMITS["set"]["calls"]  # limit used
    assert faults["never_finish"] > 0
    # Each operation that never finishes is timed_out; others may be too, if a failed status
    # read put their next read past the deadline.
    assert run.report is not None
    endless = [
        m
        for v in run.report["vaults"]
        for m in v["mappings"]
        if m["result"] == "timed_out" and _never_ends(server, m["operation"]["url"])
    ]
    assert len(endless) == faults["never_finish"] <= results["timed_out"]
    assert results["succeeded"] > 50 and results["failed"] > 0


def _never_ends(server: EmulatorServer, url: str) -> bool:
    operation = server.state.operations.find(url.split("?")[0].rsplit("/", 1)[-1])
    return operation is not None and math.isinf(operation.ends)


def test_dropped_gets_never_push_the_server_window_past_the_limit(outcomes: Outcomes) -> None:
    server, run = outcomes["drop_window"].server, outcomes["drop_window"].run
    assert run.report is not None
    assert server.state.counters.peak_window["get"] <= DROP_WINDOW_LIMITS["get"]["calls"]
    assert run.report["calls"]["get"] == server.state.counters.requests["get"]
