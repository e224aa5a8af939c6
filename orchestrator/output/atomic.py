"""Replace a file atomically: a reader sees the old file or the whole new one, never part.

For every file the tool writes whole: the report, the HTML page, the metrics file. The text goes
to a temporary file in the same directory (so the rename stays on one filesystem), is flushed
and fsynced, then renamed over the target; the directory is fsynced so the rename itself
survives a crash. The temporary file is named ``.NAME.PID.RANDOM.tmp``: by the writer's PID, so
a later run can tell one a killed writer left (:func:`remove_stale_temp_files`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path


def replace_file(
    path: str | os.PathLike[str], text: str | Iterable[str], *, mode: int | None = None
) -> None:
    """Write ``text`` (UTF-8; a string or pieces written in turn) to ``path`` atomically.

    ``mode``: the file's permission bits, set whatever the umask (e.g. ``0o644`` for a file
    another user's daemon must read); None leaves them to the umask. The temporary file's name
    starts with a dot and ends in ``.tmp``, so collectors that read ``*.prom`` or ``*.html``
    never see it. Raises OSError (missing directory, no permission, ``path`` a directory…);
    on any failure the temporary file is removed and the old file is left as it was.
    """
    target = Path(path)
    directory = target.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write {target}: directory {directory} does not exist")
    temp = directory / f".{target.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp"
    try:
        # "x": a random name never reuses another writer's temp file.
        with temp.open("x", encoding="utf-8", newline="\n") as handle:
            handle.writelines([text] if isinstance(text, str) else text)
            handle.flush()
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable; best effort, as not every OS or filesystem allows it."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temp_files(target: Path) -> None:
    """Remove ``.NAME.PID.*.tmp`` files beside ``target`` whose writer process is gone."""
    with contextlib.suppress(OSError):
        for temp in target.parent.glob(f".{target.name}.*.tmp"):
            parts = temp.name[len(target.name) + 2 :].split(".")
            if len(parts) == 3 and parts[0].isdigit() and not _alive(int(parts[0])):
                with contextlib.suppress(OSError):
                    temp.unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, but is not ours to signal
    return True
