"""Metrics for node_exporter's textfile collector: read back by Prometheus's own parser."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from report_samples import fleet_report

from orchestrator.asr.agents import AgentState
from orchestrator.output.metrics import metrics_text, write_metrics
from orchestrator.output.report import Command, Outcome, Report
from orchestrator.work.outcomes import MappingResult

PREFIX = "asr_autoupdate_"


def parsed(report: Report) -> dict[str, dict[frozenset[tuple[str, str]], float]]:
    """Each family's samples by their labels, as prometheus_client's parser reads the text."""
    families = {}
    for family in text_string_to_metric_families(metrics_text(report)):
        families[family.name] = {
            frozenset(sample.labels.items()): sample.value for sample in family.samples
        }
    return families


def sample(labels: dict[str, str]) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


@pytest.fixture
def umask_077() -> Iterator[None]:
    """A cron job's strict umask, under which a plain write would hide the file from others."""
    old = os.umask(0o077)
    yield
    os.umask(old)


def test_every_family_is_a_gauge_with_help_and_the_prefix() -> None:
    families = list(text_string_to_metric_families(metrics_text(fleet_report(vaults=10))))

    assert families
    for family in families:
        assert family.name.startswith(PREFIX + "last_run_")
        assert family.type == "gauge"
        assert family.documentation


def test_every_sample_is_labelled_with_the_command() -> None:
    for command in (Command.PLAN, Command.APPLY, Command.AUDIT):
        for samples in parsed(fleet_report(vaults=10, command=command)).values():
            assert all(("command", command.value) in labels for labels in samples)


def test_mappings_by_result_agree_with_the_totals_including_zeros() -> None:
    report = fleet_report(vaults=500)

    mappings = parsed(report)[PREFIX + "last_run_mappings"]

    assert mappings == {
        sample({"command": "apply", "result": r.value}): getattr(report.totals, r.value)
        for r in MappingResult
    }
    assert sum(mappings.values()) == report.totals.mappings


def test_run_figures_agree_with_the_report() -> None:
    report = fleet_report(vaults=120)
    apply = sample({"command": "apply"})

    families = parsed(report)

    assert families[PREFIX + "last_run_timestamp_seconds"][apply] == report.finished_at.timestamp()
    assert families[PREFIX + "last_run_duration_seconds"][apply] == report.duration_s
    assert families[PREFIX + "last_run_exit_code"][apply] == report.exit_code
    assert families[PREFIX + "last_run_vaults"][apply] == report.totals.vaults
    assert families[PREFIX + "last_run_vaults_failed"][apply] == report.totals.vaults_failed
    assert families[PREFIX + "last_run_throttled_responses"][apply] == report.calls.throttled
    assert families[PREFIX + "last_run_retried_requests"][apply] == report.calls.retried
    assert families[PREFIX + "last_run_warnings"][apply] == len(report.warnings)
    assert families[PREFIX + "last_run_calls"] == {
        sample({"command": "apply", "kind": "get"}): report.calls.get,
        sample({"command": "apply", "kind": "set"}): report.calls.set,
    }


def test_outcome_is_1_for_the_runs_outcome_and_0_for_every_other() -> None:
    report = fleet_report(vaults=20)

    outcome = parsed(report)[PREFIX + "last_run_outcome"]

    assert outcome == {
        sample({"command": "apply", "outcome": o.value}): float(o is report.outcome)
        for o in Outcome
    }
    assert report.outcome is Outcome.INTERRUPTED


def test_audit_counts_agents_by_state() -> None:
    report = fleet_report(vaults=100, command=Command.AUDIT)
    agents = report.totals.agents
    assert agents is not None

    by_state = parsed(report)[PREFIX + "last_run_agents"]

    assert by_state == {
        sample({"command": "audit", "state": s.value}): getattr(agents, s.value) for s in AgentState
    }


def test_other_commands_have_no_agents_metric() -> None:
    assert PREFIX + "last_run_agents" not in parsed(fleet_report(vaults=5, command=Command.PLAN))


def test_label_values_are_escaped_and_read_back_exactly() -> None:
    version = 'v1 "quoted" back\\slash\nnewline'
    report = fleet_report(vaults=2).model_copy(update={"tool_version": version})

    info = parsed(report)[PREFIX + "last_run_info"]

    assert info == {sample({"command": "apply", "version": version, "action": "enable"}): 1.0}


def test_text_is_deterministic_and_ends_with_a_newline() -> None:
    text = metrics_text(fleet_report(vaults=30))

    assert text == metrics_text(fleet_report(vaults=30))
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_write_metrics_puts_the_text_in_place_readable_by_others(
    tmp_path: Path, umask_077: None
) -> None:
    path = tmp_path / "asr-autoupdate-apply.prom"
    text = metrics_text(fleet_report(vaults=3))

    write_metrics(path, text)

    assert path.read_text(encoding="utf-8") == text
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_write_metrics_replaces_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "m.prom"
    path.write_text("old\n")

    write_metrics(path, "new\n")

    assert path.read_text() == "new\n"


def test_write_metrics_into_a_missing_directory_raises_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_metrics(tmp_path / "nowhere" / "m.prom", "x 1\n")

    assert list(tmp_path.iterdir()) == []


def test_a_failed_rename_keeps_the_old_file_and_removes_the_temporary_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.prom"
    path.write_text("old\n")

    def refuse(src: object, dst: object) -> None:
        raise PermissionError("refused")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        write_metrics(path, "new\n")

    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["m.prom"]
