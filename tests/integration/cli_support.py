"""Helpers for integration tests: run the real CLI, write configs aimed at an emulator."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from orchestrator.emulator import EmulatorServer

IDENTITY_HEADER = "integration-identity-header"
CLI_TIMEOUT = 90.0


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


StartEmulator = Callable[..., Awaitable[EmulatorServer]]
RunCli = Callable[..., Awaitable[CliRun]]


def cli_env(server: EmulatorServer | None, **extra: str) -> dict[str, str]:
    """A clean environment: no Azure variables but the managed-identity pair for ``server``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_"))}
    if server is not None:
        env["IDENTITY_ENDPOINT"] = server.token_endpoint
        env["IDENTITY_HEADER"] = server.identity_header
    env.update(extra)
    return env


def write_config(path: Path, server: EmulatorServer | None, **keys: Any) -> Path:
    """Write a config that targets ``server`` (its endpoint, managed identity) plus ``keys``."""
    config: dict[str, Any] = {"credential": "managed_identity", "timeout_minutes": 2}
    if server is not None:
        config["arm_endpoint"] = server.base_url
        config["automation_account"] = fleet_account(server)
    config.update(keys)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def fleet_account(server: EmulatorServer) -> str:
    """The Automation account the emulator's compliant mappings already use."""
    return server.state.fleet.automation_account
