"""`report html`: one self-contained, inert page that reads well for a 500-vault fleet."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_samples import HEALTH_ERROR, assemble, fleet_report, mapping, vault_id

from orchestrator.asr.agents import AgentState
from orchestrator.asr.mapping import HealthError
from orchestrator.asr.rules import SkipReason
from orchestrator.cli import main
from orchestrator.output.html import render_html
from orchestrator.output.html_parts import ROWS_MAX
from orchestrator.output.report import Command, Outcome, Report, SubscriptionReport, VaultReport
from orchestrator.output.report_file import write_report
from orchestrator.work.outcomes import (
    ErrorInfo,
    MappingResult,
    Notice,
    SubscriptionStatus,
    VaultStatus,
)

SUB = "11111111-2222-3333-4444-555555555555"
HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>&amp;"
# HTML elements without an end tag; every other start tag must be closed.
VOID = {"meta", "br", "input", "rect", "link", "hr", "img"}


class _Page(HTMLParser):
    """Every tag, attribute and text node of a page, and whether its tags balance."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str | None]] = []
        self.text: list[str] = []
        self.open: list[str] = []
        self.unbalanced: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, name, value) for name, value in attrs]
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, name, value) for name, value in attrs]

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.unbalanced.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def hostile_report() -> Report:
    """Server-sent text in every place a report carries some."""
    vid = vault_id(SUB, 1) + HOSTILE
    failed = mapping(vid, 1, MappingResult.FAILED, None)
    assert failed.operation is not None
    error = ErrorInfo(code=f"Code{HOSTILE}", message=HOSTILE)
    failed = failed.model_copy(
        update={
            "id": failed.id + HOSTILE,
            "operation": failed.operation.model_copy(update={"error": error}),
        }
    )
    unhealthy = mapping(vid, 2, MappingResult.UNHEALTHY, None)
    assert unhealthy.after is not None
    health = HealthError(HOSTILE, HOSTILE, HOSTILE, HOSTILE)
    after = dataclasses.replace(unhealthy.after, health_error_details=(health,))
    unhealthy = unhealthy.model_copy(update={"after": after})
    vaults = [
        VaultReport(
            id=vid,
            subscription_id=SUB + HOSTILE,
            status=VaultStatus.OK,
            error=None,
            mappings=[failed, unhealthy],
        ),
        VaultReport(
            id=vault_id(SUB, 2),
            subscription_id=SUB,
            status=VaultStatus.ERROR,
            error=ErrorInfo(code=HOSTILE, message=HOSTILE),
            mappings=[],
        ),
    ]
    report = assemble(
        Command.APPLY,
        vaults,
        warnings=[Notice(code=HOSTILE, message=HOSTILE)],
        subscriptions=[
            SubscriptionReport(
                id=HOSTILE,
                status=SubscriptionStatus.ERROR,
                state=HOSTILE,
                error=ErrorInfo(code=HOSTILE, message=HOSTILE),
                vaults_found=0,
            )
        ],
        error=ErrorInfo(code=HOSTILE, message=HOSTILE),
    )
    config = report.config
    assert config is not None
    return report.model_copy(
        update={
            "run_id": HOSTILE,
            "tool_version": HOSTILE,
            "config": config.model_copy(update={"path": HOSTILE, "sha256": HOSTILE}),
        }
    )


def test_page_refers_to_nothing_outside_itself() -> None:
    for command in (Command.APPLY, Command.AUDIT):
        page = render_html(fleet_report(vaults=60, command=command))
        parsed = _Page(page)

        links = [(tag, name, value) for tag, name, value in parsed.attrs if name in ("src", "href")]
        assert all(name == "href" and (value or "").startswith("#") for _, name, value in links)
        assert "script" not in parsed.tags and "link" not in parsed.tags
        assert not re.search(r"https?:|//[a-z]|url\(|@import", page, re.I)


def test_page_forbids_every_fetch_and_script_by_content_security_policy() -> None:
    page = _Page(render_html(fleet_report(vaults=5)))

    policies = [
        value
        for tag, name, value in page.attrs
        if tag == "meta" and name == "content" and value and "default-src" in value
    ]
    assert policies == [
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
    ]


