"""The pieces the HTML report page is built from: escaping, colour classes, bars, tables, CSS.

Everything here returns HTML text in which every value that came from a report has been
escaped (:func:`esc`): a report holds text from servers, and the page must stay inert whatever
it says. Nothing here refers to anything outside the page (no URL, no font, no image).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from html import escape
from typing import Final

from orchestrator.asr.agents import AgentState
from orchestrator.asr.rules import SkipReason
from orchestrator.output.attention import utc_words
from orchestrator.output.report import MappingReport
from orchestrator.work.outcomes import ErrorInfo, MappingResult

ROWS_MAX: Final = 200  # longest list of failures on the page; the report holds every one
TEXT_MAX: Final = 1000  # characters of one message shown; a server may send far more


def esc(value: object) -> str:
    """``value`` as text safe inside an element or a double-quoted attribute."""
    return escape(str(value), quote=True)


class Compliance(StrEnum):
    """How a mapping stands with auto-update, as the page colours it."""

    COMPLIANT = "compliant"
    WOULD_CHANGE = "would_change"
    FAILED = "failed"
    UNHEALTHY = "unhealthy"
    UNFINISHED = "unfinished"
    NOT_APPLICABLE = "not_applicable"


COMPLIANCE_LABELS: Final = {
    Compliance.COMPLIANT: "compliant (succeeded, or already so)",
    Compliance.WOULD_CHANGE: "would change",
    Compliance.FAILED: "failed",
    Compliance.UNHEALTHY: "unhealthy (applied, ASR reports health errors)",
    Compliance.UNFINISHED: "unfinished (timed out, interrupted, not started)",
    Compliance.NOT_APPLICABLE: "not applicable (not A2A, not paired)",
}
AGENT_LABELS: Final = {
    AgentState.CURRENT: "current",
    AgentState.UPDATE_REQUIRED: "update required",
    AgentState.EXPIRING: "expiring",
    AgentState.EXPIRED: "expired",
    AgentState.UNKNOWN: "unknown",
}
_BY_RESULT: Final = {
    MappingResult.SUCCEEDED: Compliance.COMPLIANT,
    MappingResult.WOULD_CHANGE: Compliance.WOULD_CHANGE,
    MappingResult.FAILED: Compliance.FAILED,
    MappingResult.UNHEALTHY: Compliance.UNHEALTHY,
    MappingResult.TIMED_OUT: Compliance.UNFINISHED,
    MappingResult.INTERRUPTED: Compliance.UNFINISHED,
    MappingResult.NOT_STARTED: Compliance.UNFINISHED,
}


def compliance(mapping: MappingReport) -> Compliance:
    """The colour of one mapping: a skipped one is compliant only if it was skipped as such."""
    if mapping.result is MappingResult.SKIPPED:
        compliant = mapping.skip_reason is SkipReason.COMPLIANT
        return Compliance.COMPLIANT if compliant else Compliance.NOT_APPLICABLE
    return _BY_RESULT[mapping.result]


@dataclass(frozen=True, slots=True)
class Segment:
    """One part of a bar: a CSS class (the colour), how many, and the words for them."""

    css: str
    count: int
    label: str


def compliance_segments(counts: dict[Compliance, int]) -> list[Segment]:
    return [Segment(f"c-{c}", counts.get(c, 0), COMPLIANCE_LABELS[c]) for c in Compliance]


def agent_segments(counts: dict[AgentState, int]) -> list[Segment]:
    return [Segment(f"a-{s}", counts.get(s, 0), AGENT_LABELS[s]) for s in AgentState]


def bar(segments: Sequence[Segment], *, css: str = "bar") -> str:
    """A stacked bar as inline SVG, one rect per non-empty segment; its title says the counts.

    Proportional to the counts; an all-zero bar is an empty track. Kept terse: a 500-vault page
    holds one per vault.
    """
    total = sum(segment.count for segment in segments)
    described = "; ".join(f"{s.count:,} {short(s.label)}" for s in segments if s.count) or "none"
    rects = []
    x = 0.0
    for segment in segments:
        if not segment.count:
            continue
        width = 100 * segment.count / total
        rects.append(
            f'<rect class="{segment.css}" x="{_number(x)}" width="{_number(width)}" height="1"/>'
        )
        x += width
    return (
        f'<svg class="{css}" viewBox="0 0 100 1" preserveAspectRatio="none" role="img">'
        f"<title>{esc(described)}</title>{''.join(rects)}</svg>"
    )


def short(label: str) -> str:
    """A label without its explanation: ``unfinished (timed out, …)`` → ``unfinished``."""
    return label.split(" (", 1)[0]


def _number(value: float) -> str:
    """At most two decimals, no trailing zeros: ``33.33``, ``50``."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def legend(segments: Sequence[Segment], *, counts: bool = True) -> str:
    """Each segment's colour and words, and its count (zeros too, so every colour is named)."""
    items = "".join(
        f'<li data-count="{s.count}"><span class="swatch {s.css}"></span>{esc(s.label)}'
        + (f" <b>{s.count:,}</b>" if counts else "")
        + "</li>"
        for s in segments
    )
    return f'<ul class="legend">{items}</ul>'


def counts_text(segments: Sequence[Segment], *, only: Iterable[str] | None = None) -> str:
    """``2 failed · 1 unhealthy``: the non-zero segments (of ``only``'s classes, if given)."""
    wanted = set(only) if only is not None else None
    shown = [
        f'<span class="n {s.css}">{s.count:,} {esc(short(s.label))}</span>'
        for s in segments
        if s.count and (wanted is None or s.css in wanted)
    ]
    return " · ".join(shown)


