"""The run lock: one holder at a time, released on exit, never blocked by a dead holder, its
directory made private when missing.

``flock`` locks belong to an open file description, so another holder is played in-process by
a second description of the file (what another process would hold), and a holder's death by
closing it (what the kernel does when a process dies): no subprocess is needed.
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.app.lock import RunLock
from orchestrator.errors import ConfigError, LockHeldError


@pytest.fixture
def lock_path(tmp_path: Path) -> str:
    return str(tmp_path / "asr-autoupdate.lock")


class Holder:
    """Another run holding the lock the way RunLock takes it, until it lets go."""

    def __init__(self, path: str) -> None:
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(self._fd, b"4242\n")

    def dies(self) -> None:
        """Its process died: the kernel closes its descriptors, which drops the lock."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@pytest.fixture
def another_holder(lock_path: str) -> Iterator[Holder]:
    holder = Holder(lock_path)
    yield holder
    holder.dies()


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


def test_a_lock_file_is_private_to_its_owner(lock_path: str) -> None:
    with RunLock(lock_path):
        assert stat.S_IMODE(os.stat(lock_path).st_mode) & 0o077 == 0


def test_a_lock_held_by_another_run_blocks(lock_path: str, another_holder: Holder) -> None:
    with pytest.raises(LockHeldError), RunLock(lock_path):
        pass
    assert Path(lock_path).read_text() == "4242\n"  # the holder's PID is left alone


def test_a_lock_left_by_a_killed_run_does_not_block(lock_path: str, another_holder: Holder) -> None:
    another_holder.dies()
    with RunLock(lock_path):
        assert Path(lock_path).read_text() == f"{os.getpid()}\n"


def test_a_refused_attempt_leaves_nothing_open(lock_path: str, another_holder: Holder) -> None:
    lock = RunLock(lock_path)
    with pytest.raises(LockHeldError), lock:
        pass
    assert "held=False" in repr(lock)
    another_holder.dies()
    with lock:  # the same lock object can be taken once the holder is gone
        pass


# --- the lock's directory ------------------------------------------------------------------------


def test_a_missing_directory_is_created_private(tmp_path: Path) -> None:
    """/run/asr-autoupdate exists only under systemd: elsewhere it is made, owner-only."""
    directory = tmp_path / "run" / "asr-autoupdate"
    path = str(directory / "run.lock")
    with RunLock(path):
        assert Path(path).read_text() == f"{os.getpid()}\n"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_an_existing_directory_is_left_as_it_is(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    with RunLock(str(directory / "run.lock")):
        pass
    assert stat.S_IMODE(directory.stat().st_mode) == 0o755


def test_a_directory_that_cannot_be_created_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    path = str(tmp_path / "file" / "sub" / "run.lock")
    with pytest.raises(ConfigError) as raised, RunLock(path):
        pass
    assert (raised.value.file, raised.value.key) == (path, "lock_file")
    assert "cannot create the lock's directory" in raised.value.problem


def test_a_lock_file_that_cannot_be_opened_is_a_config_error(tmp_path: Path) -> None:
    path = str(tmp_path / "a-directory")
    os.mkdir(path)
    with pytest.raises(ConfigError) as raised, RunLock(path):
        pass
    assert (raised.value.file, raised.value.key) == (path, "lock_file")
    assert "cannot open the lock file" in raised.value.problem
