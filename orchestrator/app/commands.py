"""The commands behind the command line: validate, and the runs (plan, apply, audit).

Everything that can be refused is refused before anything is sent: the config, the report's
and the metrics' paths (really tried), the reports given to ``--resume``, ``--retry`` and
``--restore``, the narrowing flags. Each refusal is said once, on stderr, and leaves a report
saying why (exit 2) where a report was asked for. Exit codes: DESIGN's order 2, 5, 4, 130, 1, 3.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import sys
from collections import Counter
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import structlog

from orchestrator import __version__
from orchestrator.app.outputs import STDOUT, Outputs
from orchestrator.app.selection import Narrowing, check_resume
from orchestrator.config import LoadedConfig, load_config
from orchestrator.errors import ConfigError, LockHeldError, ReportError
from orchestrator.output.assemble import RunReport
from orchestrator.output.report import (
    NO_CALLS,
    Command,
    ConfigIdentity,
    ExitCode,
    Outcome,
    Report,
    count_totals,
)
from orchestrator.output.report_file import check_writable, load_report, write_report
from orchestrator.secrets import Secrets
from orchestrator.work.outcomes import ErrorInfo
from orchestrator.work.resume import ResumePoint

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

    from orchestrator.app.runner import RunRequest, Watch
    from orchestrator.arm.transport import Transport
    from orchestrator.config import Config

_log = structlog.get_logger("orchestrator.cli")


@dataclass(frozen=True)
class RunArgs:
    """A run's command line, parsed."""

    command: Command
    config: str
    report: str | None  # a path, "-", or None (stdout off a terminal, else none)
    metrics_file: str | None = None
    vaults: tuple[str, ...] = ()
    subscriptions: tuple[str, ...] = ()
    max_changes: int | None = None
    resume: str | None = None
    retry: str | None = None
    restore: str | None = None


@dataclass(frozen=True)
class Terminal:
    """What the process's streams are, and what it draws on a terminal."""

    stdout: TextIO
    stdout_is_tty: bool
    show: Callable[[RunReport], None] | None  # the summary on a terminal
    watch: Watch | None = None  # the live display, on a terminal


def report_destination(report: str | None, stdout_is_tty: bool) -> str | None:
    """``--report``: a path or ``-``; without it, stdout off a terminal, nothing on one."""
    if report is not None:
        return report
    return None if stdout_is_tty else STDOUT


def validate(args: RunArgs, secrets: Secrets, terminal: Terminal) -> int:
    """``validate``: check the config, say what it targets; a report if asked for."""
    destination = args.report  # validate's report only when asked for
    try:
        loaded = load_config(args.config)
        _check_outputs(destination, None)
    except ConfigError as exc:
        return refuse(exc, Command.VALIDATE, args.config, destination, secrets, terminal)
    for code, message in loaded.warnings:
        _log.warning("config_warning", code=code, detail=message)
    describe_targets(loaded, terminal.stdout if destination != STDOUT else sys.stderr)
    if destination is not None:
        report = _empty_report(Command.VALIDATE, args.config, ExitCode.SUCCEEDED, None, loaded)
        _write(report, destination, secrets, terminal.stdout)
    return int(ExitCode.SUCCEEDED)


def run(args: RunArgs, secrets: Secrets, terminal: Terminal) -> int:
    """``plan``, ``apply`` or ``audit``: run, write the report, show the summary."""
    return asyncio.run(run_async(args, secrets, terminal, environ=os.environ))


async def run_async(
    args: RunArgs,
    secrets: Secrets,
    terminal: Terminal,
    *,
    environ: MutableMapping[str, str],
    transport: Callable[[Config], Transport] | None = None,
    credential: Callable[[Config], AsyncTokenCredential] | None = None,
) -> int:
    """:func:`run` on a running loop; tests give their own ``transport`` and ``credential``."""
    from orchestrator.app.runner import RunEnvironment, execute  # the network stack loads here

    destination = report_destination(args.report, terminal.stdout_is_tty)
    try:
        request = _request(args, destination)
    except ConfigError as exc:
        return refuse(exc, args.command, args.config, destination, secrets, terminal)
    env = RunEnvironment(
        secrets=secrets,
        stdout=terminal.stdout,
        environ=environ,
        watch=terminal.watch,
        transport=transport,
        credential=credential,
    )
    try:
        report = await execute(request, env)
    except LockHeldError as exc:
        sys.stderr.write(f"asr-autoupdate: {exc}; nothing was done\n")
        return int(ExitCode.LOCK_HELD)
    except ConfigError as exc:
        return refuse(exc, args.command, args.config, destination, secrets, terminal)
    if terminal.show is not None:
        terminal.show(report)
    return report.exit_code


def _request(args: RunArgs, destination: str | None) -> RunRequest:
    from orchestrator.app.runner import RunRequest

    loaded = load_config(args.config)
    _check_outputs(destination, args.metrics_file)
    reports = {
        flag: _load(path, flag)
        for flag, path in (
            ("--resume", args.resume),
            ("--retry", args.retry),
            ("--restore", args.restore),
        )
        if path is not None
    }
    if len(reports) > 1:
        raise ConfigError(
            args.config, "/".join(reports), "give only one of --resume, --retry, --restore"
        )
    resume: tuple[ResumePoint, ...] = ()
    if "--resume" in reports:
        resume = tuple(
            check_resume(loaded.config, reports["--resume"], loaded.sha256, args.resume or "")
        )
    narrowing = Narrowing(
        vaults=args.vaults,
        subscriptions=args.subscriptions,
        retry=reports.get("--retry"),
        restore=reports.get("--restore"),
        report_paths={
            flag: path
            for flag, path in (("--retry", args.retry), ("--restore", args.restore))
            if path
        },
    )
    return RunRequest(
        loaded,
        args.command,
        narrowing=narrowing,
        max_changes=args.max_changes,
        resume=resume,
        outputs=Outputs(report=destination, metrics_path=args.metrics_file),
    )


