"""The `asr-autoupdate` command line: parse, configure logging, run, exit with the code.

Nothing else lives here: the commands are :mod:`orchestrator.app.commands`, the run
:mod:`orchestrator.app.runner`, what a terminal shows :mod:`orchestrator.output.display`.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final, TextIO

from orchestrator import __version__
from orchestrator.app import commands
from orchestrator.app.commands import RunArgs, Terminal
from orchestrator.output.logs import configure_logging, log_stream
from orchestrator.output.report import Command, ExitCode, Report
from orchestrator.secrets import from_environment

if TYPE_CHECKING:
    from orchestrator.app.runner import Watch
    from orchestrator.output.assemble import RunReport

SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
RUNS: Final = (Command.PLAN, Command.APPLY, Command.AUDIT)
# Allocations (net, of objects the cyclic collector tracks) between two young collections; the
# interpreter's default is 700. A run's records live until its report is written and form no
# garbage cycles: on 10,000 mappings the default thresholds made the collector run 1,700 times
# (13 of them over the whole heap, growing with the fleet) for 19 % of the run's CPU, to free
# 410 objects. With 10,000 it runs ~20 times; the young garbage it waits for is a few MB at most.
GC_YOUNG_THRESHOLD: Final = 10_000


def entry() -> int:
    """The process's entry (the console script, ``python -m orchestrator``): :func:`main`, then
    an exit that skips the collector's last walk.

    At exit CPython runs the cyclic garbage collector over every object still alive — some
    70,000 for the modules of aiohttp, azure-identity and pydantic alone, then the run's records
    — only for the operating system to take the memory back: 0.11-0.15 s on a 2-core machine,
    after the report was written. Frozen objects are left out of that walk (0.013-0.021 s).
    Nothing is lost: the report, the metrics file and the journal are written and closed by
    then, the standard streams are still flushed and atexit handlers still run.
    """
    code = main()
    gc.freeze()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the process's), run the command; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "emulator":
        from orchestrator.emulator import main as emulator_main

        return emulator_main(_emulator_argv(args))
    if args.command == "schema":
        return _print_schema(args.what, sys.stdout)
    if args.command == "report":
        if args.view == "show":
            return commands.report_show(args.saved, sys.stdout)
        return commands.report_html(args.saved, args.output)
    command = Command(args.command)
    if command in RUNS:
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
    on_terminal = sys.stderr.isatty()
    live = on_terminal and not args.no_progress and command in RUNS
    # Above a live display only warnings and errors print, unless more was asked for.
    level = args.log_level or ("warning" if live else "info")
    secrets = from_environment()
    # Logs follow sys.stderr, so a live progress display can print them above itself.
    configure_logging(fmt=args.log_format, level=level, stream=log_stream(), secrets=secrets)
    show, watch = _drawn(command, live=live) if on_terminal else (None, None)
    terminal = Terminal(
        stdout=sys.stdout, stdout_is_tty=sys.stdout.isatty(), show=show, watch=watch
    )
    run_args = _run_args(command, args)
    if command is Command.VALIDATE:
        return commands.validate(run_args, secrets, terminal)
    return commands.run(run_args, secrets, terminal)


def _drawn(command: Command, *, live: bool) -> tuple[Callable[[RunReport], None], Watch | None]:
    """What a terminal on stderr shows: the outcome after the run, the progress while it works."""
    from orchestrator.output import display  # rich's tables and live display: a terminal's only

    console = display.stderr_console()
    return display.outcome_printer(console), display.live_progress(
        command, console
    ) if live else None


def _run_args(command: Command, args: argparse.Namespace) -> RunArgs:
    return RunArgs(
        command=command,
        config=args.config,
        report=args.report,
        metrics_file=getattr(args, "metrics_file", None),
        vaults=tuple(getattr(args, "vault", None) or ()),
        subscriptions=tuple(getattr(args, "subscription", None) or ()),
        max_changes=getattr(args, "max_changes", None),
        resume=getattr(args, "resume", None),
        retry=getattr(args, "retry", None),
        restore=getattr(args, "restore", None),
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asr-autoupdate",
        description="Enable or disable ASR Mobility agent auto-update across a fleet of vaults.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands_ = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common()
    narrow = _narrowing()
    validate = commands_.add_parser("validate", parents=[common], help="check a config; no calls")
    validate.add_argument("config", metavar="CONFIG")
    plan = commands_.add_parser(
        "plan", parents=[common, narrow], help="show what apply would do (GET only)"
    )
    plan.add_argument("config", metavar="CONFIG")
    apply = commands_.add_parser(
        "apply", parents=[common, narrow], help="change what needs changing"
    )
    apply.add_argument("config", metavar="CONFIG")
    _apply_flags(apply)
    audit = commands_.add_parser(
        "audit", parents=[common, narrow], help="are the Mobility agents current? (GET only)"
    )
    audit.add_argument("config", metavar="CONFIG")
    emulator = commands_.add_parser("emulator", help="serve the built-in ASR emulator")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=0)
    emulator.add_argument("--fleet", metavar="FLEET.yaml")
    schema = commands_.add_parser("schema", help="print a JSON Schema")
    schema.add_argument("what", choices=["config", "report", "emulator"])
    saved = commands_.add_parser("report", help="read a saved report")
    views = saved.add_subparsers(dest="view", required=True, metavar="VIEW")
    show = views.add_parser("show", help="a saved report on the terminal: totals, then failures")
    show.add_argument("saved", metavar="REPORT")
    page = views.add_parser("html", help="a saved report as one self-contained HTML page")
    page.add_argument("saved", metavar="REPORT")
    page.add_argument("-o", "--output", metavar="FILE", required=True, help="write the page here")
    return parser


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-format", choices=["json", "console"], default=None)
    common.add_argument("--log-level", default=None, type=_log_level)
    common.add_argument(
        "--report",
        metavar="PATH",
        help="write the JSON report here; `-` for stdout (default: stdout when it is not a "
        "terminal; on a terminal, only the summary)",
    )
    common.add_argument("--no-progress", action="store_true", help="no progress display")
    return common


def _narrowing() -> argparse.ArgumentParser:
    narrow = argparse.ArgumentParser(add_help=False)
    narrow.add_argument(
        "--vault", action="append", metavar="ID", help="only this vault (repeatable): a canary"
    )
    narrow.add_argument(
        "--subscription", action="append", metavar="ID", help="only this subscription (repeatable)"
    )
    narrow.add_argument(
        "--metrics-file", metavar="PATH", help="also write the run's figures for Prometheus"
    )
    return narrow


def _apply_flags(apply: argparse.ArgumentParser) -> None:
    apply.add_argument("--max-changes", type=_count, metavar="N", help="send at most N PATCHes")
    once = apply.add_mutually_exclusive_group()
    once.add_argument(
        "--resume", metavar="REPORT", help="re-track what an earlier report left running"
    )
    once.add_argument(
        "--retry", metavar="REPORT", help="only what REPORT left failed, unhealthy or unfinished"
    )
    once.add_argument(
        "--restore", metavar="REPORT", help="put what REPORT changed back to its `before`"
    )


def _log_level(text: str) -> str:
    level = text.lower()
    if level not in {"debug", "info", "warning", "error", "critical"}:
        raise argparse.ArgumentTypeError(f"unknown log level {text!r}")
    return level


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _emulator_argv(args: argparse.Namespace) -> list[str]:
    argv = ["--host", args.host, "--port", str(args.port)]
    return argv + (["--fleet", args.fleet] if args.fleet else [])


def _print_schema(what: str, out: TextIO) -> int:
    if what == "config":
        from orchestrator.config.model import config_json_schema

        schema = config_json_schema()
    elif what == "emulator":
        from orchestrator.emulator import FleetSpec

        schema = FleetSpec.model_json_schema()
    else:
        schema = Report.model_json_schema(mode="serialization", by_alias=True)
    schema = {"$schema": SCHEMA_DIALECT, **schema}
    out.write(json.dumps(schema, indent=2) + "\n")
    return int(ExitCode.SUCCEEDED)
