"""What a person at a terminal sees: a live progress display while a run works, then tables.

Everything here draws on a rich :class:`~rich.console.Console` on stderr and is used only when
stderr is a terminal (the CLI decides). Nothing here changes what a run does or reports.

- :class:`LiveProgress` redraws a :class:`~orchestrator.progress.Progress` snapshot a few times
  a second from a task on the event loop (no thread: the counters are read where they are
  written). While it runs, ``sys.stderr`` is rich's proxy, so lines written to stderr — the logs,
  when they were configured with :class:`CurrentStderr` — print above the display, not through it.
- :func:`print_outcome` prints the per-subscription summary and, for ``plan``, each mapping
  that would change with its current and desired settings.
"""

from __future__ import annotations

import asyncio
import io
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, Self, TextIO, cast

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from orchestrator.asr.desired import Action, DesiredState
from orchestrator.config.model import Config
from orchestrator.output.report import Command, MappingReport, MappingResult, Report, VaultStatus
from orchestrator.work.progress import Progress, ProgressSnapshot

REFRESH_SECONDS: Final = 0.25
PLAN_ROWS_MAX: Final = 100  # beyond this many, plan's table points at the report instead
NONE_SHOWN: Final = "—"


class CurrentStderr(io.TextIOBase):
    """A text stream that writes to whatever ``sys.stderr`` is at the time of each write.

    Configure logging with it (see :func:`log_stream`) so a :class:`LiveProgress`, which swaps
    ``sys.stderr`` for rich's proxy while it runs, prints log lines above the display instead
    of through it.
    """

    def __repr__(self) -> str:
        return "<CurrentStderr>"

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()

    def fileno(self) -> int:
        return sys.stderr.fileno()


def log_stream() -> TextIO:
    """The stream to configure logging with: stderr, whatever it is when a line is written."""
    return cast("TextIO", CurrentStderr())


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


def _limiter_line(snapshot: ProgressSnapshot) -> str:
    limits = snapshot.limits
    if limits is None:
        return "not started"
    return (
        f"waiting: {limits.get_waiting} GET, {limits.set_waiting} PATCH · "
        f"429 pauses: {limits.pauses}"
    )


# --- after the run ---------------------------------------------------------------------------


@dataclass(slots=True)
class _SubscriptionRow:
    """What the summary says about one subscription."""

    id: str
    vaults: int = 0
    vaults_failed: int = 0
    error: str | None = None  # discovery could not list its vaults
    results: dict[MappingResult, int] = field(default_factory=dict)

    def count(self, result: MappingResult) -> int:
        return self.results.get(result, 0)

    @property
    def mappings(self) -> int:
        return sum(self.results.values())

    @property
    def changed(self) -> int:
        return (
            self.mappings
            - self.count(MappingResult.SKIPPED)
            - self.count(MappingResult.WOULD_CHANGE)
        )

    @property
    def status(self) -> str:
        if self.error is not None:
            return f"error: {self.error}"
        return f"{self.vaults_failed} vaults failed" if self.vaults_failed else "ok"


def subscription_rows(report: Report) -> list[_SubscriptionRow]:
    """One row per subscription: discovery's first (in its order), then explicit vaults'."""
    rows: dict[str, _SubscriptionRow] = {}
    for sub in report.subscriptions or []:
        row = rows.setdefault(sub.id.lower(), _SubscriptionRow(sub.id))
        if sub.status is VaultStatus.ERROR and sub.error is not None:
            row.error = sub.error.code
    for vault in report.vaults:
        row = rows.setdefault(
            vault.subscription_id.lower(), _SubscriptionRow(vault.subscription_id)
        )
        row.vaults += 1
        row.vaults_failed += vault.status is VaultStatus.ERROR
        for mapping in vault.mappings:
            row.results[mapping.result] = row.count(mapping.result) + 1
    return list(rows.values())


# (header, result counted; None: changed) for apply and for plan
_APPLY_COLUMNS: Final = (
    ("Changed", None),
    ("Succeeded", MappingResult.SUCCEEDED),
    ("Failed", MappingResult.FAILED),
    ("Skipped", MappingResult.SKIPPED),
    ("Timed out", MappingResult.TIMED_OUT),
)
_PLAN_COLUMNS: Final = (
    ("Would change", MappingResult.WOULD_CHANGE),
    ("Skipped", MappingResult.SKIPPED),
    ("Failed", MappingResult.FAILED),
)
_OCCASIONAL: Final = (  # shown only when not zero
    ("Not started", MappingResult.NOT_STARTED),
    ("Interrupted", MappingResult.INTERRUPTED),
)


