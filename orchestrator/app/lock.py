"""The run lock: an OS-level lock on ``lock_file`` held for the whole run.

``flock`` locks die with their process, so a lock left by a killed run never blocks the next.
"""

from __future__ import annotations

import fcntl
import os
from types import TracebackType

from orchestrator.errors import ConfigError, LockHeldError


class RunLock:
    """Hold an exclusive lock on ``path`` while inside ``with``; :class:`LockHeldError` if taken."""

    __slots__ = ("_fd", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None  # the open lock file while held

    def __repr__(self) -> str:
        return f"<RunLock path={self.path!r} held={self._fd is not None}>"

    def __enter__(self) -> RunLock:
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            # A directory like /run/asr-autoupdate exists only under systemd: make it, private.
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                self.path,
                "lock_file",
                f"cannot create the lock's directory {directory}: {exc.strerror}",
            ) from exc
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigError(
                self.path, "lock_file", f"cannot open the lock file: {exc.strerror}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise LockHeldError(self.path) from exc
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
