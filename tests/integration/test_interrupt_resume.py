"""SIGINT/SIGTERM stop a run cleanly; `apply --resume` picks up what it left running."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path

import pytest
from cli_support import RunCli, StartEmulator, cli_env, fleet_account, write_config

from orchestrator.emulator import EmulatorServer

pytestmark = pytest.mark.integration

SLOW_OPERATIONS = {
    "operation_seconds": [3.0, 4.0],
    "retry_after_seconds": 1,
    "operation_failure_rate": 0.0,
    "subscriptions": 1,
    "vaults_per_subscription": 6,
}


async def _interrupt_mid_run(
    server: EmulatorServer, config: Path, report: Path, signum: signal.Signals
) -> tuple[int, float]:
    """Start apply, wait until PATCHes were accepted, send ``signum``; exit code and seconds to exit."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestrator", "apply", str(config),
        "--report", str(report), "--log-format", "json",
        env=cli_env(server), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while server.state.counters.operations_started == 0:
        assert time.monotonic() < deadline, "no PATCH reached the emulator"
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # let the run send the rest of its PATCHes
    sent = time.monotonic()
    proc.send_signal(signum)
    await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, time.monotonic() - sent


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_a_signal_writes_an_interrupted_report_and_exits_130(
    start_emulator: StartEmulator, tmp_path: Path, signum: signal.Signals
) -> None:
    server = await start_emulator(seed=21, **SLOW_OPERATIONS)
    config = write_config(tmp_path / "c.yaml", server, action="enable", subscriptions="all")
    code, seconds = await _interrupt_mid_run(server, config, tmp_path / "r.json", signum)
    assert code == 130
    assert seconds < 10
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["outcome"] == "interrupted"
    interrupted = [
        m for v in report["vaults"] for m in v["mappings"] if m["result"] == "interrupted"
    ]
    assert interrupted, "operations were running when the signal came"
    assert all(m["operation"]["url"] for m in interrupted)


async def test_resume_finishes_the_fleet_without_patching_a_running_operation(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(seed=22, **SLOW_OPERATIONS)
    config = write_config(tmp_path / "c.yaml", server, action="enable", subscriptions="all")
    first = tmp_path / "first.json"
    code, _ = await _interrupt_mid_run(server, config, first, signal.SIGINT)
    assert code == 130
    patches_before = server.state.counters.requests["set"]

    run = await run_cli("apply", str(config), "--resume", str(first), env=cli_env(server))

    assert run.exit_code == 0, run.stderr
    assert server.state.counters.patches_while_running == 0
    assert run.report is not None
    first_report = json.loads(first.read_text())
    resumed = {
        m["id"].lower()
        for v in first_report["vaults"]
        for m in v["mappings"]
        if m["result"] == "interrupted"
    }
    results = run.results()
    assert resumed and all(results[m] == "succeeded" for m in resumed)
    # Only mappings the first run never PATCHed were PATCHed by the second.
    not_started = sum(
        1 for v in first_report["vaults"] for m in v["mappings"] if m["result"] == "not_started"
    )
    assert server.state.counters.requests["set"] - patches_before == not_started
    for mapping in server.state.mappings():
        details = mapping["properties"].get("providerSpecificDetails")
        if details and mapping["properties"]["state"] == "Paired":
            assert details["agentAutoUpdateStatus"] == "Enabled", mapping["id"]
            assert details["automationAccountArmId"].lower() == fleet_account(server).lower()


async def test_a_resume_report_that_is_not_a_report_exits_2(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(seed=23, **SLOW_OPERATIONS)
    config = write_config(tmp_path / "c.yaml", server, action="enable", subscriptions="all")
    bogus = tmp_path / "bogus.json"
    bogus.write_text("{not json")
    run = await run_cli("apply", str(config), "--resume", str(bogus), env=cli_env(server))
    assert run.exit_code == 2
    assert "--resume" in run.stderr
    assert sum(server.state.counters.requests.values()) == 0
