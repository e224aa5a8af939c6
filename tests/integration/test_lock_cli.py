"""`lock_file` through the real CLI: a second run exits 5 at once; a killed run's lock is gone."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import pytest
from cli_support import RunCli, StartEmulator, cli_env, write_config
from run_checks import assert_run_consistent
from scenarios import QUICK

from orchestrator.emulator import EmulatorServer

pytestmark = pytest.mark.integration

SLOW_OPERATIONS = {
    **QUICK,
    "operation_seconds": [3.0, 4.0],
    "retry_after_seconds": 1,
    "subscriptions": 1,
    "vaults_per_subscription": 3,
}
AT_ONCE_SECONDS = 5.0  # interpreter start-up included


async def _start_holder(
    server: EmulatorServer, config: Path, report: Path
) -> asyncio.subprocess.Process:
    """Start an apply that will hold the lock; return once its PATCHes reached the emulator."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestrator", "apply", str(config),
        "--report", str(report), "--log-format", "json",
        env=cli_env(server), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while server.state.counters.operations_started == 0:
        assert proc.returncode is None, "the first run ended before it PATCHed"
        assert time.monotonic() < deadline, "no PATCH reached the emulator"
        await asyncio.sleep(0.02)
    return proc


async def test_a_second_run_while_the_lock_is_held_exits_5_at_once_without_a_report(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    lock = tmp_path / "run.lock"
    first_server = await start_emulator(seed=61, **SLOW_OPERATIONS)
    first_config = write_config(
        tmp_path / "first.yaml", first_server, action="enable", subscriptions="all",
        lock_file=str(lock),
    )  # fmt: skip
    holder = await _start_holder(first_server, first_config, tmp_path / "first.json")
    second_server = await start_emulator(seed=62, **SLOW_OPERATIONS)
    second_config = write_config(
        tmp_path / "second.yaml", second_server, action="enable", subscriptions="all",
        lock_file=str(lock),
    )  # fmt: skip

    started = time.monotonic()
    second = await run_cli("apply", str(second_config), env=cli_env(second_server))
    elapsed = time.monotonic() - started

    assert second.exit_code == 5, second.stderr[-2000:]
    assert elapsed < AT_ONCE_SECONDS
    assert second.report is None  # run_cli passed --report: nothing was written there
    assert "lock" in second.stderr and "Traceback" not in second.stderr
    assert sum(second_server.state.counters.requests.values()) == 0  # not even a token
    assert holder.returncode is None, "the first run must still hold the lock"
    holder.send_signal(signal.SIGTERM)  # done with it: it still ends cleanly, with its report
    assert await asyncio.wait_for(holder.wait(), 30) == 130
    assert (tmp_path / "first.json").exists()


async def test_a_lock_left_by_a_killed_run_does_not_block_the_next_run(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    lock = tmp_path / "run.lock"
    killed_server = await start_emulator(seed=63, **SLOW_OPERATIONS)
    killed_config = write_config(
        tmp_path / "killed.yaml", killed_server, action="enable", subscriptions="all",
        lock_file=str(lock),
    )  # fmt: skip
    holder = await _start_holder(killed_server, killed_config, tmp_path / "killed.json")
    holder.send_signal(signal.SIGKILL)
    assert await asyncio.wait_for(holder.wait(), 10) == -signal.SIGKILL
    assert lock.exists()  # the file stays; the OS lock on it died with the process

    server = await start_emulator(seed=64, **{**SLOW_OPERATIONS, **QUICK})
    config = write_config(
        tmp_path / "next.yaml", server, action="enable", subscriptions="all", lock_file=str(lock)
    )
    run = await run_cli("apply", str(config), env=cli_env(server))

    results = assert_run_consistent(server, run, exit_code=0)
    assert results["succeeded"] > 0
