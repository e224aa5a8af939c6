"""The report as a file: rendered in pieces, written atomically, read back.

A report's text is pydantic's ``model_dump_json(indent=2)`` of its :class:`Report`, with a
trailing newline. A large run's report need not exist whole to be written: its head (a ``Report``
with no vaults) and its vaults, rendered one at a time, join to exactly that text.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Final, TextIO

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from orchestrator.errors import ReportError
from orchestrator.output.atomic import remove_stale_temp_files, replace_file
from orchestrator.output.report import Report, VaultReport

# Where the vaults go in the text of a report rendered without them. JSON strings hold no raw
# newline, so only the top-level key can match.
_NO_VAULTS: Final = '\n  "vaults": []'


def render_pieces(report: Report, vaults: Iterable[VaultReport] | None = None) -> Iterator[str]:
    """The report's JSON text in pieces: the head, one piece per vault, the tail.

    ``vaults``, when given, are rendered in place of ``report.vaults`` (leave those empty), each
    only when its piece is asked for: neither every vault's models nor the whole text need exist
    at once. Joined, the pieces are exactly pydantic's ``model_dump_json(indent=2)`` of the
    report with those vaults, and a trailing newline.
    """
    if vaults is None:
        vaults = report.vaults
    empty = report.model_copy(update={"vaults": []})
    head, tail = empty.model_dump_json(indent=2, by_alias=True).split(_NO_VAULTS, 1)
    yield head + '\n  "vaults": ['
    any_vault = False
    for vault in vaults:
        # A vault nested two levels deep: pydantic's own layout, indented four spaces more.
        text = vault.model_dump_json(indent=2, by_alias=True).replace("\n", "\n    ")
        yield (",\n    " if any_vault else "\n    ") + text
        any_vault = True
    yield ("\n  ]" if any_vault else "]") + tail + "\n"


def write_report(
    report: Report,
    path: str | os.PathLike[str] | None,
    *,
    stdout: TextIO,
    vaults: Iterable[VaultReport] | None = None,
    scrub: Callable[[str], str] | None = None,
) -> None:
    """Write the report to ``path`` atomically, or to ``stdout`` when ``path`` is None.

    ``vaults``, when given, stand in for ``report.vaults`` and are rendered and written one at a
    time (:func:`render_pieces`), so a large report is never held whole. ``scrub`` is applied
    to every piece (the run's secrets, should a server have echoed one into a message).
    A reader sees the old file or the whole new one, never part of one: the text goes to a
    temporary file in the same directory, is flushed and fsynced, then renamed over ``path``.
    On failure the temporary file is removed and the old report is left as it was. A missing
    directory raises FileNotFoundError naming it. Blocking: call it once, at the end of a run.
    """
    pieces: Iterable[str] = render_pieces(report, vaults)
    if scrub is not None:
        pieces = map(scrub, pieces)
    if path is None:
        stdout.writelines(pieces)
        stdout.flush()
        return
    replace_file(path, pieces)


def check_writable(path: str | os.PathLike[str]) -> None:
    """Raise OSError (with a reason a person can act on) unless a report can be written there.

    Really tries: a temporary file is created in the directory and removed. Also removes the
    temporary files that writers killed mid-write left beside ``path``.
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a directory")
    directory = target.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"the directory {directory} does not exist")
    remove_stale_temp_files(target)
    probe = directory / f".{target.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp"
    with probe.open("x", encoding="utf-8"):
        pass
    probe.unlink()
    if target.exists() and not os.access(target, os.W_OK):
        raise PermissionError(f"{target} exists and is not writable")


def load_report(path: str | os.PathLike[str]) -> Report:
    """Read back a report written by :func:`write_report` (``--resume``, ``--retry``,
    ``--restore``, ``report show``, ``report html``).

    Raises ReportError naming the file when it cannot be read or is not a v1 report.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"cannot read report {os.fspath(path)}: {exc}") from exc
    try:
        return Report.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors()[:5])
        raise ReportError(f"{os.fspath(path)} is not a valid report: {problems}") from exc


def _describe(error: ErrorDetails) -> str:
    """One pydantic error as ``key.path: message``, without echoing the offending value."""
    where = ".".join(str(part) for part in error["loc"]) or "(top level)"
    return f"{where}: {error['msg']}"
