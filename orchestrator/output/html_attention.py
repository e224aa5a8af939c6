"""The HTML page's last section: everything to act on, and what to do about it.

First the distinct things to do (each once, with the causes it answers and how many), then
the failing mappings (failed and unhealthy before timed out and interrupted), the vaults and
subscriptions that could not be read, and for an audit the agents to update (expired first;
what to do about each state is in the first table, not repeated on every row).
Each list is capped at :data:`~orchestrator.output.html_parts.ROWS_MAX` rows; the report holds
every one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from orchestrator.output.attention import (
    AGENT_ACTION_STATES,
    ATTENTION_RESULTS,
    AgentIssue,
    MappingIssue,
    agent_issues,
    hint_for,
    hints,
    mapping_issues,
    resource_name,
    subscriptions_not_searched,
    vaults_in_error,
)
from orchestrator.output.html_parts import ROWS_MAX, clip, code, error_html, esc, table
from orchestrator.output.report import Report, VaultReport


def attention_section(report: Report) -> str:
    """The ``#attention`` section of the page."""
    issues = sorted(mapping_issues(report), key=lambda i: ATTENTION_RESULTS.index(i.mapping.result))
    broken = vaults_in_error(report)
    agents = sorted(
        agent_issues(report, AGENT_ACTION_STATES),
        key=lambda i: AGENT_ACTION_STATES.index(i.item.agent_state),
    )
    parts = ['<section id="attention"><h2>What needs attention</h2>']
    if not (issues or broken or agents or subscriptions_not_searched(report)):
        parts.append(
            '<p id="all-well">Nothing: every vault was read and no mapping failed.</p>'
            if report.error is None
            else '<p id="no-items">No vault or mapping to list: the run ended on its error, above.</p>'
        )
    parts.append(_what_to_do(issues, broken, agents))
    if issues:
        parts.append(_issues(issues))
    if broken:
        parts.append(_broken(broken))
    parts += _subscriptions(report)
    if agents:
        parts.append(_agents(agents))
    return "".join(parts) + "</section>"


def _what_to_do(
    issues: list[MappingIssue], broken: list[VaultReport], agents: list[AgentIssue]
) -> str:
    causes = [(issue.cause, issue.hint) for issue in issues]
    causes += [(v.error.code, hint_for(v.error.code)) for v in broken if v.error is not None]
    causes += [(issue.item.agent_state.value, issue.hint) for issue in agents]
    rows = [
        [code(", ".join(cause for cause, _ in hint.causes)), f"{hint.count:,}", esc(hint.text)]
        for hint in hints(causes)
    ]
    if not rows:
        return ""
    return "<h3>What to do</h3>" + table("todo", ("cause", "how many", "what to do"), rows)


def _issues(issues: list[MappingIssue]) -> str:
    rows = [_issue_row(issue) for issue in issues[:ROWS_MAX]]
    heads = ("vault", "mapping", "result", "error", "recommended action")
    title = f'<h3 id="mapping-issues">Mappings ({len(issues):,})</h3>'
    return title + table("issues", heads, rows, len(issues))


def _issue_row(issue: MappingIssue) -> list[str]:
    """Vault, mapping, result, what went wrong, and what to do (ASR's own action first)."""
    errors = []
    if issue.error is not None:
        errors.append(error_html(issue.error))
    elif issue.note is not None:
        errors.append(esc(issue.note))
    actions = []
    for health in issue.health:
        errors.append(f"{code(health.code or '—')} {esc(clip(health.message or ''))}")
        if health.recommended_action:
            actions.append(esc(clip(health.recommended_action)))
    if issue.hint:
        actions.append(esc(issue.hint))
    return [
        f'<span class="nw">{esc(resource_name(issue.vault.id))}</span>',
        f'<span title="{esc(issue.mapping.id)}">{esc(issue.name)}</span>',
        f'<span class="n nw c-failed">{esc(issue.mapping.result)}</span>',
        "<br>".join(errors),
        "<br>".join(actions),
    ]


def _broken(vaults: list[VaultReport]) -> str:
    rows = [
        [
            f'<span title="{esc(v.id)}">{esc(resource_name(v.id))}</span>',
            esc(v.subscription_id),
            error_html(v.error) if v.error is not None else "",
            esc(hint_for(v.error.code) or "") if v.error is not None else "",
        ]
        for v in vaults[:ROWS_MAX]
    ]
    heads = ("vault", "subscription", "error", "what to do")
    title = f'<h3 id="vault-errors">Vaults that could not be listed ({len(vaults):,})</h3>'
    return title + table("broken", heads, rows, len(vaults))


def _subscriptions(report: Report) -> Iterator[str]:
    subs = subscriptions_not_searched(report)
    if not subs:
        return
    rows = [
        [esc(s.id), esc(s.status), esc(s.state or "—"), error_html(s.error) if s.error else ""]
        for s in subs[:ROWS_MAX]
    ]
    heads = ("subscription", "status", "state", "error")
    title = f"<h3>Subscriptions not searched ({len(subs):,})</h3>"
    yield title + table("subs", heads, rows, len(subs))


def _agents(agents: list[AgentIssue]) -> str:
    rows = [_agent_row(issue) for issue in agents[:ROWS_MAX]]
    heads = (
        "vault",
        "item",
        "state",
        "version",
        "agent expiry",
        "certificate expiry",
        "last heartbeat",
    )
    title = f'<h3 id="agent-issues">Agents to update ({len(agents):,})</h3>'
    return title + table("agents", heads, rows, len(agents))


def _agent_row(issue: AgentIssue) -> list[str]:
    item = issue.item
    return [
        f'<span class="nw">{esc(resource_name(issue.vault.id))}</span>',
        f'<span class="nw" title="{esc(item.id)}">{esc(item.name)}</span>',
        f'<span class="n nw a-{esc(item.agent_state)}">{esc(item.agent_state)}</span>',
        esc(item.agent_version or "—"),
        _date(item.agent_expiry),
        _date(item.certificate_expiry),
        _date(item.last_heartbeat),
    ]


def _date(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return f'<time class="nw" datetime="{moment.isoformat()}">{moment:%Y-%m-%d}</time>'
