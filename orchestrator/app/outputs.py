"""Where a finished run's report and figures go, and what happens when they cannot go there.

The report goes to its file (atomically) or to stdout; the run's secrets are scrubbed from
every piece. A report file that cannot be written (its directory vanished mid-run, the disk
filled) sends the report to stdout instead, saying so, with the process's real exit code in it
(such a run exits 1 at least). A stdout that fails too ends in one line on stderr, never a
traceback. The metrics file, if asked for, follows.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

import structlog

from orchestrator.app.verdict import RunEnd, build_head
from orchestrator.output.assemble import RunReport
from orchestrator.output.report_file import write_report
from orchestrator.secrets import Secrets
from orchestrator.work.outcomes import ErrorInfo
from orchestrator.work.records import VaultWork

_log = structlog.get_logger("orchestrator.outputs")


STDOUT = "-"


@dataclass(frozen=True)
class Outputs:
    """Where the run's report and metrics go. ``report``: a path, ``-`` for stdout, or None
    for no JSON report at all (a terminal shows the summary instead)."""

    report: str | None = STDOUT
    metrics_path: str | None = None

    @property
    def report_path(self) -> str | None:
        """The report's file; None when it goes to stdout or nowhere."""
        return None if self.report in (None, STDOUT) else self.report


def write_outputs(
    outputs: Outputs, end: RunEnd, vaults: Sequence[VaultWork], secrets: Secrets, stdout: TextIO
) -> RunReport:
    """Write the report and the metrics of a settled run; returns the report as written."""
    report = RunReport(build_head(end, vaults), vaults)
    if outputs.report is not None:
        try:
            write_report(
                report.head,
                outputs.report_path,
                stdout=stdout,
                vaults=report.vaults(),
                scrub=secrets.scrub,
            )
        except OSError as exc:
            report = _to_stdout_instead(outputs, end, vaults, secrets, stdout, exc)
    _log.info(
        "run_finished",
        outcome=str(report.head.outcome),
        exit_code=report.head.exit_code,
        duration_s=round(report.head.duration_s, 3),
        **report.head.totals.model_dump(exclude={"agents"}),
    )
    if outputs.metrics_path is not None:
        from orchestrator.output.metrics import metrics_text, write_metrics  # only when asked

        try:
            write_metrics(outputs.metrics_path, metrics_text(report.head))
        except OSError as exc:
            _log.error("metrics_not_written", path=outputs.metrics_path, error=str(exc))
            sys.stderr.write(
                f"asr-autoupdate: cannot write the metrics file {outputs.metrics_path}: {exc}\n"
            )
    return report


def _to_stdout_instead(
    outputs: Outputs,
    end: RunEnd,
    vaults: Sequence[VaultWork],
    secrets: Secrets,
    stdout: TextIO,
    exc: OSError,
) -> RunReport:
    path = outputs.report_path
    message = secrets.scrub(f"cannot write the report to {path}: {exc}")
    _log.error("report_not_written", path=path, error=message)
    sys.stderr.write(f"asr-autoupdate: {message}; it follows on stdout\n")
    failure = ErrorInfo(code="report_path_unwritable", message=message)
    report = RunReport(build_head(end, vaults, extra_failure=failure), vaults)
    try:
        write_report(report.head, None, stdout=stdout, vaults=report.vaults(), scrub=secrets.scrub)
    except OSError as again:
        sys.stderr.write(f"asr-autoupdate: cannot write the report to stdout either: {again}\n")
    return report