def _load(path: str, flag: str) -> Report:
    try:
        return load_report(path)
    except ReportError as exc:
        raise ConfigError(path, flag, str(exc)) from exc


def _check_outputs(report: str | None, metrics: str | None) -> None:
    for flag, path in (("--report", report), ("--metrics-file", metrics)):
        if path is None or path == STDOUT:
            continue
        try:
            check_writable(path)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ConfigError(path, flag, f"cannot be written: {reason}") from exc


def refuse(
    exc: ConfigError,
    command: Command,
    config: str,
    destination: str | None,
    secrets: Secrets,
    terminal: Terminal,
) -> int:
    """Say a config or usage error once, leave a report saying why where one goes; exit 2."""
    sys.stderr.write(secrets.scrub(f"asr-autoupdate: {exc}") + "\n")
    unwritable = exc.key in ("--report", "--metrics-file")
    code = "report_path_unwritable" if unwritable else "invalid_config"
    if unwritable and exc.key == "--report":
        destination = None if terminal.stdout_is_tty else STDOUT
    if destination is not None:
        error = ErrorInfo(code=code, message=str(exc))
        report = _empty_report(command, config, ExitCode.INVALID, error, None)
        with contextlib.suppress(OSError):  # the error, on stderr, is what matters
            _write(report, destination, secrets, terminal.stdout)
    return int(ExitCode.INVALID)


def _empty_report(
    command: Command,
    config: str,
    code: ExitCode,
    error: ErrorInfo | None,
    loaded: LoadedConfig | None,
) -> Report:
    now = datetime.now(UTC)
    return Report(
        tool_version=__version__,
        run_id="",
        command=command,
        action=loaded.config.action if loaded else None,
        config=_identity(config, loaded),
        started_at=now,
        finished_at=now,
        duration_s=0.0,
        outcome=Outcome.SUCCEEDED if code is ExitCode.SUCCEEDED else Outcome.INVALID,
        exit_code=int(code),
        error=error,
        warnings=[],
        totals=count_totals(Counter(), vaults=0, vaults_failed=0),
        calls=NO_CALLS,
        vaults=[],
    )


def _identity(config: str, loaded: LoadedConfig | None) -> ConfigIdentity | None:
    if loaded is not None:
        return ConfigIdentity(path=str(loaded.path), sha256=loaded.sha256)
    try:
        digest = hashlib.sha256(Path(config).read_bytes()).hexdigest()
    except OSError:
        return None
    return ConfigIdentity(path=config, sha256=digest)


def _write(report: Report, destination: str, secrets: Secrets, stdout: TextIO) -> None:
    write_report(
        report, None if destination == STDOUT else destination, stdout=stdout, scrub=secrets.scrub
    )


def describe_targets(loaded: LoadedConfig, out: TextIO) -> None:
    """What ``validate`` prints: the config's action and targets, one per line."""
    config = loaded.config
    out.write(f"{loaded.path}: valid; action {config.action}, endpoint {config.endpoint}\n")
    for target in config.vault_targets():
        desired = target.desired
        account = f" with {desired.automation_account}" if desired.automation_account else ""
        out.write(f"  vault {target.vault.arm_id}: {desired.action}{account}\n")
    found = config.subscription_targets()
    if found == "all":
        out.write("  every vault of every subscription the credential can see\n")
    for sub in found if isinstance(found, list) else []:
        groups = (
            ", ".join(sorted(sub.resource_groups)) if sub.resource_groups else "all resource groups"
        )
        excluded = f"; excluding {', '.join(sorted(sub.exclude))}" if sub.exclude else ""
        out.write(f"  every vault of subscription {sub.subscription_id} ({groups}{excluded})\n")
    if config.emulator is not None:
        out.write("  against the built-in emulator (started in-process)\n")


def report_show(path: str, out: TextIO) -> int:
    """``report show REPORT``: the report on ``out``, as wide as the terminal (80 when piped)."""
    import shutil

    from orchestrator.output.show import show_report

    try:
        report = load_report(path)
    except ReportError as exc:
        sys.stderr.write(f"asr-autoupdate: {' '.join(str(exc).splitlines())}\n")
        return int(ExitCode.INVALID)
    width = shutil.get_terminal_size().columns if out.isatty() else 80
    show_report(report, out, width=width)
    return int(ExitCode.SUCCEEDED)


def report_html(path: str, output: str) -> int:
    """``report html REPORT -o FILE``: the page, written atomically; 2 if either file fails."""
    from orchestrator.output.atomic import replace_file
    from orchestrator.output.html import render_html

    try:
        report = load_report(path)
    except ReportError as exc:
        sys.stderr.write(f"asr-autoupdate: {' '.join(str(exc).splitlines())}\n")
        return int(ExitCode.INVALID)
    try:
        replace_file(output, render_html(report))
    except OSError as exc:
        sys.stderr.write(f"asr-autoupdate: cannot write {output}: {exc.strerror or exc}\n")
        return int(ExitCode.INVALID)
    return int(ExitCode.SUCCEEDED)
