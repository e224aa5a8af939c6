"""Tokens through the real CLI: a failing token endpoint, short-lived and early-expiring tokens.

The CLI gets its tokens from the emulator's managed-identity endpoint through azure-identity,
which caches a token until its reported expiry and retries a failing endpoint on its own.
"""

from __future__ import annotations

import pytest
from run_checks import assert_run_consistent
from scenarios import Outcomes, Scenario, run_scenarios

pytestmark = pytest.mark.integration

FLEET = {"subscriptions": 1, "vaults_per_subscription": 4, "mappings_per_vault": [2, 4]}
LONG_OPERATIONS = {"operation_seconds": [3.0, 4.0], "retry_after_seconds": 1}
SHORT_LIFETIME = 2
# PATCHes spread over seconds, so some meet a token ARM already calls expired.
SLOW_PATCHES = {
    "set": {"calls": 2, "per_seconds": 1},
    "get": {"calls": 10_000, "per_seconds": 3600},
}

SCENARIOS = {
    "token_fails_once": Scenario({"seed": 50, **FLEET, "faults": {"token_failures": 1}}),
    "token_never_comes": Scenario({"seed": 50, **FLEET, "faults": {"token_failures": 1_000}}),
    "short_lived": Scenario(
        {"seed": 51, **FLEET, **LONG_OPERATIONS, "token_lifetime_seconds": SHORT_LIFETIME}
    ),
    "expires_early": Scenario(
        {
            "seed": 52,
            **FLEET,
            "vaults_per_subscription": 4,
            "shares": {"compliant": 0.0, "not_a2a": 0.0, "not_paired": 0.0},
            "token_lifetime_seconds": 6,
            "limits": SLOW_PATCHES,
            "faults": {"token_early_expiry_seconds": 3},
        },
        {"limits": SLOW_PATCHES, "timeout_minutes": 0.5},
    ),
    "rejected_in_discovery": Scenario(
        {"seed": 53, **FLEET, "faults": {"token_early_expiry_seconds": 3_600}}
    ),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Outcomes:
    return run_scenarios(tmp_path_factory.mktemp("tokens"), SCENARIOS)


def test_a_token_endpoint_failing_once_is_retried_and_the_run_goes_on(outcomes: Outcomes) -> None:
    server, run = outcomes["token_fails_once"].server, outcomes["token_fails_once"].run
    results = assert_run_consistent(server, run, exit_code=0)
    assert results["succeeded"] > 0
    assert server.state.counters.faults["token_failure"] == 1
    # azure-identity's own retry asked again: one failed request, one that gave the token.
    assert server.state.counters.requests["token"] == 2


def test_a_token_endpoint_that_keeps_failing_exits_4_quickly_and_sends_nothing(
    outcomes: Outcomes,
) -> None:
    server, run = outcomes["token_never_comes"].server, outcomes["token_never_comes"].run
    assert run.exit_code == 4, run.stderr[-2000:]
    assert run.report is not None and run.report["outcome"] == "unauthenticated"
    assert run.report["duration_s"] < 15
    assert server.state.counters.requests["get"] == server.state.counters.requests["set"] == 0
    assert "Traceback" not in run.stderr
    # azure-identity tries the endpoint a few times, then gives up: it does not hammer it.
    assert 1 <= server.state.counters.requests["token"] <= 5


def test_short_lived_tokens_are_renewed_without_losing_anything(outcomes: Outcomes) -> None:
    server, run = outcomes["short_lived"].server, outcomes["short_lived"].run
    results = assert_run_consistent(server, run, exit_code=0)
    assert results["succeeded"] > 0
    assert run.report is not None
    duration = run.report["duration_s"]
    assert duration > 2 * SHORT_LIFETIME  # the run outlived several tokens
    issued = server.state.counters.requests["token"]
    # One token per lifetime, give or take: renewed when due, not on every ARM call.
    assert 2 <= issued <= duration / SHORT_LIFETIME + 2, (issued, duration)


def test_a_token_arm_calls_expired_before_its_reported_expiry_is_replaced_and_nothing_lost(
    outcomes: Outcomes,
) -> None:
    server, run = outcomes["expires_early"].server, outcomes["expires_early"].run
    assert server.state.counters.responses[("set", 401)] > 0  # the fault was met
    results = assert_run_consistent(server, run, exit_code=0)
    assert results["failed"] == 0


def test_tokens_rejected_during_discovery_end_in_a_report_not_a_crash(
    outcomes: Outcomes,
) -> None:
    server, run = outcomes["rejected_in_discovery"].server, outcomes["rejected_in_discovery"].run
    assert server.state.counters.responses[("get", 401)] > 0
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    assert run.report is not None
    assert run.exit_code == run.report["exit_code"] in (1, 4)
    assert server.state.counters.requests["set"] == 0
