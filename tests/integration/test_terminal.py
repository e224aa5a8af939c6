"""A person at a terminal: the live progress display, the summary table, plan's changes.

The CLI runs as a subprocess with its stderr (and in one test its stdout) on a pseudo-terminal,
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
    "retry_after_seconds": 0,
}
# generate_fleet(FleetSpec(seed=61, …)): the first subscription's Automation account
PROGRESS_WORDS = ("Vaults", "listed", "PATCHes", "Operations", "running", "Limiter")
DISPLAY_ONLY = ("PATCHes", "Limiter", "429 pauses", "╭", "━")  # never in a log line or report


@dataclass(frozen=True)
class TerminalRun:
    exit_code: int
    terminal: str  # what reached the pseudo-terminal, ANSI sequences removed
    stdout: str  # stdout when it was a pipe
    stderr: str  # stderr when it was a pipe


def _config(tmp_path: Path, **keys: Any) -> Path:
    from orchestrator.emulator import FleetSpec, generate_fleet

    account = generate_fleet(FleetSpec.model_validate(FLEET)).automation_account
    config = {
        "action": "enable",
        "automation_account": account,
        "credential": "managed_identity",
        "timeout_minutes": 2,
        "subscriptions": "all",
        "emulator": FLEET,
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
    text = ANSI.sub("", raw.decode(errors="replace")).replace("\r\n", "\n")
    return TerminalRun(proc.returncode, text, (out or b"").decode(), (err or b"").decode())


def _report(path: Path) -> dict[str, Any]:
    report = json.loads(path.read_text())
    assert_valid_report(report)
    return report


async def test_apply_on_a_terminal_shows_progress_then_a_summary_per_subscription(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    report_path = tmp_path / "r.json"
    run = await run_on_terminal("apply", str(config), "--report", str(report_path))
    assert run.exit_code == 0, run.terminal
    report = _report(report_path)
    screen = run.terminal
    for word in PROGRESS_WORDS:
        assert word in screen, word
    total = report["totals"]["vaults"]
    assert f"{total}/{total} listed" in screen
    assert f"{report['totals']['changed']} sent" in screen
    assert "0 running" in screen  # the last frame: every operation finished
    assert "waiting: 0 GET, 0 PATCH" in screen
    for header in ("Subscription", "Changed", "Succeeded", "Failed", "Skipped", "Timed out"):
        assert header in screen, header
    for sub in {v["subscription_id"] for v in report["vaults"]}:
        assert sub in screen
    assert "apply succeeded (exit 0)" in screen
    assert run.stdout == ""  # the report went to its file; nothing else uses stdout


async def test_logs_print_above_the_live_display_not_inside_it(tmp_path: Path) -> None:
    config = _config(tmp_path)
    run = await run_on_terminal("apply", str(config), "--report", str(tmp_path / "r.json"))
    assert run.exit_code == 0, run.terminal
    log_lines = [line for line in run.terminal.splitlines() if "operation_finished" in line]
    assert log_lines, "no log line reached the terminal"
    assert not [line for line in log_lines if "│" in line], "a log line was drawn into the panel"


async def test_plan_on_a_terminal_shows_each_change_with_current_and_desired_values(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    report_path = tmp_path / "r.json"
    run = await run_on_terminal("plan", str(config), "--report", str(report_path))
    assert run.exit_code == 0, run.terminal
    report = _report(report_path)
    screen = run.terminal
    assert "would change (status, Automation account, authentication)" in screen
    assert "Current" in screen and "Desired" in screen
    changes = [
        (v["id"], m)
        for v in report["vaults"]
        for m in v["mappings"]
        if m["result"] == "would_change"
    ]
    assert changes
    for vault_id, mapping in changes:
        name = mapping["id"].rsplit("/", 1)[-1]
        row = next(line for line in screen.splitlines() if name in line)
        assert vault_id.rsplit("/", 1)[-1] in row
        if mapping["before"]["agent_auto_update_status"] == "Disabled":
            assert "Disabled, —, —" in row
        assert "Enabled, aa-asr-fleet, SystemAssignedIdentity" in row
    assert "Would change" in screen  # the summary's plan columns
    assert "PATCHes" not in screen  # plan sends none: the display does not offer them


async def test_no_progress_on_a_terminal_keeps_only_the_summary(tmp_path: Path) -> None:
    config = _config(tmp_path)
    run = await run_on_terminal(
        "apply", str(config), "--report", str(tmp_path / "r.json"), "--no-progress"
    )
    assert run.exit_code == 0, run.terminal
    _report(tmp_path / "r.json")
    for word in DISPLAY_ONLY:
        assert word not in run.terminal, word
    assert "apply succeeded (exit 0)" in run.terminal
    assert "Subscription" in run.terminal and "Succeeded" in run.terminal


async def test_with_stderr_not_a_terminal_nothing_is_drawn(tmp_path: Path) -> None:
    """stdout on a terminal, stderr a pipe: JSON logs on stderr, the bare report on stdout."""
    config = _config(tmp_path)
    run = await run_on_terminal("apply", str(config), stderr_tty=False, stdout_tty=True)
    assert run.exit_code == 0, run.stderr
    assert all(line.startswith("{") for line in run.stderr.splitlines()), run.stderr[:500]
    for word in (*DISPLAY_ONLY, "apply succeeded (exit 0)", "Timed out"):
        assert word not in run.stderr, word
        assert word not in run.terminal, word
    report = json.loads(run.terminal)
    assert_valid_report(report)
    assert report["outcome"] == "succeeded"
