"""`report show`: a saved report on the terminal, for every command's report, at 80 columns."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from report_samples import HEALTH_ERROR, STARTED, assemble, fleet_report, mapping, vault_id

from orchestrator.asr.agents import AgentState
from orchestrator.asr.rules import SkipReason
from orchestrator.cli import main
from orchestrator.output.report import NO_CALLS, Command, Outcome, Report, VaultReport, count_totals
from orchestrator.output.report_file import write_report
from orchestrator.output.show import show_report
from orchestrator.work.outcomes import ErrorInfo, MappingResult, Notice, VaultStatus

SUB = "11111111-2222-3333-4444-555555555555"
LONG_CODE = "Code" + "X" * 116  # 120 characters: wider than the terminal


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def shown(report: Report, width: int = 80) -> str:
    out = io.StringIO()
    show_report(report, out, width=width)
    return out.getvalue()


def failing_vault() -> VaultReport:
    """A vault with one mapping of each kind `report show` must list, plus a compliant one."""
    vid = vault_id(SUB, 1)
    failed = mapping(vid, 1, MappingResult.FAILED, None)
    operation = failed.operation
    assert operation is not None
    error = ErrorInfo(code=LONG_CODE, message="the [bold]server[/bold] said no")
    return VaultReport(
        id=vid,
        subscription_id=SUB,
        status=VaultStatus.OK,
        error=None,
        mappings=[
            failed.model_copy(update={"operation": operation.model_copy(update={"error": error})}),
            mapping(vid, 2, MappingResult.UNHEALTHY, None),
            mapping(vid, 3, MappingResult.TIMED_OUT, None),
            mapping(vid, 4, MappingResult.SUCCEEDED, None),
        ],
    )


def broken_vault() -> VaultReport:
    return VaultReport(
        id=vault_id(SUB, 2),
        subscription_id=SUB,
        status=VaultStatus.ERROR,
        error=ErrorInfo(code="too_many_pages", message="the listing never ended"),
        mappings=[],
    )


def apply_report() -> Report:
    return assemble(
        Command.APPLY,
        [failing_vault(), broken_vault()],
        warnings=[Notice(code="max_changes_reached", message="--max-changes 10 reached")],
    )


def validate_report() -> Report:
    """What a validate run that found the config invalid leaves: no vaults, no calls."""
    return Report(
        run_id="",
        command=Command.VALIDATE,
        action=None,
        started_at=STARTED,
        finished_at=STARTED,
        duration_s=0.0,
        outcome=Outcome.INVALID,
        exit_code=2,
        error=ErrorInfo(code="invalid_config", message="fleet.yaml: action: field required"),
        totals=count_totals(Counter(), vaults=0, vaults_failed=0),
        calls=NO_CALLS,
        vaults=[],
    )


def test_header_names_command_outcome_exit_code_time_duration_config_and_version() -> None:
    text = shown(apply_report())

    head = text.split("\nTotals", 1)[0]
    assert "asr-autoupdate apply: failed (exit 1)" in head
    assert "2026-11-25 01:00:00 UTC to 2026-11-25 01:12:34 UTC (12m 34s)" in head
    assert "/etc/asr-autoupdate/fleet.yaml" in head
    assert "asr-autoupdate 0.2.0" in head


def test_header_shows_the_run_error_with_what_to_do() -> None:
    report = apply_report().model_copy(
        update={"error": ErrorInfo(code="deadline_passed", message="160 minutes passed")}
    )

    text = unfolded(shown(report))

    assert "error deadline_passed: 160 minutes passed" in text
    assert "--resume REPORT" in text


def test_totals_count_mappings_by_result_including_unhealthy_and_the_calls() -> None:
    text = shown(apply_report())

    totals = unfolded(text.split("Totals", 1)[1])
    assert "vaults 2 (1 could not be listed)" in totals
    assert "mappings 4: 1 succeeded, 0 skipped, 1 failed, 1 unhealthy, 1 timed out" in totals
    assert "calls 12,345 GET, 678 PATCH; 9 throttled (429), 21 retried" in totals


def test_warnings_are_listed_with_their_code() -> None:
    assert "max_changes_reached --max-changes 10 reached" in unfolded(shown(apply_report()))


def test_every_failed_unhealthy_and_timed_out_mapping_is_listed_under_its_vault() -> None:
    text = shown(apply_report())

    section = text.split("Mappings to look at (3: 1 failed, 1 unhealthy, 1 timed out)", 1)[1]
    assert section.index("rsv-dr-0001") < section.index("failed      westeurope-")
    for result, name in (("failed", "001"), ("unhealthy", "002"), ("timed out", "003")):
        assert re.search(
            rf"{result} +westeurope-northeurope-24-hour-retention-policy-{name}", section
        )
    assert "policy-004" not in section  # succeeded: nothing to look at


def test_unhealthy_mapping_shows_asr_health_error_and_recommended_action() -> None:
    text = unfolded(shown(apply_report()))

    assert f"health {HEALTH_ERROR.code}: {HEALTH_ERROR.message}" in text
    assert f"→ {HEALTH_ERROR.recommended_action}" in text


def test_timed_out_mapping_says_where_its_operation_was_left_and_how_to_resume() -> None:
    text = unfolded(shown(apply_report()))

    assert "still running when the run ended (last status InProgress, 3 reads)" in text
    assert (
        "timed_out (1) → Track it to its end: asr-autoupdate apply CONFIG --resume REPORT." in text
    )


def test_vault_in_error_is_listed_with_its_error_and_what_to_do() -> None:
    text = unfolded(shown(apply_report()))

    assert "Vaults that could not be listed (1) rsv-dr-0002" in text
    assert "too_many_pages: the listing never ended" in text
    assert "raise max_pages_per_vault" in text


def test_a_code_wider_than_the_terminal_is_folded_never_cut() -> None:
    text = shown(apply_report())

    assert LONG_CODE in unfolded(text).replace(" ", "")
    assert "…" not in "".join(line for line in text.splitlines() if "CodeXX" in line)


def test_resources_are_shown_by_name_not_by_arm_id() -> None:
    text = shown(fleet_report(vaults=60)) + shown(apply_report())

    assert "/providers/" not in text
    assert "rsv-dr-0001  rg rg-dr-1 · sub 11111111-2222-3333-4444-555555555555" in text


def test_report_text_is_printed_verbatim_never_read_as_markup() -> None:
    assert "the [bold]server[/bold] said no" in unfolded(shown(apply_report()))


@pytest.mark.parametrize(
    "build",
    [
        apply_report,
        lambda: fleet_report(vaults=120, command=Command.APPLY),
        lambda: fleet_report(vaults=120, command=Command.PLAN),
        validate_report,
        lambda: fleet_report(vaults=120, command=Command.AUDIT),
    ],
    ids=["apply-failures", "apply-fleet", "plan", "validate", "audit"],
)
def test_no_line_is_wider_than_80_columns(build: Callable[[], Report]) -> None:
    lines = shown(build()).splitlines()

    assert max(len(line) for line in lines) <= 80


def test_no_line_is_wider_than_a_narrow_terminal() -> None:
    lines = shown(apply_report(), width=50).splitlines()

    assert max(len(line) for line in lines) <= 50


def test_plain_text_when_not_a_terminal_has_no_escape_codes_or_trailing_spaces() -> None:
    text = shown(fleet_report(vaults=30))

    assert "\x1b" not in text
    assert all(line == line.rstrip() for line in text.splitlines())


def test_a_terminal_gets_colour() -> None:
    out = _Tty()

    show_report(apply_report(), out)

    assert "\x1b[" in out.getvalue()


def test_500_vault_apply_report_lists_every_mapping_to_look_at() -> None:
    report = fleet_report(vaults=500, command=Command.APPLY)

    text = shown(report)

    listed = Counter(
        match.group(1)
        for match in re.finditer(r"^    (failed|unhealthy|timed out|interrupted) ", text, re.M)
    )
    totals = report.totals
    assert listed == {
        "failed": totals.failed,
        "unhealthy": totals.unhealthy,
        "timed out": totals.timed_out,
        "interrupted": totals.interrupted,
    }


def test_plan_report_shows_would_change_and_skip_reasons_and_no_failure_section() -> None:
    vid = vault_id(SUB, 3)
    report = assemble(
        Command.PLAN,
        [
            VaultReport(
                id=vid,
                subscription_id=SUB,
                status=VaultStatus.OK,
                error=None,
                mappings=[
                    mapping(vid, 1, MappingResult.WOULD_CHANGE, None),
                    mapping(vid, 2, MappingResult.SKIPPED, SkipReason.COMPLIANT),
                ],
            )
        ],
    )

    text = unfolded(shown(report))

    assert "asr-autoupdate plan: succeeded (exit 0)" in text
    assert "mappings 2: 1 would change, 1 skipped (1 compliant)" in text
    assert "Mappings to look at" not in text
    assert "Agents" not in text


def test_audit_report_lists_every_agent_that_is_not_current_with_its_dates() -> None:
    report = fleet_report(vaults=40, command=Command.AUDIT)
    agents = [i for v in report.vaults for i in v.protected_items or []]
    stale = [i for i in agents if i.agent_state is not AgentState.CURRENT]

    text = shown(report)

    assert f"Agents not current ({len(stale)} of {len(agents)})" in text
    rows = re.findall(r"^    (vm-app-\S+) +(update required|expiring|expired|unknown) ", text, re.M)
    assert sorted(name for name, _ in rows) == sorted(item.name for item in stale)
    assert re.search(r"vm-app-\S+ +expired +9\.62\.7172\.1 +2026-11-22 +2026-11-22", text)


def test_audit_totals_count_agents_by_state() -> None:
    report = fleet_report(vaults=100, command=Command.AUDIT)
    agents = report.totals.agents
    assert agents is not None
    total = sum(agents.model_dump().values())

    text = unfolded(shown(report))

    assert (
        f"agents {total}: {agents.current} current, {agents.update_required} update required, "
        f"{agents.expiring} expiring, {agents.expired} expired, {agents.unknown} unknown"
    ) in text


def test_validate_report_without_vaults_shows_its_error_and_zero_totals() -> None:
    text = unfolded(shown(validate_report()))

    assert "asr-autoupdate validate: invalid (exit 2)" in text
    assert "error invalid_config: fleet.yaml: action: field required" in text
    assert "vaults 0 mappings 0 calls 0 GET, 0 PATCH" in text
    assert "config /" not in text  # no config was read


def test_cli_report_show_prints_the_saved_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "report.json"
    write_report(apply_report(), path, stdout=io.StringIO())

    code = main(["report", "show", str(path)])

    out = capsys.readouterr().out
    assert code == 0
    assert out == shown(apply_report())


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "No such file or directory"),
        ("{not json", "Invalid JSON"),
        (json.dumps({"schema": "asr-autoupdate/report/v2"}), "schema"),
    ],
    ids=["missing", "not-json", "not-a-v1-report"],
)
def test_cli_report_show_refuses_an_unreadable_report_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, problem: str
) -> None:
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)

    code = main(["report", "show", str(path)])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert str(path) in captured.err and problem in captured.err


def unfolded(text: str) -> str:
    """The text's words, lines joined and runs of spaces squeezed, so folded phrases read whole."""
    return re.sub(" +", " ", " ".join(line.strip() for line in text.splitlines() if line.strip()))
