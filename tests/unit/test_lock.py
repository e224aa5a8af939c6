"""The run lock: one holder at a time, released on exit, never blocked by a dead holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.app.lock import RunLock
from orchestrator.errors import ConfigError, LockHeldError

# Takes the lock the way RunLock does, says so, then waits to be killed.
_HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def lock_path(tmp_path: Path) -> str:
    return str(tmp_path / "asr-autoupdate.lock")


@pytest.fixture
def other_process_holding(lock_path: str) -> Iterator[subprocess.Popen[str]]:
    """A child process that holds ``lock_path`` until the test kills it (killed at teardown too)."""
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, lock_path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "locked"
    yield child
    if child.poll() is None:
        child.kill()
    child.wait()
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            stream.close()


def test_a_second_holder_gets_lock_held_error(lock_path: str) -> None:
    with RunLock(lock_path), pytest.raises(LockHeldError) as raised, RunLock(lock_path):
        pass
    assert raised.value.path == lock_path


def test_the_lock_is_released_on_exit(lock_path: str) -> None:
    with RunLock(lock_path):
        pass
    with RunLock(lock_path) as again:
        assert "held=True" in repr(again)
    assert "held=False" in repr(again)


def test_the_lock_is_released_when_the_body_raises(lock_path: str) -> None:
    with pytest.raises(RuntimeError), RunLock(lock_path):
        raise RuntimeError("the run crashed")
    with RunLock(lock_path):
        pass


def test_the_holder_writes_its_pid_into_the_lock_file(lock_path: str) -> None:
    Path(lock_path).write_text("a much longer line left by an earlier run\n")
    with RunLock(lock_path):
        assert Path(lock_path).read_text() == f"{os.getpid()}\n"


def test_a_lock_held_by_another_live_process_blocks(
    lock_path: str, other_process_holding: subprocess.Popen[str]
) -> None:
    with pytest.raises(LockHeldError), RunLock(lock_path):
        pass


def test_a_lock_left_by_a_killed_process_does_not_block(
    lock_path: str, other_process_holding: subprocess.Popen[str]
) -> None:
    os.kill(other_process_holding.pid, signal.SIGKILL)
    other_process_holding.wait()
    with RunLock(lock_path):
        assert Path(lock_path).read_text() == f"{os.getpid()}\n"


def test_a_lock_file_that_cannot_be_opened_is_a_config_error(tmp_path: Path) -> None:
    path = str(tmp_path / "no-such-dir" / "run.lock")
    with pytest.raises(ConfigError) as raised, RunLock(path):
        pass
    assert (raised.value.file, raised.value.key) == (path, "lock_file")