def summary_table(report: Report) -> Table:
    """The run's outcome per subscription: vaults, and how their mappings ended.

    apply: changed, succeeded, failed, skipped, timed out; plan: would change, skipped,
    failed. "Not started", "Interrupted" and "Status" columns appear only when they say
    something; a footer adds the totals when there are several subscriptions.
    """
    rows = subscription_rows(report)
    fixed = _PLAN_COLUMNS if report.command is Command.PLAN else _APPLY_COLUMNS
    columns = [*fixed, *((n, r) for n, r in _OCCASIONAL if any(row.count(r) for row in rows))]
    totals = report.totals
    table = Table(
        title=(
            f"{report.command} {report.outcome} (exit {report.exit_code}) in "
            f"{report.duration_s:.1f}s: {totals.vaults} vaults, {totals.mappings} mappings"
        ),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_footer=len(rows) > 1,
        pad_edge=False,
    )
    # On a narrow terminal the subscription id folds; the counts and their headings never shrink.
    table.add_column("Subscription", "Total", overflow="fold")
    table.add_column("Vaults", str(totals.vaults), justify="right", min_width=6, no_wrap=True)
    for name, result in columns:
        total = totals.changed if result is None else sum(row.count(result) for row in rows)
        table.add_column(name, str(total), justify="right", min_width=len(name), no_wrap=True)
    with_status = any(row.status != "ok" for row in rows)
    if with_status:
        table.add_column("Status", overflow="fold")
    for row in rows:
        cells = [row.id, str(row.vaults)]
        cells += [str(row.changed if r is None else row.count(r)) for _, r in columns]
        cells += [row.status] if with_status else []
        table.add_row(*cells, style="red" if row.status != "ok" else None)
    return table


@dataclass(frozen=True, slots=True)
class PlanRow:
    """A mapping ``plan`` would change: where it is, what it has, and what it would get."""

    vault: str
    mapping: str
    current: str
    desired: str


def plan_rows(report: Report, config: Config) -> list[PlanRow]:
    """Every ``would_change`` mapping, with its current and desired settings in words."""
    explicit = {target.vault.key: target.desired for target in config.vault_targets()}
    default = config.default_desired()
    rows: list[PlanRow] = []
    for vault in report.vaults:
        desired = explicit.get(vault.id.lower(), default)
        vault_name = _last_segment(vault.id)
        for mapping in vault.mappings:
            if mapping.result is MappingResult.WOULD_CHANGE:
                current, wanted = _settings(mapping, desired)
                rows.append(PlanRow(vault_name, _last_segment(mapping.id), current, wanted))
    return rows


def _settings(mapping: MappingReport, desired: DesiredState) -> tuple[str, str]:
    """(current, desired) as ``status, account name, authentication type``."""
    before = mapping.before
    status = before.agent_auto_update_status if before else None
    account = before.automation_account_arm_id if before else None
    auth = before.authentication_type if before else None
    current = _words(status, account, auth)
    if desired.action is Action.DISABLE:
        wanted = _words("Disabled", account, auth)
    else:
        kept = account if desired.keeps_account else desired.automation_account
        wanted = _words("Enabled", kept, desired.authentication_type.value)
    health = before.health_errors if before else 0
    if health:
        wanted += f" (repair: {health} health error{'s' if health > 1 else ''})"
    return current, wanted


def _words(status: str | None, account: str | None, auth: str | None) -> str:
    name = _last_segment(account) if account else None
    return ", ".join(value or NONE_SHOWN for value in (status, name, auth))


def _last_segment(arm_id: str) -> str:
    return arm_id.rstrip("/").rsplit("/", 1)[-1]


def plan_table(rows: Iterable[PlanRow], total: int) -> RenderableType:
    """The mappings plan would change, at most :data:`PLAN_ROWS_MAX` of them, then a note
    saying how many more there are (every one is in the report)."""
    table = Table(
        title="would change (status, Automation account, authentication)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("Vault", no_wrap=True)
    table.add_column("Mapping", overflow="fold")
    table.add_column("Current", overflow="fold")
    table.add_column("Desired", overflow="fold")
    for row in rows:
        table.add_row(row.vault, row.mapping, row.current, row.desired)
    if total <= PLAN_ROWS_MAX:
        return table
    return Group(table, Text(f"… and {total - PLAN_ROWS_MAX} more: every mapping is in the report"))


def print_outcome(report: Report, config: Config, console: Console) -> None:
    """After a run: plan's changes (for ``plan``), then the summary per subscription."""
    parts: list[RenderableType] = []
    if report.command is Command.PLAN:
        rows = plan_rows(report, config)
        if rows:
            parts.append(plan_table(rows[:PLAN_ROWS_MAX], len(rows)))
    parts.append(summary_table(report))
    console.print(Group(*parts))
