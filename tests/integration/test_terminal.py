"""A person at a terminal: the live display, the summary and what needs attention, plan's
changes, where the JSON report goes, and a config error.

The CLI runs as a subprocess with its stderr (and in some tests its stdout) on a pseudo-terminal,
against the emulator its config embeds, so what it draws is what a person would see.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import re
import struct
import sys
import termios
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import CLI_TIMEOUT, cli_env
from report_schema import assert_valid_report

pytestmark = pytest.mark.integration

COLUMNS, ROWS = 200, 50
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
FLEET = {
    "seed": 61,
    "subscriptions": 2,
    "vaults_per_subscription": 3,
    "mappings_per_vault": [2, 3],
    "shares": {"not_a2a": 0.1, "not_paired": 0.1, "compliant": 0.2, "unhealthy": 0.1},
    "operation_seconds": [0.3, 0.8],
    "operation_failure_rate": 0.0,
}
# 25 changes of which 23 fail (drawn from the seed): more than the 20 failures listed.
FAILING_FLEET = {
    **FLEET,
    "mappings_per_vault": [4, 6],
    "shares": {"not_a2a": 0.05, "not_paired": 0.05, "compliant": 0.1, "unhealthy": 0.05},
    "operation_seconds": [0.3, 0.6],
    "operation_failure_rate": 0.8,
}
# Faster than ASR allows (a warning says so) yet slow enough that PATCHes queue: pace and ETA.
QUEUEING = {"set": {"calls": 8, "per_seconds": 0.5}}
PROGRESS_WORDS = ("Vaults", "listed", "PATCHes", "Operations", "running", "Limiter")
INFO_EVENTS = ("run_started", "vault_listed", "operation_started", "run_finished")
DISPLAY_ONLY = ("PATCHes", "Limiter", "429 pauses", "╭", "━")  # never in a log line or report


@dataclass(frozen=True)
class TerminalRun:
    exit_code: int
    terminal: str  # what reached the pseudo-terminal, ANSI sequences removed
    stdout: str  # stdout when it was a pipe
    stderr: str  # stderr when it was a pipe


def _config(tmp_path: Path, fleet: dict[str, Any] = FLEET, **keys: Any) -> Path:
    from orchestrator.emulator import FleetSpec, generate_fleet

    account = generate_fleet(FleetSpec.model_validate(fleet)).automation_account
    config = {
        "action": "enable",
        "automation_account": account,
        "credential": "managed_identity",
        "timeout_minutes": 2,
        "subscriptions": "all",
        "emulator": fleet,
        "state_file": str(tmp_path / "journal.jsonl"),  # not under the tester's home
        **keys,
    }
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


async def run_on_terminal(
    *args: str, stderr_tty: bool = True, stdout_tty: bool = False
) -> TerminalRun:
    """Run the CLI with stderr and/or stdout on one pseudo-terminal of COLUMNS x ROWS."""
    main, side = pty.openpty()
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = cli_env(None, TERM="xterm-256color")
    for name in (
        "COLUMNS",
        "LINES",
        "NO_COLOR",
        "FORCE_COLOR",
        "TTY_COMPATIBLE",
        "TTY_INTERACTIVE",
    ):
        env.pop(name, None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=side if stdout_tty else asyncio.subprocess.PIPE,
        stderr=side if stderr_tty else asyncio.subprocess.PIPE,
        env=env,
    )
    os.close(side)
    try:
        reading = asyncio.to_thread(_read_all, main)
        raw, (out, err) = await asyncio.wait_for(
            asyncio.gather(reading, proc.communicate()), CLI_TIMEOUT
        )
    finally:
        os.close(main)
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode is not None  # communicate() returned: the process has exited
    text = ANSI.sub("", raw.decode(errors="replace")).replace("\r\n", "\n")
    return TerminalRun(proc.returncode, text, (out or b"").decode(), (err or b"").decode())


def _report(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text())
    assert_valid_report(report)
    return report


async def test_apply_shows_pace_and_eta_then_the_summary_and_every_failure_needing_attention(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, FAILING_FLEET, limits=QUEUEING)
    report_path = tmp_path / "r.json"
    run = await run_on_terminal("apply", str(config), "--report", str(report_path))
    assert run.exit_code == 1, run.terminal
    report = _report(report_path)
    screen = run.terminal
    for word in PROGRESS_WORDS:
        assert word in screen, word
    total = report["totals"]["vaults"]
    assert f"{total}/{total} listed" in screen
    assert f"{report['totals']['changed']} sent" in screen
    assert "0 running" in screen  # the last frame: every operation finished
    assert re.search(r"\d+ PATCH/min", screen) and re.search(r"ETA \d+:\d\d", screen)
    # Above the display: warnings (the limits, each failed operation), never an info line.
    lines = screen.splitlines()
    assert [line for line in lines if "limits_above_asr" in line and "│" not in line]
    assert [line for line in lines if "operation_finished" in line and "│" not in line]
    for event in INFO_EVENTS:
        assert event not in screen, event
    # The summary, then every failure: the first 20, then how many more the report holds.
    for header in ("Subscription", "Changed", "Succeeded", "Failed", "Skipped", "Timed out"):
        assert header in screen, header
    assert "apply failed (exit 1)" in screen
    failed = report["totals"]["failed"]
    assert failed > 20
    attention = screen[screen.index("needs attention") :]
    assert attention.count("ProtectionContainerMappingUpdateFailed") == 20
    assert f"… and {failed - 20} more in the report" in attention
    assert screen.index("apply failed (exit 1)") < screen.index("needs attention")
    assert run.stdout == ""  # the report went to its file; nothing else uses stdout


async def test_plan_on_a_terminal_without_report_shows_the_tables_and_no_json(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    run = await run_on_terminal("plan", str(config), "--no-progress", stdout_tty=True)
    assert run.exit_code == 0, run.terminal
    screen = run.terminal
    assert '"schema"' not in screen and "asr-autoupdate/report/v1" not in screen
    assert "would change (status, Automation account, authentication)" in screen
    assert "Current" in screen and "Desired" in screen
    assert "Enabled, aa-asr-fleet, SystemAssignedIdentity" in screen
    assert "Disabled, —, RunAsAccount" in screen  # the REST spec's default type
    assert "Would change" in screen  # the summary's plan columns
    for word in DISPLAY_ONLY:  # --no-progress: no live display
        assert word not in screen, word
    assert "plan succeeded (exit 0)" in screen


async def test_report_dash_prints_the_json_on_the_terminal_and_logs_go_to_stderr(
    tmp_path: Path,
) -> None:
    """stdout on a terminal, stderr a pipe: JSON logs on stderr, the report on stdout."""
    config = _config(tmp_path)
    run = await run_on_terminal(
        "plan", str(config), "--report", "-", stderr_tty=False, stdout_tty=True
    )
    assert run.exit_code == 0, run.stderr
    assert all(line.startswith("{") for line in run.stderr.splitlines()), run.stderr[:500]
    for word in (*DISPLAY_ONLY, "plan succeeded (exit 0)", "Would change"):
        assert word not in run.stderr, word
        assert word not in run.terminal, word
    report = json.loads(run.terminal)
    assert_valid_report(report)
    assert report["outcome"] == "succeeded" and report["command"] == "plan"


async def test_a_config_error_on_a_terminal_is_said_once(tmp_path: Path) -> None:
    config = _config(tmp_path, vaults=["/subscriptions/nope"])
    run = await run_on_terminal("apply", str(config), stdout_tty=True)
    assert run.exit_code == 2, run.terminal
    assert run.terminal.count("vaults[0]") == 1, run.terminal
    assert "Traceback" not in run.terminal and '"schema"' not in run.terminal
