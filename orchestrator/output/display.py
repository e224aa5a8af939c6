"""What a person at a terminal sees: a live progress display while a run works, then tables.

Everything here draws on a rich :class:`~rich.console.Console` on stderr and is used only when
stderr is a terminal (the CLI decides). Nothing here changes what a run does or reports.

- :class:`LiveProgress` redraws a :class:`~orchestrator.progress.Progress` snapshot a few times
  a second from a task on the event loop (no thread: the counters are read where they are
  written). While it runs, ``sys.stderr`` is rich's proxy, so lines written to stderr — the logs,
  when they were configured with :class:`~orchestrator.output.logs.CurrentStderr` — print above the display, not through it.
- what follows a run (the summary, plan's changes, the failures) is :mod:`.summary`'s.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Final, Self, TextIO

from rich import box
from rich.console import Console, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from orchestrator.output.assemble import RunReport
from orchestrator.output.report import Command
from orchestrator.output.summary import print_outcome
from orchestrator.work.progress import Progress, ProgressSnapshot

REFRESH_SECONDS: Final = 0.25


def stderr_console(stream: TextIO | None = None) -> Console:
    """A console drawing on ``stream`` (default: the real stderr now, never a later proxy)."""
    return Console(file=stream if stream is not None else sys.stderr, highlight=False)


# --- the live progress display ---------------------------------------------------------------


class LiveProgress:
    """An async context manager that shows ``progress`` live until the block ends.

    ``changes``: also show PATCH and operation counts (``apply``; ``plan`` sends none).
    The last frame stays on screen when the block ends, however it ends.
    """

    __slots__ = ("_changes", "_live", "_progress", "_started", "_task", "_title")

    def __init__(
        self, progress: Progress, *, console: Console, title: str, changes: bool = True
    ) -> None:
        self._progress = progress
        self._title = title
        self._changes = changes
        self._started = time.monotonic()
        self._live = Live(
            console=console,
            auto_refresh=False,  # redrawn by our task on the loop, never from a thread
            redirect_stdout=False,  # stdout may carry the JSON report: leave it alone
            redirect_stderr=True,
            get_renderable=self.render,
        )
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<LiveProgress {self._title!r} {self._progress!r}>"

    def render(self) -> RenderableType:
        """The display for the progress as it stands now."""
        elapsed = time.monotonic() - self._started
        return progress_panel(self._progress.snapshot(), self._title, elapsed, self._changes)

    async def __aenter__(self) -> Self:
        self._started = time.monotonic()
        self._live.start(refresh=True)
        self._task = asyncio.create_task(self._redraw())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._task is not None:
                self._task.cancel()
                await asyncio.wait([self._task])  # raises only if *we* are cancelled
        finally:
            self._live.stop()  # draws the last frame and gives sys.stderr back

    async def _redraw(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            self._live.refresh()


def live_progress(command: Command, console: Console) -> Callable[[Progress], LiveProgress]:
    """What the runner calls with its :class:`Progress` to show it live for ``command``."""

    def watch(progress: Progress) -> LiveProgress:
        return LiveProgress(
            progress,
            console=console,
            title=f"asr-autoupdate {command}",
            changes=command is Command.APPLY,
        )

    return watch


def progress_panel(
    snapshot: ProgressSnapshot, title: str, elapsed: float, changes: bool
) -> RenderableType:
    """One frame: vaults listed of total, PATCHes, operations, and the limiters' waits."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("Vaults", _vaults_line(snapshot))
    if changes:
        refused = f" ({snapshot.patches_failed} refused)" if snapshot.patches_failed else ""
        grid.add_row("PATCHes", f"{snapshot.patches_sent} sent{refused}")
        failed = f" ({snapshot.operations_failed} failed)" if snapshot.operations_failed else ""
        grid.add_row(
            "Operations",
            f"{snapshot.operations_done} finished{failed} · {snapshot.operations_running} running",
        )
    grid.add_row("Limiter", _limiter_line(snapshot))
    pace = _pace_line(snapshot)
    if changes and pace:
        grid.add_row("Pace", pace)
    minutes, seconds = divmod(int(elapsed), 60)
    heading = f"{title} · {snapshot.phase} · {minutes}:{seconds:02d}"
    return Panel(grid, title=heading, title_align="left", box=box.ROUNDED, expand=False)


def _vaults_line(snapshot: ProgressSnapshot) -> RenderableType:
    if snapshot.vaults_total is None:
        return Text("discovering…")
    total = snapshot.vaults_total
    failed = f" ({snapshot.vaults_failed} failed)" if snapshot.vaults_failed else ""
    words = Text(
        f" {snapshot.vaults_listed}/{total} listed{failed} · {snapshot.mappings_listed} mappings"
    )
    bar = ProgressBar(total=max(total, 1), completed=snapshot.vaults_listed, width=24)
    line = Table.grid()
    line.add_row(bar, words)
    return line


def _pace_line(snapshot: ProgressSnapshot) -> str | None:
    """PATCHes a minute so far, and when the queued ones will have been sent at the quota's pace."""
    parts = []
    if snapshot.rate is not None:
        parts.append(f"{snapshot.rate:.0f} PATCH/min")
    if snapshot.patches_queued:
        parts.append(f"{snapshot.patches_queued} queued")
    if snapshot.eta_s is not None and snapshot.patches_queued:
        minutes, seconds = divmod(int(snapshot.eta_s + 0.5), 60)
        parts.append(f"ETA {minutes}:{seconds:02d} to send them")
    return " · ".join(parts) or None


def outcome_printer(console: Console) -> Callable[[RunReport], None]:
    """What the CLI calls with a finished run's report, on a terminal."""
    return lambda report: print_outcome(report, console)


def _limiter_line(snapshot: ProgressSnapshot) -> str:
    limits = snapshot.limits
    if limits is None:
        return "not started"
    return (
        f"waiting: {limits.get_waiting} GET, {limits.set_waiting} PATCH · "
        f"429 pauses: {limits.pauses}"
    )
