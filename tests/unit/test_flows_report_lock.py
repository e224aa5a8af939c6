"""The report file, the lock file and `validate --report`, in process.

The report's path is really tried before anything is sent (exit 2, `report_path_unwritable`);
one that fails only at the end sends the report to stdout with the process's real exit code;
temporary files a killed writer left are removed. The lock refuses to take over a file that is
not a lock (the config, a report), creates its missing directory privately, and is taken by
`apply` only: `plan`, `validate` and `audit` change nothing and run while an `apply` holds it.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from flows import ALL_CHANGE, consistent, rig
from inprocess import EmulatorTransport

from orchestrator.app.commands import RunArgs, Terminal, validate
from orchestrator.app.lock import RunLock
from orchestrator.output.report import Command
from orchestrator.secrets import Secrets

DEAD_PID = 2**22 + 1  # above Linux's pid_max: no process can have it


def unwritable_directory(tmp_path: Path) -> Path:
    """A directory no report can be written to: read-only, or (as root) one under /sys."""
    if os.geteuid() == 0:
        return Path("/sys")
    directory = tmp_path / "read-only"
    directory.mkdir(mode=0o500)
    return directory


def test_an_unwritable_report_path_exits_2_before_anything_is_sent(tmp_path: Path) -> None:
    r = rig(tmp_path)
    target = unwritable_directory(tmp_path) / "report.json"
    run = r.run(config=r.write_config(subscriptions="all"), report=str(target))
    assert run.exit_code == 2
    assert sum(r.state.counters.requests.values()) == 0
    # The report said why on stdout (not a terminal), since its file could not be had.
    report = json.loads(run.stdout)
    assert report["outcome"] == "invalid" and report["exit_code"] == 2
    assert report["error"]["code"] == "report_path_unwritable"
    assert str(target) in report["error"]["message"]


class _RemovesReportDirectory(EmulatorTransport):
    """Removes the report's directory when the first PATCH goes out: it fails only at the end."""

    directory: Path

    async def send(self, method: str, url: str, **kwargs: Any) -> Any:
        if method == "PATCH" and self.directory.exists():
            shutil.rmtree(self.directory)
        return await super().send(method, url, **kwargs)


def test_a_report_path_lost_mid_run_sends_the_report_to_stdout_with_the_real_exit_code(
    tmp_path: Path,
) -> None:
    r = rig(tmp_path, shares=ALL_CHANGE)
    gone = tmp_path / "reports"
    gone.mkdir()
    _RemovesReportDirectory.directory = gone
    run = r.run(
        config=r.write_config(subscriptions="all"),
        report=str(gone / "r.json"),
        transport=_RemovesReportDirectory,
    )
    assert run.exit_code == 1  # every change landed; the report did not
    report = json.loads(run.stdout)
    assert report["exit_code"] == 1 and report["outcome"] == "failed"
    assert report["error"]["code"] == "report_path_unwritable"
    assert report["totals"]["succeeded"] == report["totals"]["mappings"] > 0


def test_temporary_files_of_a_killed_writer_are_removed_and_a_live_one_s_kept(
    tmp_path: Path,
) -> None:
    r = rig(tmp_path)
    stale = tmp_path / f".report.json.{DEAD_PID}.0123456789abcdef.tmp"
    live = tmp_path / f".report.json.{os.getppid()}.0123456789abcdef.tmp"
    for temp in (stale, live):
        temp.write_text('{"schema": "asr-autoupd')
    run = r.run(config=r.write_config(subscriptions="all"))
    assert run.exit_code == 0
    assert not stale.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.glob(".report.json.*")) == [live.name]


@pytest.mark.parametrize("what", ["the config itself", "a report"])
def test_a_lock_file_that_is_not_a_lock_is_refused_and_left_untouched(
    tmp_path: Path, what: str
) -> None:
    r = rig(tmp_path)
    config = tmp_path / "config.yaml"
    report = tmp_path / "old-report.json"
    report.write_text('{"schema": "asr-autoupdate/report/v1"}\n')
    victim = config if what == "the config itself" else report
    config = r.write_config(subscriptions="all", lock_file=str(victim))
    before = victim.read_bytes()
    run = r.run(config=config)
    assert run.exit_code == 2
    assert victim.read_bytes() == before
    assert sum(r.state.counters.requests.values()) == 0
    assert run.report is not None and "lock_file" in run.report["error"]["message"]


def test_a_missing_lock_directory_is_created_private(tmp_path: Path) -> None:
    r = rig(tmp_path)
    lock = tmp_path / "run" / "asr-autoupdate" / "run.lock"
    run = r.run(config=r.write_config(subscriptions="all", lock_file=str(lock)))
    assert consistent(run, exit_code=0)
    assert stat.S_IMODE(lock.parent.stat().st_mode) == 0o700
    assert lock.read_text().strip().isdigit() or lock.read_text() == ""


def test_plan_validate_and_audit_run_while_an_apply_holds_the_lock(tmp_path: Path) -> None:
    r = rig(tmp_path)
    lock = tmp_path / "run.lock"
    config = r.write_config(subscriptions="all", lock_file=str(lock))
    with RunLock(str(lock)):
        planned = r.run("plan", config=config)
        audited = r.run("audit", config=config)
        validated = validate(
            RunArgs(Command.VALIDATE, str(config), str(tmp_path / "v.json")),
            Secrets(),
            Terminal(io.StringIO(), stdout_is_tty=False, show=None),
        )
        applied = r.run(config=config)
    assert (planned.exit_code, audited.exit_code, validated, applied.exit_code) == (0, 0, 0, 5)
    assert r.state.counters.requests["set"] == 0


def test_validate_report_says_valid_and_an_invalid_config_s_says_why(tmp_path: Path) -> None:
    r = rig(tmp_path)
    good = r.write_config(subscriptions="all")
    bad = r.write_config("bad.yaml", subscriptions="all", limits={"set": {"calls": 0}})
    terminal = Terminal(io.StringIO(), stdout_is_tty=False, show=None)
    codes = [
        validate(RunArgs(Command.VALIDATE, str(path), str(tmp_path / f"{path.stem}.json")),
                 Secrets(), terminal)
        for path in (good, bad)
    ]  # fmt: skip
    assert codes == [0, 2]
    valid = json.loads((tmp_path / "config.json").read_text())
    invalid = json.loads((tmp_path / "bad.json").read_text())
    assert valid["command"] == "validate" and valid["outcome"] == "succeeded"
    assert valid["error"] is None and valid["config"]["sha256"]
    assert invalid["outcome"] == "invalid" and invalid["exit_code"] == 2
    assert invalid["error"]["code"] == "invalid_config"
    assert "limits.set" in invalid["error"]["message"]
    assert sum(r.state.counters.requests.values()) == 0


def test_a_lock_file_under_the_home_directory_is_taken_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    elsewhere.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(elsewhere)
    r = rig(tmp_path)
    lock = "~/.local/state/asr-autoupdate/asr-autoupdate.lock"
    run = r.run(config=r.write_config(subscriptions="all", lock_file=lock))
    assert run.exit_code == 0
    assert (home / ".local/state/asr-autoupdate/asr-autoupdate.lock").is_file()
    assert not (elsewhere / "~").exists()