def test_hostile_text_in_a_report_is_escaped_everywhere() -> None:
    page = render_html(hostile_report())
    parsed = _Page(page)

    assert HOSTILE not in page
    assert "<script" not in page and "<img" not in page
    assert set(parsed.tags) <= {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "header",
        "h1",
        "h2",
        "h3",
        "span",
        "dl",
        "dt",
        "dd",
        "div",
        "b",
        "p",
        "nav",
        "a",
        "section",
        "svg",
        "rect",
        "ul",
        "li",
        "code",
        "details",
        "summary",
        "br",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "input",
        "label",
        "time",
    }
    assert not [name for _, name, _ in parsed.attrs if name.startswith("on")]
    # Escaped, the text reads back exactly: nothing was lost or doubled.
    assert any(HOSTILE in text for text in parsed.text)
    assert any(value == f"{vault_id(SUB, 1)}{HOSTILE}" for _, _, value in parsed.attrs)


def test_page_markup_is_balanced() -> None:
    for report in (fleet_report(vaults=120, command=Command.AUDIT), hostile_report()):
        parsed = _Page(render_html(report))

        assert parsed.unbalanced == [] and parsed.open == []


def test_vault_count_is_in_an_element_a_test_can_find() -> None:
    page = render_html(fleet_report(vaults=500))

    assert '<span id="vault-count" data-value="500">500</span>' in page
    assert 'data-vaults="500"' in page


def test_header_names_command_outcome_exit_code_time_duration_and_config() -> None:
    page = render_html(fleet_report(vaults=20))

    header = page.split("</header>", 1)[0]
    assert (
        'asr-autoupdate apply <span class="badge bad" id="outcome">interrupted · exit 130' in header
    )
    assert '<time datetime="2026-11-25T01:00:00+00:00">2026-11-25 01:00:00 UTC</time>' in header
    assert "12m 34s" in header and "/etc/asr-autoupdate/fleet.yaml" in header
    assert '<span id="get-count" data-value="12345">12,345</span>' in header


def test_500_vault_page_is_small_and_renders_fast() -> None:
    report = fleet_report(vaults=500, command=Command.AUDIT)

    started = time.perf_counter()
    page = render_html(report)
    elapsed = time.perf_counter() - started

    assert len(page.encode()) < 1_000_000
    assert elapsed < 1.0


def test_every_vault_has_one_row_under_its_subscription() -> None:
    report = fleet_report(vaults=500)
    page = render_html(report)

    sections = re.findall(
        r'<details class="sub[^"]*" data-subscription="([^"]+)" data-vaults="(\d+)"', page
    )
    assert sum(int(count) for _, count in sections) == 500
    assert len(re.findall(r'<tr class="vault', page)) == 500
    assert [sub for sub, _ in sections][:5] == [s.id for s in report.subscriptions or []][:5]


def test_vault_bar_colours_each_mapping_by_its_compliance() -> None:
    vid = vault_id(SUB, 7)
    report = assemble(
        Command.APPLY,
        [
            VaultReport(
                id=vid,
                subscription_id=SUB,
                status=VaultStatus.OK,
                error=None,
                mappings=[
                    mapping(vid, 1, MappingResult.SUCCEEDED, None),
                    mapping(vid, 2, MappingResult.SKIPPED, SkipReason.COMPLIANT),
                    mapping(vid, 3, MappingResult.FAILED, None),
                    mapping(vid, 4, MappingResult.TIMED_OUT, None),
                ],
            )
        ],
    )

    row = render_html(report).split('data-vault="rsv-dr-0007"', 1)[1].split("</tr>", 1)[0]

    assert '<rect class="c-compliant" x="0" width="50" height="1"/>' in row
    assert '<rect class="c-failed" x="50" width="25" height="1"/>' in row
    assert '<rect class="c-unfinished" x="75" width="25" height="1"/>' in row
    assert "<title>2 compliant; 1 failed; 1 unfinished</title>" in row


def test_legend_names_every_colour_with_its_count() -> None:
    report = fleet_report(vaults=50, command=Command.AUDIT)
    agents = report.totals.agents
    assert agents is not None

    summary = render_html(report).split('<section id="summary">', 1)[1].split("</section>", 1)[0]

    for css in ("c-compliant", "c-would_change", "c-failed", "c-unhealthy", "c-unfinished"):
        assert f'<span class="swatch {css}">' in summary
    for state in AgentState:
        count = getattr(agents, state.value)
        assert f'<li data-count="{count}"><span class="swatch a-{state.value}">' in summary


