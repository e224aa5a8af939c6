"""Tokens through the real CLI: a failing token endpoint, short-lived and early-expiring tokens.

The CLI gets its tokens from the emulator's managed-identity endpoint through azure-identity,
which caches a token until its reported expiry and retries a failing endpoint on its own. Each
run's facts (the report, the emulator's counters, `assert_run_consistent`'s verdict) are taken
as plain data at its end, so the runs can be shared between test processes.

A token endpoint that keeps failing is test_secret_echoes.py's (its endpoint also echoes the
identity header). Tokens rejected during discovery (every token ARM sees, an hour before its
own expiry) end in a report, not a crash: that is `tests/unit/test_token_regressions.py`'s, on
virtual time (the wait for a credential's rejected token costs real seconds here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hostile_runs import Job, Runs, declare, emulated, runs_of
from report_schema import report_validator
from run_checks import assert_run_consistent
from scenarios import Outcome, Scenario

pytestmark = pytest.mark.integration

FLEET = {"subscriptions": 1, "vaults_per_subscription": 4, "mappings_per_vault": [2, 4]}
LONG_OPERATIONS = {"operation_seconds": [3.0, 4.0], "retry_after_seconds": 1}
SHORT_LIFETIME = 2
# PATCHes spread over seconds, so some meet a token ARM already calls expired: tokens reported
# valid 2 s stop working after 1 s, while 12 changes go out at 4 a second.
SLOW_PATCHES = {
    "set": {"calls": 4, "per_seconds": 1},
    "get": {"calls": 10_000, "per_seconds": 3600},
}

SCENARIOS = {
    # The endpoint fails its first request, and tokens live 2 s: renewed as they lapse.
    "renewed": Scenario(
        {
            "seed": 51,
            **FLEET,
            **LONG_OPERATIONS,
            "token_lifetime_seconds": SHORT_LIFETIME,
            "faults": {"token_failures": 1},
        }
    ),
    "expires_early": Scenario(
        {
            "seed": 52,
            **FLEET,
            "vaults_per_subscription": 4,
            "shares": {"compliant": 0.0, "not_a2a": 0.0, "not_paired": 0.0},
            "token_lifetime_seconds": 2,
            "limits": SLOW_PATCHES,
            "faults": {"token_early_expiry_seconds": 1},
        },
        {"limits": SLOW_PATCHES, "timeout_minutes": 0.5},
    ),
}


def _facts(outcome: Outcome) -> dict[str, Any]:
    """What the tests below read of one run, as plain data."""
    counters = outcome.server.state.counters
    try:
        consistent: dict[str, Any] = {
            "results": dict(assert_run_consistent(outcome.server, outcome.run))
        }
    except AssertionError as exc:
        consistent = {"error": str(exc)}
    report = outcome.run.report
    problems = [] if report is None else [e.message for e in report_validator().iter_errors(report)]
    return {
        "schema_problems": problems,
        "exit_code": outcome.run.exit_code,
        "stderr": outcome.run.stderr,
        "report": outcome.run.report,
        "consistent": consistent,
        "requests": {str(kind): n for kind, n in counters.requests.items()},
        "responses": {f"{kind} {status}": n for (kind, status), n in counters.responses.items()},
        "faults": {str(kind): n for kind, n in counters.faults.items()},
    }


def _job(scenario: Scenario) -> Job:
    async def job(directory: Path) -> dict[str, Any]:
        return _facts(await emulated(directory, scenario))

    return job


declare(
    "tokens",
    lambda: {name: _job(scenario) for name, scenario in SCENARIOS.items()},
    renewed=4.5,
    expires_early=5.5,
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return runs_of(tmp_path_factory, "tokens")


def _report(run: dict[str, Any]) -> dict[str, Any]:
    """The run's report, checked against the shipped schema."""
    assert run["report"] is not None, run["stderr"][-3000:]
    assert not run["schema_problems"], run["schema_problems"][:5]
    return dict(run["report"])


def _consistent(run: dict[str, Any], exit_code: int) -> dict[str, int]:
    """`assert_run_consistent`'s result counts, after checking it passed and the exit code."""
    _report(run)
    assert "error" not in run["consistent"], run["consistent"]["error"]
    assert run["exit_code"] == exit_code, run["stderr"][-3000:]
    return dict(run["consistent"]["results"])


def test_a_token_endpoint_failing_once_is_retried_and_the_run_goes_on(runs: Runs) -> None:
    run = runs["renewed"]
    assert _consistent(run, 0)["succeeded"] > 0
    assert run["faults"]["token_failure"] == 1
    # azure-identity's own retry asked again: the one failed request was followed by a token.
    assert run["responses"]["token 500"] == 1 and run["responses"]["token 200"] >= 1


def test_short_lived_tokens_are_renewed_without_losing_anything(runs: Runs) -> None:
    run = runs["renewed"]
    assert _consistent(run, 0)["succeeded"] > 0
    duration = _report(run)["duration_s"]
    assert duration > 2 * SHORT_LIFETIME  # the run outlived several tokens
    issued = run["responses"]["token 200"]
    # One token per lifetime, give or take: renewed when due, not on every ARM call.
    assert 2 <= issued <= duration / SHORT_LIFETIME + 2, (issued, duration)


def test_a_token_arm_calls_expired_before_its_reported_expiry_is_replaced_and_nothing_lost(
    runs: Runs,
) -> None:
    run = runs["expires_early"]
    assert run["responses"]["set 401"] > 0  # the fault was met
    results = _consistent(run, 0)
    assert results.get("failed", 0) == 0 and results["succeeded"] == sum(results.values())
