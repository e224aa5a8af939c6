"""A run's figures for Prometheus, as node_exporter's textfile collector reads them.

:func:`metrics_text` renders the text exposition format (version 0.0.4); :func:`write_metrics`
puts it in place atomically, readable by node_exporter (mode 0644). Every metric is a gauge
named ``asr_autoupdate_last_run_*``: they describe the last run of a command, not a count that
grows, and every sample carries ``command``, so plan, apply and audit can each keep their own
file (e.g. ``asr-autoupdate-apply.prom``) in the collector's directory without clashing.
Enumerated labels (``outcome``, ``result``, ``state``, ``kind``) always list every value, zeros
included, so an alert on a value never sees it vanish. The order is fixed.

The families, all labelled ``command``:

- ``asr_autoupdate_last_run_info{version, action}`` 1
- ``asr_autoupdate_last_run_timestamp_seconds``: when the run finished (Unix time)
- ``asr_autoupdate_last_run_duration_seconds``
- ``asr_autoupdate_last_run_outcome{outcome}``: 1 for the run's outcome, 0 for the others
- ``asr_autoupdate_last_run_exit_code``
- ``asr_autoupdate_last_run_vaults``, ``asr_autoupdate_last_run_vaults_failed``
- ``asr_autoupdate_last_run_mappings{result}``
- ``asr_autoupdate_last_run_calls{kind="get"|"set"}``
- ``asr_autoupdate_last_run_throttled_responses``, ``asr_autoupdate_last_run_retried_requests``
- ``asr_autoupdate_last_run_warnings``
- ``asr_autoupdate_last_run_agents{state}``: audit only
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from orchestrator.asr.agents import AgentState
from orchestrator.output.atomic import replace_file
from orchestrator.output.report import Outcome, Report
from orchestrator.work.outcomes import MappingResult

PREFIX: Final = "asr_autoupdate_last_run_"
FILE_MODE: Final = 0o644  # node_exporter runs as its own user


@dataclass(frozen=True, slots=True)
class _Family:
    """One metric family: its name (after the prefix), help text and samples."""

    name: str
    help: str
    samples: tuple[tuple[Mapping[str, str], float], ...]


def metrics_text(report: Report) -> str:
    """The report's figures in Prometheus's text format, ending with a newline."""
    lines: list[str] = []
    for family in _families(report):
        name = PREFIX + family.name
        lines.append(f"# HELP {name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {name} gauge")
        base = {"command": report.command.value}
        for labels, value in family.samples:
            lines.append(f"{name}{_labels({**base, **labels})} {_number(value)}")
    return "\n".join(lines) + "\n"


def write_metrics(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically, mode 0644 whatever the umask.

    node_exporter never reads a half-written file: the temporary file is a dot-file ending in
    ``.tmp``, which its ``*.prom`` glob skips. Raises OSError naming the path when it cannot be
    written (missing directory, no permission); the old file, if any, is then left as it was.
    """
    replace_file(path, text, mode=FILE_MODE)


def _families(report: Report) -> Iterator[_Family]:
    """The run itself: which, when, how long, how it ended; then what it counted."""
    yield _Family(
        "info",
        "The last run's tool version and action; always 1.",
        (({"version": report.tool_version, "action": report.action or ""}, 1),),
    )
    yield _one(
        "timestamp_seconds",
        "When the last run finished, in seconds since the Unix epoch.",
        report.finished_at.timestamp(),
    )
    yield _one("duration_seconds", "How long the last run took, in seconds.", report.duration_s)
    yield _Family(
        "outcome",
        "The last run's outcome: 1 for the outcome it had, 0 for the others.",
        tuple(({"outcome": o.value}, float(o is report.outcome)) for o in Outcome),
    )
    yield _one("exit_code", "The last run's process exit code.", report.exit_code)
    yield from _count_families(report)


def _count_families(report: Report) -> Iterator[_Family]:
    """What the run found and did: vaults, mappings, calls, warnings, agents."""
    totals, calls = report.totals, report.calls
    yield _one("vaults", "Vaults the last run targeted.", totals.vaults)
    yield _one("vaults_failed", "Vaults the last run could not list.", totals.vaults_failed)
    yield _Family(
        "mappings",
        "Mappings the last run listed, by how they ended.",
        tuple(({"result": r.value}, getattr(totals, r.value)) for r in MappingResult),
    )
    yield _Family(
        "calls",
        "ARM requests the last run sent, by kind: get (GET) or set (PATCH).",
        (({"kind": "get"}, calls.get), ({"kind": "set"}, calls.set)),
    )
    yield _one("throttled_responses", "Answers that were 429 in the last run.", calls.throttled)
    yield _one("retried_requests", "Requests the last run sent again.", calls.retried)
    yield _one("warnings", "Warnings the last run's report carries.", len(report.warnings))
    if totals.agents is not None:
        agents = totals.agents
        yield _Family(
            "agents",
            "Replicated items' Mobility agents the last audit found, by state.",
            tuple(({"state": s.value}, getattr(agents, s.value)) for s in AgentState),
        )


def _one(name: str, help_text: str, value: float) -> _Family:
    return _Family(name, help_text, (({}, value),))


def _labels(labels: Mapping[str, str]) -> str:
    inner = ",".join(f'{key}="{_escape_label(value)}"' for key, value in labels.items())
    return "{" + inner + "}"


def _escape_label(value: str) -> str:
    """A label value as the exposition format writes it: backslash, quote, newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    """Whole numbers without a decimal point; others in Python's shortest exact form."""
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    return repr(float(value))