def test_failures_are_listed_with_their_recommended_action() -> None:
    page = render_html(fleet_report(vaults=30))
    attention = page.split('<section id="attention">', 1)[1]

    assert "AuthorizationFailed" in attention and "Site Recovery Contributor" in attention
    assert HEALTH_ERROR.recommended_action is not None
    assert HEALTH_ERROR.recommended_action.replace("'", "&#x27;") in attention
    assert "--resume REPORT" in attention
    assert '<h3 id="vault-errors">' not in attention  # 30 vaults: none in error


def test_long_lists_are_capped_and_say_how_many_more_the_report_holds() -> None:
    report = fleet_report(vaults=500)
    failing = sum(
        getattr(report.totals, r) for r in ("failed", "unhealthy", "timed_out", "interrupted")
    )
    assert failing > ROWS_MAX

    issues = render_html(report).split('<table class="issues"', 1)[1].split("</table>", 1)[0]

    assert issues.count("<tr>") == ROWS_MAX + 1  # the heading's row
    assert f"… and {failing - ROWS_MAX:,} more in the report" in issues


def test_audit_page_lists_agents_to_update_worst_first() -> None:
    report = fleet_report(vaults=100, command=Command.AUDIT)

    agents = render_html(report).split('<table class="agents"', 1)[1].split("</table>", 1)[0]

    states = re.findall(r'<span class="n nw a-(\w+)">', agents)
    order = {"expired": 0, "expiring": 1, "update_required": 2}
    assert states and states == sorted(states, key=order.__getitem__)
    assert "unknown" not in states and "current" not in states


def test_clean_report_says_nothing_needs_attention() -> None:
    vid = vault_id(SUB, 9)
    report = assemble(
        Command.PLAN,
        [
            VaultReport(
                id=vid,
                subscription_id=SUB,
                status=VaultStatus.OK,
                error=None,
                mappings=[mapping(vid, 1, MappingResult.SKIPPED, SkipReason.COMPLIANT)],
            )
        ],
    )

    page = render_html(report)

    assert '<p id="all-well">' in page
    assert '<tr class="vault" data-vault="rsv-dr-0009" data-status="ok">' in page


def test_report_without_vaults_shows_the_runs_error_instead() -> None:
    report = assemble(
        Command.PLAN,
        [],
        error=ErrorInfo(code="no_targets", message="the targets resolved to no vault"),
    ).model_copy(update={"exit_code": 1, "outcome": Outcome.FAILED})

    page = render_html(report)

    assert '<div class="error" id="run-error"><code>no_targets</code> the targets resolved' in page
    assert '<p id="no-items">' in page and '<p id="all-well">' not in page
    assert '<span id="vault-count" data-value="0">0</span>' in page


def test_page_is_the_same_for_the_same_report() -> None:
    assert render_html(fleet_report(vaults=40)) == render_html(fleet_report(vaults=40))


def test_cli_report_html_writes_the_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = fleet_report(vaults=25)
    saved, page = tmp_path / "report.json", tmp_path / "report.html"
    write_report(report, saved, stdout=io.StringIO())

    code = main(["report", "html", str(saved), "-o", str(page)])

    assert code == 0
    assert page.read_text(encoding="utf-8") == render_html(report)
    assert capsys.readouterr() == ("", "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.json"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "No such file or directory"),
        ("not json at all", "Invalid JSON"),
        (json.dumps({"schema": "asr-autoupdate/report/v1", "run_id": 7}), "run_id"),
    ],
    ids=["missing", "not-json", "not-a-report"],
)
def test_cli_report_html_refuses_an_unreadable_report_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, problem: str
) -> None:
    saved, page = tmp_path / "report.json", tmp_path / "report.html"
    if content is not None:
        saved.write_text(content)

    code = main(["report", "html", str(saved), "-o", str(page)])

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and str(saved) in err and problem in err
    assert not page.exists()


@pytest.mark.parametrize(
    "target", ["missing-dir/report.html", "."], ids=["no-directory", "a-directory"]
)
def test_cli_report_html_refuses_an_unwritable_output_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    saved = tmp_path / "report.json"
    write_report(fleet_report(vaults=3), saved, stdout=io.StringIO())
    output = tmp_path / target

    code = main(["report", "html", str(saved), "-o", str(output)])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"asr-autoupdate: cannot write {output}: ") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
