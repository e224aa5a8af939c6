"""Independent CLI runs against their own emulators, run side by side to keep the suite fast.

A test module describes its runs as `Scenario`s; a module-scoped fixture runs them all at once
(`run_scenarios`: one event loop, one emulator and one CLI subprocess per scenario) and each test
then asserts on its own scenario's `Outcome`. Most of a run's time is waiting (retry backoff,
operations, the deadline), so running them together costs about as much as the slowest one.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cli_support import CLI_TIMEOUT, IDENTITY_HEADER, CliRun, cli_env, write_config

from orchestrator.emulator import EmulatorServer, FleetSpec

QUICK: dict[str, Any] = {
    "operation_seconds": [0.1, 0.3],
    "retry_after_seconds": 0,
    "operation_failure_rate": 0.0,
}


@dataclass(frozen=True)
class Scenario:
    """One CLI run: the emulator's fleet keys, the config's extra keys, the command line."""

    spec: Mapping[str, Any]
    config: Mapping[str, Any] = field(default_factory=dict)
    command: str = "apply"
    log_format: str = "json"
    log_level: str = "info"
    report_to_file: bool = True
    port: int = 0  # the emulator's loopback port (0: any free one)
    env: Mapping[str, str] = field(default_factory=dict)  # on top of `cli_env(server)`


@dataclass(frozen=True)
class Outcome:
    """What one scenario left: its (stopped) emulator, to read state from, the run, and the
    directory holding its config and report."""

    server: EmulatorServer
    run: CliRun
    directory: Path


async def run_cli_process(argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, str, str]:
    """``python -m orchestrator ARGV``: exit code, stdout, stderr. Killed after CLI_TIMEOUT."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestrator", *argv,
        env=dict(env), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"the CLI did not end within {CLI_TIMEOUT} s: {argv}") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def run_scenario(directory: Path, scenario: Scenario) -> Outcome:
    """Start an emulator for ``scenario``, run the CLI against it, stop the emulator.

    ``directory`` must exist: the config and the report are written there.
    """
    spec = FleetSpec.model_validate({**QUICK, **scenario.spec})
    server = EmulatorServer(spec, identity_header=IDENTITY_HEADER, port=scenario.port)
    await server.start()
    try:
        keys = {"action": "enable", "subscriptions": "all", **scenario.config}
        config = write_config(directory / "config.yaml", server, **keys)
        report_path = directory / "report.json"
        argv = [
            scenario.command, str(config),
            "--log-format", scenario.log_format, "--log-level", scenario.log_level,
        ]  # fmt: skip
        if scenario.report_to_file:
            argv += ["--report", str(report_path)]
        code, out, err = await run_cli_process(argv, cli_env(server, **scenario.env))
    finally:
        await server.stop()
    report = _read_report(report_path) if scenario.report_to_file else _parse_report(out)
    return Outcome(server, CliRun(code, out, err, report), directory)


def _read_report(path: Path) -> dict[str, Any] | None:
    return _parse_report(path.read_text()) if path.exists() else None


def _parse_report(text: str) -> dict[str, Any] | None:
    loaded = json.loads(text) if text.strip().startswith("{") else None
    return loaded if isinstance(loaded, dict) else None


class Outcomes:
    """Each job's result by name; a job that raised re-raises in its own test."""

    def __init__(self, results: Mapping[str, Any]) -> None:
        self._results = dict(results)

    def __getitem__(self, name: str) -> Any:
        result = self._results[name]
        if isinstance(result, BaseException):
            raise result
        return result


Job = Callable[[Path], Awaitable[Any]]


def run_jobs(directory: Path, jobs: Mapping[str, Job]) -> Outcomes:
    """Run every job at once in a fresh event loop (for a module-scoped, sync fixture).

    Each job gets its own existing directory, ``directory / name``.
    """
    for name in jobs:
        (directory / name).mkdir(parents=True, exist_ok=True)

    async def run_all() -> list[Any]:
        return await asyncio.gather(
            *(job(directory / name) for name, job in jobs.items()), return_exceptions=True
        )

    return Outcomes(dict(zip(jobs, asyncio.run(run_all()), strict=True)))


def run_scenarios(directory: Path, scenarios: Mapping[str, Scenario]) -> Outcomes:
    """`run_jobs` for emulator scenarios: each name's outcome is an `Outcome`."""
    return run_jobs(
        directory,
        {name: functools.partial(run_scenario, scenario=s) for name, s in scenarios.items()},
    )
