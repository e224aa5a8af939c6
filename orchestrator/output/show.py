"""A saved report on the terminal (`asr-autoupdate report show REPORT`).

What a person reads the morning after a run: the header, the totals, the warnings, then every
thing to act on — subscriptions and vaults that could not be read, each failed, unhealthy,
timed-out or interrupted mapping with its error (and ASR's health errors and recommended action
for an unhealthy one), and for an audit every agent that is not current. Resources are shown by
name (the last segment of their ARM id), never cut: a long name or code folds onto the next
line. Works for any command's report; keys a command does not write are simply not shown.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import groupby
from typing import Final, TextIO

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from orchestrator.asr.agents import AgentState
from orchestrator.asr.rules import SkipReason
from orchestrator.output.attention import (
    ATTENTION_RESULTS,
    NOT_CURRENT_STATES,
    AgentIssue,
    Hint,
    MappingIssue,
    agent_issues,
    duration_words,
    hint_for,
    hints,
    mapping_issues,
    resource_group,
    resource_name,
    subscriptions_not_searched,
    utc_words,
    vaults_in_error,
)
from orchestrator.output.report import Command, Report, VaultReport
from orchestrator.work.outcomes import ErrorInfo, MappingResult

NONE_SHOWN: Final = "—"
INDENT: Final = 2
# The results a command's totals always name, even at zero; any other shows when not zero.
_ALWAYS: Final = {
    Command.APPLY: (
        MappingResult.SUCCEEDED,
        MappingResult.FAILED,
        MappingResult.UNHEALTHY,
        MappingResult.SKIPPED,
        MappingResult.TIMED_OUT,
    ),
    Command.PLAN: (MappingResult.WOULD_CHANGE, MappingResult.SKIPPED),
    Command.AUDIT: (MappingResult.WOULD_CHANGE, MappingResult.SKIPPED),
    Command.VALIDATE: (),
}
_RESULT_ORDER: Final = (
    MappingResult.SUCCEEDED,
    MappingResult.WOULD_CHANGE,
    MappingResult.SKIPPED,
    MappingResult.FAILED,
    MappingResult.UNHEALTHY,
    MappingResult.TIMED_OUT,
    MappingResult.INTERRUPTED,
    MappingResult.NOT_STARTED,
)
_RESULT_STYLE: Final = {
    MappingResult.FAILED: "red",
    MappingResult.UNHEALTHY: "red",
    MappingResult.TIMED_OUT: "yellow",
    MappingResult.INTERRUPTED: "yellow",
}
_AGENT_STYLE: Final = {
    AgentState.EXPIRED: "red",
    AgentState.EXPIRING: "yellow",
    AgentState.UPDATE_REQUIRED: "yellow",
}
# Column widths of the agents' rows: `update_required`, a version like 9.62.7172.1, two dates.
_STATE_WIDTH: Final = len("update required")
_VERSION_WIDTH: Final = 12
_DATE_WIDTH: Final = len("2026-11-25")
_AGENT_HEADINGS: Final = ("item", "state", "version", "agent exp.", "cert exp.")


def show_report(report: Report, out: TextIO, *, width: int = 80) -> None:
    """Write ``report`` for a person to ``out``, no line wider than ``width`` columns.

    Colour only when ``out`` is a terminal; plain text (no escape codes, no trailing spaces)
    otherwise. Every item to act on is listed, however many: this is the full account.
    """
    tty = out.isatty()
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=tty,
        no_color=not tty,
        color_system="standard" if tty else None,
        markup=False,  # a report's text comes from servers: never read it as markup
        emoji=False,
        highlight=False,
        legacy_windows=False,
    )
    for part in _sections(report):
        console.print(part)
    out.writelines(line.rstrip(" ") + "\n" for line in buffer.getvalue().splitlines())
    out.flush()


def _sections(report: Report) -> Iterator[RenderableType]:
    yield _header(report)
    yield _titled("Totals", _totals(report))
    if report.warnings:
        rows = [(Text(w.code, style="yellow"), Text(w.message)) for w in report.warnings]
        yield _titled(f"Warnings ({len(report.warnings)})", _pairs(rows))
    subs = subscriptions_not_searched(report)
    if subs:
        yield _titled(f"Subscriptions not searched ({len(subs)})", _subscriptions(report))
    broken = vaults_in_error(report)
    if broken:
        yield _titled(f"Vaults that could not be listed ({len(broken)})", _broken_vaults(broken))
    issues = list(mapping_issues(report))
    if issues:
        yield _titled(_issues_title(issues), _mapping_issues(issues))
    agents = list(agent_issues(report, NOT_CURRENT_STATES))
    if agents:
        counted = report.totals.agents
        of = f" of {_total_agents(report):,}" if counted is not None else ""
        yield _titled(f"Agents not current ({len(agents):,}{of})", _agent_issues(agents))


def _header(report: Report) -> RenderableType:
    style = "green" if report.exit_code == 0 else "red"
    title = Text(f"asr-autoupdate {report.command}: ", style="bold")
    title.append(f"{report.outcome} (exit {report.exit_code})", style=f"bold {style}")
    finished = utc_words(report.finished_at)
    rows = [
        ("run", report.run_id or NONE_SHOWN),
        (
            "when",
            f"{utc_words(report.started_at)} to {finished} ({duration_words(report.duration_s)})",
        ),
        ("action", report.action or NONE_SHOWN),
    ]
    if report.config is not None:
        rows.append(("config", f"{report.config.path} (sha256 {report.config.sha256[:12]}…)"))
    rows.append(("tool", f"asr-autoupdate {report.tool_version or NONE_SHOWN}"))
    cells = [(Text(key), Text(value)) for key, value in rows]
    if report.error is not None:
        error = _error_text(report.error)
        hint = hint_for(report.error.code)
        if hint:
            error.append(f"\n→ {hint}", style="cyan")
        cells.append((Text("error", style="red"), error))
    return Group(title, _pairs(cells))


def _totals(report: Report) -> RenderableType:
    totals = report.totals
    failed = f" ({totals.vaults_failed:,} could not be listed)" if totals.vaults_failed else ""
    rows = [("vaults", f"{totals.vaults:,}{failed}")]
    if report.subscriptions is not None:
        rows.append(("subscriptions", _subscription_counts(report)))
    rows.append(("mappings", f"{totals.mappings:,}{_by_result(report)}"))
    calls = report.calls
    rows.append(
        (
            "calls",
            f"{calls.get:,} GET, {calls.set:,} PATCH; {calls.throttled:,} throttled (429), "
            f"{calls.retried:,} retried",
        )
    )
    if totals.agents is not None:
        states = ", ".join(
            f"{getattr(totals.agents, state.value):,} {_words(state)}" for state in AgentState
        )
        rows.append(("agents", f"{_total_agents(report):,}: {states}"))
    return _pairs([(Text(key), Text(value)) for key, value in rows])


def _by_result(report: Report) -> str:
    """``: 3 succeeded, 2 skipped (1 compliant, 1 not_a2a), …`` or nothing for no mappings."""
    always = _ALWAYS[report.command]
    shown = [r for r in _RESULT_ORDER if r in always or getattr(report.totals, r.value)]
    if not shown:
        return ""
    reasons = Counter(
        m.skip_reason for v in report.vaults for m in v.mappings if m.skip_reason is not None
    )
    parts = []
    for result in shown:
        part = f"{getattr(report.totals, result.value):,} {_words(result)}"
        if result is MappingResult.SKIPPED and reasons:
            why = (f"{reasons[reason]:,} {reason}" for reason in SkipReason if reasons[reason])
            part += f" ({', '.join(why)})"
        parts.append(part)
    return ": " + ", ".join(parts)


def _subscription_counts(report: Report) -> str:
    counts = Counter(sub.status.value for sub in report.subscriptions or [])
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "0"


def _total_agents(report: Report) -> int:
    agents = report.totals.agents
    return sum(getattr(agents, state.value) for state in AgentState) if agents else 0


def _subscriptions(report: Report) -> RenderableType:
    rows = []
    for sub in subscriptions_not_searched(report):
        detail = Text(f"{sub.status}" + (f" ({sub.state})" if sub.state else ""))
        if sub.error is not None:
            detail.append("\n").append_text(_error_text(sub.error))
        rows.append((Text(sub.id), detail))
    return _pairs(rows, fold_key=True)


def _broken_vaults(vaults: list[VaultReport]) -> RenderableType:
    parts: list[RenderableType] = []
    for vault in vaults:
        parts.append(_vault_line(vault))
        if vault.error is not None:
            parts.append(Padding(_error_text(vault.error), (0, 0, 0, INDENT)))
    causes = ((v.error.code, hint_for(v.error.code)) for v in vaults if v.error is not None)
    parts.extend(_what_to_do(hints(causes)))
    return Group(*parts)


def _issues_title(issues: list[MappingIssue]) -> str:
    counts = Counter(issue.mapping.result for issue in issues)
    which = ", ".join(f"{counts[r]:,} {_words(r)}" for r in ATTENTION_RESULTS if counts[r])
    return f"Mappings to look at ({len(issues):,}: {which})"


def _mapping_issues(issues: list[MappingIssue]) -> RenderableType:
    parts: list[RenderableType] = []
    for _, group in groupby(issues, key=lambda issue: issue.vault.id):
        in_vault = list(group)
        parts.append(_vault_line(in_vault[0].vault))
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(no_wrap=True, width=len("interrupted"))
        grid.add_column(overflow="fold", ratio=1)
        for issue in in_vault:
            result = issue.mapping.result
            grid.add_row(
                Text(_words(result), style=_RESULT_STYLE.get(result, "")), _issue_detail(issue)
            )
        parts.append(Padding(grid, (0, 0, 0, INDENT)))
    parts.extend(_what_to_do(hints((issue.cause, issue.hint) for issue in issues)))
    return Group(*parts)


def _issue_detail(issue: MappingIssue) -> Text:
    """The mapping's name, its error (or where its operation was left), ASR's health errors."""
    detail = Text(issue.name, style="bold")
    if issue.error is not None:
        detail.append("\n").append_text(_error_text(issue.error))
    elif issue.note is not None:
        detail.append(f"\n{issue.note}")
    for health in issue.health:
        detail.append("\nhealth ")
        detail.append(health.code or NONE_SHOWN, style="red")
        detail.append(f": {health.message or NONE_SHOWN}")
        if health.recommended_action:
            detail.append(f"\n→ {health.recommended_action}", style="cyan")
    return detail


def _what_to_do(found: list[Hint]) -> list[RenderableType]:
    """``What to do`` and each hint once, after the causes it answers (with their counts)."""
    if not found:
        return []
    rows = []
    for hint in found:
        causes = ", ".join(f"{cause} ({n:,})" for cause, n in hint.causes)
        rows.append((Text(causes, style="bold"), Text(f"→ {hint.text}", style="cyan")))
    lines: list[RenderableType] = [Text(""), Text("What to do", style="bold")]
    for causes_text, hint_text in rows:
        lines.append(
            Padding(Group(causes_text, Padding(hint_text, (0, 0, 0, INDENT))), (0, 0, 0, INDENT))
        )
    return lines


def _agent_issues(issues: list[AgentIssue]) -> RenderableType:
    heading = [Text(word, style="dim") for word in _AGENT_HEADINGS]
    parts: list[RenderableType] = [Padding(_agent_grid([heading]), (0, 0, 0, INDENT))]
    for _, group in groupby(issues, key=lambda issue: issue.vault.id):
        in_vault = list(group)
        parts.append(_vault_line(in_vault[0].vault))
        rows = [_agent_row(issue) for issue in in_vault]
        parts.append(Padding(_agent_grid(rows), (0, 0, 0, INDENT)))
    parts.extend(_what_to_do(hints((i.item.agent_state.value, i.hint) for i in issues)))
    return Group(*parts)


def _agent_row(issue: AgentIssue) -> list[Text]:
    item = issue.item
    return [
        Text(item.name),
        Text(_words(item.agent_state), style=_AGENT_STYLE.get(item.agent_state, "")),
        Text(item.agent_version or NONE_SHOWN),
        Text(_date(item.agent_expiry)),
        Text(_date(item.certificate_expiry)),
    ]


def _agent_grid(rows: Iterable[list[Text]]) -> Table:
    """Fixed widths, so the rows of every vault line up under the one heading."""
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(overflow="fold", ratio=1)
    grid.add_column(no_wrap=True, width=_STATE_WIDTH)
    grid.add_column(overflow="fold", width=_VERSION_WIDTH)
    grid.add_column(no_wrap=True, width=_DATE_WIDTH)
    grid.add_column(no_wrap=True, width=_DATE_WIDTH)
    for row in rows:
        grid.add_row(*row)
    return grid


def _vault_line(vault: VaultReport) -> Text:
    """``NAME  rg RG · sub SUBSCRIPTION`` — where the vault is, without its whole ARM id."""
    line = Text(resource_name(vault.id), style="bold")
    group = resource_group(vault.id)
    where = (f"rg {group} · " if group else "") + f"sub {vault.subscription_id}"
    line.append(f"  {where}", style="dim")
    return line


def _titled(title: str, body: RenderableType) -> RenderableType:
    return Group(Text(""), Text(title, style="bold underline"), Padding(body, (0, 0, 0, INDENT)))


def _pairs(rows: list[tuple[Text, Text]], *, fold_key: bool = False) -> Table:
    """Key and value columns; the value folds, the key does not (unless told)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=not fold_key, overflow="fold")
    grid.add_column(overflow="fold")
    for key, value in rows:
        grid.add_row(key, value)
    return grid


def _error_text(error: ErrorInfo) -> Text:
    text = Text(error.code, style="red")
    return text.append(f": {error.message}") if error.message else text


def _words(value: str) -> str:
    """An enum value as words: ``timed_out`` → ``timed out``."""
    return value.replace("_", " ")


def _date(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment is not None else NONE_SHOWN
