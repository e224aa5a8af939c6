"""Helpers for integration tests: run the real CLI, write configs aimed at an emulator."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from orchestrator.emulator import EmulatorServer, EmulatorState

IDENTITY_HEADER = "integration-identity-header"
CLI_TIMEOUT = 90.0
POLL_SECONDS = 0.01  # how often a test looks for the moment to catch a process mid-run


@dataclass(frozen=True)
class CliRun:
    """What one CLI run left behind."""

    exit_code: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None

    def log_events(self) -> list[dict[str, Any]]:
        """The JSON log lines on stderr."""
        return [json.loads(line) for line in self.stderr.splitlines() if line.startswith("{")]

    def results(self) -> dict[str, str]:
        """Mapping id (lower-cased) -> result, from the report."""
        assert self.report is not None
        return {m["id"].lower(): m["result"] for v in self.report["vaults"] for m in v["mappings"]}


class ServesArm(Protocol):
    """What a run needs of an emulator serving over loopback (an `EmulatorServer` or a test's
    own server around the emulator's `serve`)."""

    @property
    def base_url(self) -> str: ...

    @property
    def token_endpoint(self) -> str: ...

    @property
    def identity_header(self) -> str: ...

    @property
    def state(self) -> EmulatorState: ...


StartEmulator = Callable[..., Awaitable[EmulatorServer]]
RunCli = Callable[..., Awaitable[CliRun]]


def cli_env(server: ServesArm | None, **extra: str) -> dict[str, str]:
    """A clean environment: no Azure variables but the managed-identity pair for ``server``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_"))}
    if server is not None:
        env["IDENTITY_ENDPOINT"] = server.token_endpoint
        env["IDENTITY_HEADER"] = server.identity_header
    env.update(extra)
    return env


def write_config(path: Path, server: ServesArm | None, **keys: Any) -> Path:
    """Write a config that targets ``server`` (its endpoint, managed identity) plus ``keys``.

    Its journal (`state_file`) lies beside it unless ``keys`` say otherwise: a run never
    writes under the home directory of whoever runs the tests.
    """
    config: dict[str, Any] = {
        "credential": "managed_identity",
        "timeout_minutes": 2,
        "state_file": str(path.with_suffix(".journal.jsonl")),
    }
    if server is not None:
        config["arm_endpoint"] = server.base_url
        config["automation_account"] = fleet_account(server)
    config.update(keys)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def fleet_account(server: ServesArm) -> str:
    """The Automation account the emulator's compliant mappings already use."""
    return server.state.fleet.automation_account


async def spawn_cli(
    *argv: str, env: dict[str, str], stdout: int = asyncio.subprocess.PIPE
) -> asyncio.subprocess.Process:
    """Start ``python -m orchestrator ARGV`` without waiting for it (stderr piped)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestrator", *argv,
        env=env, stdin=asyncio.subprocess.DEVNULL, stdout=stdout, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def until(
    condition: Callable[[], bool],
    what: str,
    *,
    process: asyncio.subprocess.Process | None = None,
    within: float = 30.0,
) -> None:
    """Poll ``condition`` every POLL_SECONDS until it holds; fail naming ``what`` if it never
    does, or if ``process`` ended first (it was to be caught mid-run)."""
    deadline = time.monotonic() + within
    while not condition():
        assert process is None or process.returncode is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(POLL_SECONDS)


async def finish(process: asyncio.subprocess.Process) -> tuple[int, str, str]:
    """Wait for a spawned CLI (killed after CLI_TIMEOUT): exit code, stdout, stderr."""
    try:
        out, err = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"the CLI did not end within {CLI_TIMEOUT} s") from None
    assert process.returncode is not None
    return process.returncode, (out or b"").decode(), (err or b"").decode()


def journal_lines(path: Path) -> list[dict[str, Any]]:
    """The whole lines of an operation journal (a line being written is left out)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]
