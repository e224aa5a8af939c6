"""The real CLI as an operator runs it: a canary apply with its flags, and one that cannot
authenticate. Everything a run decides is proven in process (`tests/unit/test_flows_*.py`);
here the command line, azure-identity's real managed-identity path and the process's streams.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cli_support import IDENTITY_HEADER, RunCli, StartEmulator, cli_env, write_config
from run_checks import assert_run_consistent

pytestmark = pytest.mark.integration

FLEET = {
    "seed": 13,
    "subscriptions": 2,
    "vaults_per_subscription": 2,
    "mappings_per_vault": [2, 3],
    "shares": {"not_a2a": 0.0, "not_paired": 0.0, "compliant": 0.0, "unhealthy": 0.0},
    "operation_seconds": [0.2, 0.4],
    "operation_failure_rate": 0.0,
}
PER_REQUEST = {"method", "path", "status", "attempt", "ms"}


async def test_a_canary_narrows_caps_and_logs_each_request_without_a_header_value(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(**FLEET)
    canary = server.state.vault_ids()[1]
    config = write_config(tmp_path / "c.yaml", server, action="enable", subscriptions="all")
    run = await run_cli(
        "apply", str(config), "--vault", canary, "--max-changes", "1", "--log-level", "debug",
        env=cli_env(server),
    )  # fmt: skip

    results = assert_run_consistent(server, run, vaults=[canary], exit_code=0)
    assert results["succeeded"] == 1 and results["not_started"] >= 1
    assert server.state.counters.requests["set"] == 1
    assert run.report is not None
    assert [w["code"] for w in run.report["warnings"]] == ["max_changes_reached"]
    events = run.log_events()
    requests = [e for e in events if e["event"] == "request"]
    assert len(requests) == run.report["calls"]["get"] + run.report["calls"]["set"]
    assert all(e.keys() >= PER_REQUEST and e["path"].startswith("/") for e in requests)
    assert {e["method"] for e in requests} == {"GET", "PATCH"}
    for event in events:
        if event["event"] in {"vault_listed", "operation_started", "operation_finished"}:
            assert event["vault"] and event["subscription_id"], event
    # Never a header value: not the identity header's, not a token the emulator issued.
    tokens = server.state.tokens.issued()
    assert tokens and IDENTITY_HEADER not in run.stderr + run.stdout
    assert not [token for token in tokens if token in run.stderr + run.stdout]
    assert "Bearer" not in run.stderr + run.stdout


async def test_a_run_that_cannot_authenticate_exits_4_sends_nothing_and_says_why(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(**FLEET)
    config = write_config(tmp_path / "c.yaml", server, action="enable", subscriptions="all")
    wrong = cli_env(server, IDENTITY_HEADER="not-the-right-header")
    run = await asyncio.wait_for(run_cli("apply", str(config), env=wrong), 60)
    assert run.exit_code == 4, run.stderr
    assert run.report is not None and run.report["outcome"] == "unauthenticated"
    assert run.report["error"]["code"] == "authentication_failed"
    assert "managed_identity" in run.report["error"]["message"]
    assert server.state.counters.requests["get"] == server.state.counters.requests["set"] == 0
    assert "Traceback" not in run.stderr
