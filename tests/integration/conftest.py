"""Integration fixtures: the emulator on a loopback port and the real CLI as a subprocess.

The CLI runs as ``python -m orchestrator`` in a child process with only the managed-identity
environment pointing at the emulator, so credentials go through azure-identity's real code path.
The emulator runs in the test's own event loop, so a test reads its counters and state directly.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cli_support import CLI_TIMEOUT, IDENTITY_HEADER, CliRun, RunCli, StartEmulator
from report_schema import assert_valid_report

from orchestrator.emulator import EmulatorServer, FleetSpec


@pytest.fixture
async def start_emulator() -> AsyncIterator[StartEmulator]:
    """Start emulators for the test (on free loopback ports); all are stopped at teardown."""
    servers: list[EmulatorServer] = []

    async def start(**spec: Any) -> EmulatorServer:
        server = EmulatorServer(FleetSpec.model_validate(spec), identity_header=IDENTITY_HEADER)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
def run_cli(tmp_path: Path) -> RunCli:
    """Run ``asr-autoupdate ARGS`` as a subprocess; the report is read from ``--report``.

    Every report read back is checked against the shipped `schemas/report.schema.json`.
    """

    async def run(*args: str, env: Mapping[str, str], report: bool = True) -> CliRun:
        report_path = tmp_path / "report.json"
        report_path.unlink(missing_ok=True)
        argv = [*args, "--log-format", "json"] + (["--report", str(report_path)] if report else [])
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "orchestrator",
            *argv,
            env=dict(env),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )
        out, err = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT)
        assert proc.returncode is not None
        loaded = json.loads(report_path.read_text()) if report and report_path.exists() else None
        if loaded is not None:
            assert_valid_report(loaded)
        return CliRun(proc.returncode, out.decode(), err.decode(), loaded)

    return run
