"""A saved report as one self-contained HTML page (`asr-autoupdate report html REPORT -o FILE`).

The page shows the fleet at a glance: a header with the run and its counts, the fleet's
auto-update compliance (and, for an audit, its agents' currency) as colour-coded bars with a
legend, then each subscription with one compact row per vault, then everything to act on
with what to do. Built for 500 vaults and more: vault rows are short, long lists are capped
(the report holds every item), and a checkbox hides the vaults that need nothing.

Self-contained and inert: inline CSS and SVG only, no script, no URL of any kind, and a
Content-Security-Policy that forbids every fetch, so the page works offline and a hostile
string in a report (every one is escaped) could not load or run anything even if it got through.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from orchestrator.asr.agents import AgentState
from orchestrator.output.attention import (
    AGENT_ACTION_STATES,
    ATTENTION_RESULTS,
    duration_words,
    hint_for,
    resource_group,
    resource_name,
    utc_words,
)
from orchestrator.output.html_attention import attention_section
from orchestrator.output.html_parts import (
    CSS,
    ROWS_MAX,
    Compliance,
    Segment,
    agent_segments,
    bar,
    clip,
    code,
    compliance,
    compliance_segments,
    counts_text,
    error_html,
    esc,
    legend,
    time_html,
)
from orchestrator.output.report import Command, Outcome, Report, SubscriptionReport, VaultReport
from orchestrator.work.outcomes import SubscriptionStatus, VaultStatus

# Default-deny: no fetch of any kind, no script; only the inline style below.
CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_PROBLEMS: Final = (
    f"c-{Compliance.FAILED}",
    f"c-{Compliance.UNHEALTHY}",
    f"c-{Compliance.UNFINISHED}",
    f"c-{Compliance.WOULD_CHANGE}",
)
_AGENT_PROBLEMS: Final = tuple(f"a-{state}" for state in AGENT_ACTION_STATES)
# Subscriptions with no problem start folded once the page holds more vaults than this.
OPEN_ALL_MAX: Final = 100
VAULT_ROWS_MAX: Final = 1000  # per subscription; vaults that need attention come first


def render_html(report: Report) -> str:
    """The whole page for ``report``, as text; deterministic for a given report."""
    body = "".join(
        (_header(report), _summary(report), _subscriptions(report), attention_section(report))
    )
    title = f"asr-autoupdate {report.command}: {report.outcome} ({utc_words(report.started_at)})"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f'<body data-command="{esc(report.command)}" data-outcome="{esc(report.outcome)}" '
        f'data-exit-code="{report.exit_code}" data-vaults="{report.totals.vaults}" '
        f'data-mappings="{report.totals.mappings}">{body}</body></html>\n'
    )


def _header(report: Report) -> str:
    # Green when it worked, amber when it only ran out of time, red for anything else.
    badge = {Outcome.SUCCEEDED: "", Outcome.TIMED_OUT: " warn"}.get(report.outcome, " bad")
    meta = [
        ("started", time_html(report.started_at)),
        ("finished", time_html(report.finished_at)),
        ("duration", esc(duration_words(report.duration_s))),
        ("action", esc(report.action or "—")),
    ]
    if report.config is not None:
        config = report.config
        meta.append(
            ("config", f"{code(config.path)} <span class=muted>sha256 {esc(config.sha256)}</span>")
        )
    meta += [
        ("tool", esc(f"asr-autoupdate {report.tool_version or '—'}")),
        ("run", code(report.run_id)),
    ]
    rows = "".join(f"<dt>{esc(key)}</dt><dd>{value}</dd>" for key, value in meta)
    error = ""
    if report.error is not None:
        hint = hint_for(report.error.code)
        advice = f"<p>→ {esc(hint)}</p>" if hint else ""
        error = f'<div class="error" id="run-error">{error_html(report.error)}{advice}</div>'
    return (
        f"<header><h1>asr-autoupdate {esc(report.command)} "
        f'<span class="badge{badge}" id="outcome">{esc(report.outcome)} · exit '
        f"{report.exit_code}</span></h1><dl class=meta>{rows}</dl>{error}"
        f"{_counts(report)}</header>"
        '<nav><a href="#summary">Summary</a><a href="#subscriptions">Vaults by subscription</a>'
        '<a href="#attention">What needs attention</a></nav>'
    )


def _counts(report: Report) -> str:
    totals, calls = report.totals, report.calls
    attention = sum(getattr(totals, result.value) for result in ATTENTION_RESULTS)
    boxes = [
        ("vault-count", totals.vaults, "vaults"),
        ("vaults-failed", totals.vaults_failed, "could not be listed"),
        ("mapping-count", totals.mappings, "mappings"),
        ("attention-count", attention, "mappings need attention"),
    ]
    if report.subscriptions is not None:
        boxes.insert(0, ("subscription-count", len(report.subscriptions), "subscriptions"))
    if report.command in (Command.PLAN, Command.AUDIT):
        boxes.append(("would-change-count", totals.would_change, "would change"))
    if totals.agents is not None:
        stale = sum(getattr(totals.agents, state.value) for state in AGENT_ACTION_STATES)
        boxes.append(("agent-count", sum(totals.agents.model_dump().values()), "agents"))
        boxes.append(("agent-attention-count", stale, "agents to update"))
    boxes += [("get-count", calls.get, "GETs"), ("set-count", calls.set, "PATCHes")]
    shown = "".join(
        f'<div class="count"><b><span id="{key}" data-value="{value}">{value:,}</span></b>'
        f"{esc(words)}</div>"
        for key, value, words in boxes
    )
    throttled = f"{calls.throttled:,} throttled (429), {calls.retried:,} retried"
    return f'<div class="counts">{shown}</div><p class="muted">Calls: {esc(throttled)}</p>'


def _summary(report: Report) -> str:
    mappings = Counter(compliance(m) for v in report.vaults for m in v.mappings)
    segments = compliance_segments(mappings)
    parts = [
        '<section id="summary"><h2>Summary</h2><h3>Mappings: auto-update compliance</h3>',
        bar(segments, css="bar big"),
        legend(segments),
    ]
    if report.totals.agents is not None:
        agents = agent_segments({s: getattr(report.totals.agents, s.value) for s in AgentState})
        parts += ["<h3>Mobility agents</h3>", bar(agents, css="bar big"), legend(agents)]
    if report.warnings:
        items = [f"<li>{code(w.code)} {esc(clip(w.message))}</li>" for w in report.warnings]
        more = len(items) - ROWS_MAX
        tail = f"<li>… and {more:,} more in the report</li>" if more > 0 else ""
        parts.append(f'<h3>Warnings</h3><ul id="warnings">{"".join(items[:ROWS_MAX])}{tail}</ul>')
    return "".join(parts) + "</section>"


@dataclass(slots=True)
class _SubscriptionView:
    """One subscription's part of the page: its discovery entry, if any, and its vaults."""

    id: str
    entry: SubscriptionReport | None = None
    vaults: list[VaultReport] = field(default_factory=list)


