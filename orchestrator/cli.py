"""The `asr-autoupdate` command line: parse, configure logging, run, exit with the code.

Nothing else lives here: the config, the run and the report each have their own module.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

import structlog

from orchestrator import __version__
from orchestrator.config.model import LoadedConfig, load_config
from orchestrator.errors import ConfigError, LockHeldError, ReportError
from orchestrator.output import display
from orchestrator.output.logs import configure_logging
from orchestrator.output.report import Calls, Command, ExitCode, Outcome, Report, count_totals
from orchestrator.output.report_file import load_report, write_report

if TYPE_CHECKING:
    from orchestrator.work.records import RunReport

SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"

_log = structlog.get_logger("orchestrator.cli")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.command == "emulator":
        from orchestrator.emulator import main as emulator_main

        return emulator_main(_emulator_argv(args))
    if args.command == "schema":
        return _print_schema(args.what, sys.stdout)
    if args.command == "report":
        return _report_show(args) if args.view == "show" else _report_html(args)
    # Logs follow sys.stderr, so a live progress display can print them above itself.
    configure_logging(fmt=args.log_format, level=args.log_level, stream=display.log_stream())
    if args.command == "validate":
        return _validate(args.config, sys.stdout)
    return _run(Command(args.command), args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asr-autoupdate",
        description="Enable or disable ASR Mobility agent auto-update across a fleet of vaults.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-format", choices=["json", "console"], default=None)
    common.add_argument("--log-level", default="info", type=_log_level)
    common.add_argument(
        "--report", metavar="PATH", help="write the JSON report here (default: stdout)"
    )
    common.add_argument("--no-progress", action="store_true", help="no progress display")
    validate = commands.add_parser("validate", parents=[common], help="check a config; no calls")
    validate.add_argument("config", metavar="CONFIG")
    plan = commands.add_parser("plan", parents=[common], help="show what apply would do (GET only)")
    plan.add_argument("config", metavar="CONFIG")
    apply = commands.add_parser("apply", parents=[common], help="change what needs changing")
    apply.add_argument("config", metavar="CONFIG")
    apply.add_argument(
        "--resume", metavar="REPORT", help="re-track what an earlier report left running"
    )
    emulator = commands.add_parser("emulator", help="serve the built-in ASR emulator")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=0)
    emulator.add_argument("--fleet", metavar="FLEET.yaml")
    schema = commands.add_parser("schema", help="print a JSON Schema")
    schema.add_argument("what", choices=["config", "report"])
    saved = commands.add_parser("report", help="read a saved report")
    views = saved.add_subparsers(dest="view", required=True, metavar="VIEW")
    show = views.add_parser("show", help="a saved report on the terminal: totals, then failures")
    show.add_argument("saved", metavar="REPORT")
    page = views.add_parser("html", help="a saved report as one self-contained HTML page")
    page.add_argument("saved", metavar="REPORT")
    page.add_argument("-o", "--output", metavar="FILE", required=True, help="write the page here")
    return parser


def _log_level(text: str) -> str:
    level = text.lower()
    if level not in {"debug", "info", "warning", "error", "critical"}:
        raise argparse.ArgumentTypeError(f"unknown log level {text!r}")
    return level


def _emulator_argv(args: argparse.Namespace) -> list[str]:
    argv = ["--host", args.host, "--port", str(args.port)]
    return argv + (["--fleet", args.fleet] if args.fleet else [])


def _validate(path: str, out: TextIO) -> int:
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        return _refuse(exc)
    for warning in loaded.warnings:
        _log.warning("config_warning", detail=warning)
    _describe_targets(loaded, out)
    return int(ExitCode.SUCCEEDED)


def _describe_targets(loaded: LoadedConfig, out: TextIO) -> None:
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


def _run(command: Command, args: argparse.Namespace) -> int:
    try:
        loaded = load_config(args.config)
        _check_report_path(args.report)
        resume = _load_resume(getattr(args, "resume", None))
    except ConfigError as exc:
        code = _refuse(exc)
        if args.report and Path(args.report).parent.is_dir():
            with contextlib.suppress(OSError):  # the config's error, on stderr, is what matters
                write_report(_invalid_report(command), args.report, stdout=sys.stdout)
        return code
    from orchestrator.app.runner import execute  # the network stack loads only for runs

    terminal = sys.stderr.isatty()
    console = display.stderr_console() if terminal else None
    watch = (
        display.live_progress(command, console)
        if console is not None and not args.no_progress
        else None
    )
    try:
        report = asyncio.run(execute(loaded, command, resume=resume, watch=watch))
    except LockHeldError as exc:
        _log.error("lock_held", lock_file=exc.path)
        sys.stderr.write(f"asr-autoupdate: {exc}; nothing was done\n")
        return int(ExitCode.LOCK_HELD)
    except ConfigError as exc:
        return _refuse(exc)
    code = _write(report, args.report)
    if console is not None:
        # The terminal's summary takes the whole report: only there is it built as one model.
        display.print_outcome(report.whole(), loaded.config, console)
    return code


def _write(report: RunReport, path: str | None) -> int:
    """Write the report; if its file cannot be written, put it on stdout so it is not lost."""
    try:
        report.write(path, stdout=sys.stdout)
    except OSError as exc:
        _log.error("report_not_written", path=path, error=str(exc))
        sys.stderr.write(
            f"asr-autoupdate: cannot write the report to {path}: {exc}; it follows on stdout\n"
        )
        report.write(None, stdout=sys.stdout)
        return report.exit_code or int(ExitCode.FAILED)
    return report.exit_code


def _load_resume(path: str | None) -> Report | None:
    if path is None:
        return None
    try:
        return load_report(path)
    except ReportError as exc:
        raise ConfigError(path, "--resume", str(exc)) from exc


def _check_report_path(path: str | None) -> None:
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise ConfigError(path, "--report", "is a directory")
    if not target.parent.is_dir():
        raise ConfigError(path, "--report", f"the directory {target.parent} does not exist")


def _refuse(exc: ConfigError) -> int:
    _log.error("invalid_config", file=exc.file, key=exc.key, problem=exc.problem)
    sys.stderr.write(f"asr-autoupdate: {exc}\n")
    return int(ExitCode.INVALID)


def _invalid_report(command: Command) -> Report:
    now = datetime.now(UTC)
    return Report(
        run_id="",
        command=command,
        action=None,
        started_at=now,
        finished_at=now,
        duration_s=0.0,
        outcome=Outcome.INVALID,
        exit_code=int(ExitCode.INVALID),
        totals=count_totals(Counter(), vaults=0, vaults_failed=0),
        calls=Calls(get=0, set=0, throttled=0, retried=0),
        vaults=[],
    )


def _print_schema(what: str, out: TextIO) -> int:
    if what == "config":
        from orchestrator.config.model import Config

        schema = Config.model_json_schema()
    else:
        schema = Report.model_json_schema(mode="serialization", by_alias=True)
    schema = {"$schema": SCHEMA_DIALECT, **schema}
    out.write(json.dumps(schema, indent=2) + "\n")
    return int(ExitCode.SUCCEEDED)


def _report_show(args: argparse.Namespace) -> int:
    """`report show REPORT`: the report on stdout, as wide as the terminal (80 when piped)."""
    import shutil

    from orchestrator.output.show import show_report

    try:
        report = load_report(args.saved)
    except ReportError as exc:
        sys.stderr.write(f"asr-autoupdate: {' '.join(str(exc).splitlines())}\n")
        return int(ExitCode.INVALID)
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 80
    show_report(report, sys.stdout, width=width)
    return int(ExitCode.SUCCEEDED)


def _report_html(args: argparse.Namespace) -> int:
    """`report html REPORT -o FILE`: the page, written atomically; 2 if either file fails."""
    from orchestrator.output.atomic import replace_file
    from orchestrator.output.html import render_html

    try:
        report = load_report(args.saved)
    except ReportError as exc:
        sys.stderr.write(f"asr-autoupdate: {' '.join(str(exc).splitlines())}\n")
        return int(ExitCode.INVALID)
    try:
        replace_file(args.output, render_html(report))
    except OSError as exc:
        sys.stderr.write(f"asr-autoupdate: cannot write {args.output}: {exc.strerror or exc}\n")
        return int(ExitCode.INVALID)
    return int(ExitCode.SUCCEEDED)