def table(
    css: str, headings: Sequence[str], rows: Sequence[Sequence[str]], total: int | None = None
) -> str:
    """A table of already-escaped cells, capped at :data:`ROWS_MAX` rows.

    ``total``: how many rows there are in all, when ``rows`` is a capped prefix; the rest are
    counted in a closing row, since the report holds every one.
    """
    total = len(rows) if total is None else total
    head = "".join(f"<th>{esc(h)}</th>" for h in headings)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    more = total - len(rows)
    if more > 0:
        body += (
            f'<tr class="more"><td colspan="{len(headings)}">… and {more:,} more in the '
            "report</td></tr>"
        )
    return (
        f'<table class="{css}" data-rows="{total}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def code(text: str) -> str:
    return f"<code>{esc(text)}</code>"


def clip(text: str, limit: int = TEXT_MAX) -> str:
    """``text``, or its first ``limit`` characters and an ellipsis; for messages, never codes."""
    return text if len(text) <= limit else text[:limit] + "…"


def error_html(error: ErrorInfo) -> str:
    """``CODE message``: the code whole, the message clipped."""
    message = f" {esc(clip(error.message))}" if error.message else ""
    return f"{code(error.code)}{message}"


def time_html(moment: datetime) -> str:
    return f'<time datetime="{moment.isoformat()}">{esc(utc_words(moment))}</time>'


# The page's only style. Colours are chosen to stay apart for the common colour blindness
# (green/red is paired with lightness), and the page follows the reader's dark mode.
CSS: Final = """
:root{--fg:#1d232a;--muted:#5b6570;--bg:#fff;--panel:#f5f7f9;--line:#d9dee3;
--ok:#2e8540;--change:#f2a900;--fail:#c62828;--unhealthy:#8e1b5a;--unfinished:#8a939c;
--na:#cfd6dc;--expiring:#f57c00}
@media (prefers-color-scheme:dark){:root{--fg:#e6e9ec;--muted:#9aa4ae;--bg:#15191d;
--panel:#1f252b;--line:#333c44;--na:#48525b}}
*{box-sizing:border-box}
body{margin:0;padding:0 24px 48px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
sans-serif;color:var(--fg);background:var(--bg)}
header{padding:16px 0 8px;border-bottom:1px solid var(--line)}
h1{font-size:20px;margin:0 0 8px}h2{font-size:17px;margin:28px 0 8px}
h3{font-size:15px;margin:18px 0 6px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:13px;
vertical-align:middle;color:#fff;background:var(--ok)}
.badge.bad{background:var(--fail)}.badge.warn{background:var(--change);color:#222}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:8px 0;
color:var(--muted)}dl.meta dt{font-weight:600}dl.meta dd{margin:0;overflow-wrap:anywhere}
.counts{display:flex;flex-wrap:wrap;gap:8px;margin:12px 0}
.count{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:6px 12px}
.count b{display:block;font-size:20px}
.error{border-left:4px solid var(--fail);background:var(--panel);padding:8px 12px;margin:8px 0}
nav a{margin-right:16px}
svg.bar{display:block;width:100%;height:12px;background:var(--panel);border-radius:2px}
svg.bar.big{height:22px}
.c-compliant{fill:var(--ok);background:var(--ok)}
.c-would_change{fill:var(--change);background:var(--change)}
.c-failed{fill:var(--fail);background:var(--fail)}
.c-unhealthy{fill:var(--unhealthy);background:var(--unhealthy)}
.c-unfinished{fill:var(--unfinished);background:var(--unfinished)}
.c-not_applicable{fill:var(--na);background:var(--na)}
.a-current{fill:var(--ok);background:var(--ok)}
.a-update_required{fill:var(--change);background:var(--change)}
.a-expiring{fill:var(--expiring);background:var(--expiring)}
.a-expired{fill:var(--fail);background:var(--fail)}
.a-unknown{fill:var(--unfinished);background:var(--unfinished)}
span.n{background:none;font-weight:600}
span.n.c-failed,span.n.c-unhealthy,span.n.a-expired{color:var(--fail)}
ul.legend{list-style:none;display:flex;flex-wrap:wrap;gap:4px 16px;padding:0;margin:6px 0}
.swatch{display:inline-block;width:11px;height:11px;margin-right:5px;border-radius:2px;
vertical-align:-1px}
details.sub{content-visibility:auto;contain-intrinsic-size:auto 600px;border:1px solid var(--line);border-radius:6px;margin:8px 0;padding:0 10px}
details.sub>summary{cursor:pointer;padding:8px 0;display:grid;
grid-template-columns:minmax(260px,1fr) 260px minmax(200px,1fr);gap:12px;align-items:center}
table{border-collapse:collapse;width:100%;margin:4px 0 12px}
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid var(--line);vertical-align:top;
overflow-wrap:break-word}
.nw,th{white-space:nowrap}
th{font-weight:600;color:var(--muted)}
table.vaults :is(td,th){white-space:nowrap}
table.vaults td.bar{width:200px;min-width:120px;vertical-align:middle}
tr.error td{color:var(--fail)}tr.more td{color:var(--muted);font-style:italic}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.muted{color:var(--muted)}
body:has(#only-problems:checked) :is(tr.vault,details.sub):not(.problem){display:none}
"""
