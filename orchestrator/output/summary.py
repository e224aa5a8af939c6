"""What a person at a terminal reads after a run: the summary, plan's changes, the failures.

Made from the run's records (:class:`~orchestrator.output.assemble.RunReport`), never from a
whole report model: the file was written vault by vault and a large run's report never exists
whole. Every failed, unhealthy or timed-out mapping is listed with its code and message (the
first :data:`FAILURES_MAX`, then how many more the report holds), so a failure is never only a
count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from orchestrator.asr.desired import DesiredSettings
from orchestrator.asr.mapping import MappingSettings
from orchestrator.output.assemble import RunReport
from orchestrator.output.report import Command
from orchestrator.work.outcomes import MappingResult, SubscriptionStatus, VaultStatus
from orchestrator.work.records import MappingWork

PLAN_ROWS_MAX: Final = 100  # beyond this many, plan's table points at the report instead
FAILURES_MAX: Final = 20
NONE_SHOWN: Final = "—"
LISTED_FAILURES: Final = (MappingResult.FAILED, MappingResult.UNHEALTHY, MappingResult.TIMED_OUT)


@dataclass(slots=True)
class SubscriptionRow:
    """What the summary says about one subscription."""

    id: str
    vaults: int = 0
    vaults_failed: int = 0
    note: str | None = None  # discovery could not list it, or left it alone
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
        if self.note is not None:
            return self.note
        return f"{self.vaults_failed} vaults failed" if self.vaults_failed else "ok"


def subscription_rows(report: RunReport) -> list[SubscriptionRow]:
    """One row per subscription: discovery's first (in its order), then explicit vaults'."""
    rows: dict[str, SubscriptionRow] = {}
    for sub in report.head.subscriptions or []:
        row = rows.setdefault(sub.id.lower(), SubscriptionRow(sub.id))
        if sub.status is SubscriptionStatus.ERROR and sub.error is not None:
            row.note = f"error: {sub.error.code}"
        elif sub.status is SubscriptionStatus.SKIPPED:
            row.note = f"skipped: {sub.state}"
    for vault in report.records:
        sub_id = vault.target.vault.subscription_id
        row = rows.setdefault(sub_id.lower(), SubscriptionRow(sub_id))
        row.vaults += 1
        row.vaults_failed += vault.status is VaultStatus.ERROR
        for mapping in vault.mappings:
            if mapping.result is not None:
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
    ("Unhealthy", MappingResult.UNHEALTHY),
    ("Not started", MappingResult.NOT_STARTED),
    ("Interrupted", MappingResult.INTERRUPTED),
)


def summary_table(report: RunReport) -> Table:
    """The run's outcome per subscription: vaults, and how their mappings ended.

    apply: changed, succeeded, failed, skipped, timed out; plan and audit: would change,
    skipped, failed. Columns that would only hold zeros for the rarer results, and "Status",
    appear only when they say something; a footer adds the totals for several subscriptions.
    """
    head = report.head
    rows = subscription_rows(report)
    fixed = _APPLY_COLUMNS if head.command is Command.APPLY else _PLAN_COLUMNS
    columns = [*fixed, *((n, r) for n, r in _OCCASIONAL if any(row.count(r) for row in rows))]
    totals = head.totals
    table = Table(
        title=(
            f"{head.command} {head.outcome} (exit {head.exit_code}) in "
            f"{head.duration_s:.1f}s: {totals.vaults} vaults, {totals.mappings} mappings"
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


def plan_rows(report: RunReport) -> Iterator[PlanRow]:
    """Every ``would_change`` mapping, with its current and desired settings in words."""
    for vault in report.records:
        for mapping in vault.mappings:
            if mapping.result is MappingResult.WOULD_CHANGE and mapping.desired is not None:
                current, wanted = _settings(mapping.before, mapping.desired)
                yield PlanRow(vault.target.vault.name, mapping.name, current, wanted)


def _settings(before: MappingSettings, desired: DesiredSettings) -> tuple[str, str]:
    """(current, desired) as ``status, account name, authentication type``."""
    current = _words(
        before.agent_auto_update_status,
        before.automation_account_arm_id,
        before.authentication_type,
    )
    if desired.agent_auto_update_status == "Disabled":
        wanted = _words("Disabled", before.automation_account_arm_id, before.authentication_type)
    else:
        wanted = _words(
            desired.agent_auto_update_status,
            desired.automation_account_arm_id,
            desired.authentication_type,
        )
    if before.health_errors:
        plural = "s" if before.health_errors > 1 else ""
        wanted += f" (repair: {before.health_errors} health error{plural})"
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


def failures(report: RunReport) -> Iterator[tuple[str, str, MappingWork]]:
    """(vault, subscription id, mapping) of every failed, unhealthy or timed-out mapping."""
    for vault in report.records:
        for mapping in vault.mappings:
            if mapping.result in LISTED_FAILURES:
                yield vault.target.vault.name, vault.target.vault.subscription_id, mapping


_ARM_ID: Final = re.compile(r"/subscriptions/[^\s/]+(?:/[^\s/]+)*/([^\s/]+/[^\s/]+)", re.IGNORECASE)


def shorten_ids(text: str) -> str:
    """Long ARM ids in a message cut to their last type and name (the report has them whole)."""
    return _ARM_ID.sub(r"…/\1", text)


def failures_table(report: RunReport) -> RenderableType | None:
    """The first :data:`FAILURES_MAX` failures and vault errors: one line each with its code,
    the message below it (ARM ids shortened; the report holds them whole)."""
    rows: list[tuple[str, str, str]] = []
    for vault in report.records:
        if vault.status is VaultStatus.ERROR and vault.error is not None:
            rows.append(
                (vault.target.vault.name, f"vault failed: {vault.error.code}", vault.error.message)
            )
    for vault_name, _, mapping in failures(report):
        error = mapping.error
        code = f"{mapping.result}: {error.code}" if error else str(mapping.result)
        rows.append((f"{vault_name} / {mapping.name}", code, error.message if error else ""))
    if not rows:
        return None
    lines: list[RenderableType] = [Text(f"needs attention ({len(rows)})", style="bold")]
    for where, code, message in rows[:FAILURES_MAX]:
        line = Text("  ")
        line.append(where, style="bold")
        line.append(f"  {code}", style="red")
        lines.append(line)
        if message:
            lines.append(Padding(Text(shorten_ids(message), style="dim"), (0, 0, 0, 6)))
    if len(rows) > FAILURES_MAX:
        lines.append(Text(f"  … and {len(rows) - FAILURES_MAX} more in the report"))
    return Group(*lines)


def print_outcome(report: RunReport, console: Console) -> None:
    """After a run: plan's changes (for ``plan``), the summary, then what needs attention."""
    parts: list[RenderableType] = []
    if report.head.command is Command.PLAN:
        rows = list(plan_rows(report))
        if rows:
            parts.append(plan_table(rows[:PLAN_ROWS_MAX], len(rows)))
    parts.append(summary_table(report))
    attention = failures_table(report)
    if attention is not None:
        parts.append(attention)
    console.print(Group(*parts))