def _by_subscription(report: Report) -> list[_SubscriptionView]:
    """Discovery's subscriptions in its order, then those only explicit vaults name."""
    views: dict[str, _SubscriptionView] = {}
    for sub in report.subscriptions or []:
        views.setdefault(sub.id.casefold(), _SubscriptionView(sub.id, sub))
    for vault in report.vaults:
        key = vault.subscription_id.casefold()
        views.setdefault(key, _SubscriptionView(vault.subscription_id)).vaults.append(vault)
    return list(views.values())


def _subscriptions(report: Report) -> str:
    views = _by_subscription(report)
    fold = report.totals.vaults > OPEN_ALL_MAX
    agents = report.totals.agents is not None
    sections = "".join(_subscription(view, fold=fold, agents=agents) for view in views)
    return (
        '<section id="subscriptions"><h2>Vaults by subscription</h2>'
        '<p><input type="checkbox" id="only-problems"> '
        '<label for="only-problems">Show only the vaults that need attention</label></p>'
        f"{_legend_line(agents)}{sections}</section>"
    )


def _legend_line(agents: bool) -> str:
    """The colours once more, above the rows, so a reader deep in the page need not scroll."""
    line = legend(compliance_segments({}), counts=False)
    return line + (legend(agent_segments({}), counts=False) if agents else "")


def _subscription(view: _SubscriptionView, *, fold: bool, agents: bool) -> str:
    ranked = sorted(view.vaults, key=lambda v: (not _needs_attention(v), resource_name(v.id)))
    problems = sum(_needs_attention(vault) for vault in ranked)
    segments = compliance_segments(Counter(compliance(m) for v in ranked for m in v.mappings))
    state = ""
    if view.entry is not None and view.entry.status is not SubscriptionStatus.OK:
        error = f": {error_html(view.entry.error)}" if view.entry.error else ""
        state = f' <span class="n c-failed">{esc(view.entry.status)}{error}</span>'
    heads = ["vault", "resource group", "mappings", "compliance", ""]
    heads += ["agents", ""] if agents else []
    rows = "".join(_vault_row(vault, agents=agents) for vault in ranked[:VAULT_ROWS_MAX])
    if len(ranked) > VAULT_ROWS_MAX:
        more = len(ranked) - VAULT_ROWS_MAX
        rows += (
            f'<tr class="more problem"><td colspan="{len(heads)}">… and {more:,} more in the '
            "report</td></tr>"
        )
    flagged = " problem" if problems or state else ""
    opened = "" if fold and not flagged else " open"
    return (
        f'<details class="sub{flagged}" data-subscription="{esc(view.id)}" '
        f'data-vaults="{len(ranked)}" data-problems="{problems}"{opened}><summary>'
        f"<span><b>{esc(view.id)}</b>{state}<br><span class=muted>{len(ranked):,} vaults · "
        f"{problems:,} need attention</span></span>{bar(segments)}"
        f"<span>{_verdict(segments)}</span></summary>"
        f'<table class="vaults"><thead><tr>{"".join(f"<th>{h}</th>" for h in heads)}</tr>'
        f"</thead><tbody>{rows}</tbody></table>"
        "</details>"
    )


def _vault_row(vault: VaultReport, *, agents: bool) -> str:
    name, group = resource_name(vault.id), resource_group(vault.id) or "—"
    flags = " problem" if _needs_attention(vault) else ""
    cells = f'<td title="{esc(vault.id)}">{esc(name)}</td><td>{esc(group)}</td>'
    data = f'data-vault="{esc(name)}" data-status="{esc(vault.status)}"'
    if vault.status is VaultStatus.ERROR and vault.error is not None:
        width = 5 if agents else 3
        return (
            f'<tr class="vault error{flags}" {data}>{cells}<td>—</td><td colspan="{width}">'
            f"could not be listed: {error_html(vault.error)}</td></tr>"
        )
    segments = compliance_segments(Counter(compliance(m) for m in vault.mappings))
    cells += f'<td>{len(vault.mappings):,}</td><td class="bar">{bar(segments)}</td>'
    cells += f"<td>{_verdict(segments)}</td>"
    if agents:
        states = agent_segments(Counter(i.agent_state for i in vault.protected_items or []))
        cells += f'<td class="bar">{bar(states)}</td>'
        cells += f"<td>{counts_text(states, only=_AGENT_PROBLEMS) or 'all current'}</td>"
    return f'<tr class="vault{flags}" {data}>{cells}</tr>'


def _verdict(segments: list[Segment]) -> str:
    """The counts that need a look (``2 failed · 1 would change``), else a word for the rest."""
    problems = counts_text(segments, only=_PROBLEMS)
    if problems:
        return problems
    compliant = any(s.count for s in segments if s.css == f"c-{Compliance.COMPLIANT}")
    if compliant:
        return "compliant"
    return "not applicable" if any(s.count for s in segments) else "no mappings"


def _needs_attention(vault: VaultReport) -> bool:
    if vault.status is VaultStatus.ERROR:
        return True
    failing = any(m.result in ATTENTION_RESULTS for m in vault.mappings)
    stale = any(i.agent_state in AGENT_ACTION_STATES for i in vault.protected_items or [])
    return failing or stale
