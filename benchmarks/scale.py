"""Scale benchmark: the client's own CPU and peak memory for 100,000 mappings in 40,000 vaults.

Run: ``.venv/bin/python benchmarks/scale.py [--subscriptions 40] [--profile OUT.prof]``

The emulator (this benchmark's launcher in `common.py`, journal off) serves 40 subscriptions
of 1,000 vaults with 1-4 mappings each, every one of them to change; limits lifted in the
emulator AND the config (100,000 calls per second each: far above what two cores can serve);
operations of 0.05-0.2 s, ``Retry-After: 0``. ``python -m orchestrator apply`` runs against it
as a child process; its user + system CPU and its peak RSS come from ``wait4`` (and ``VmHWM``
read from ``/proc`` while it runs), so the emulator's CPU is not counted, though it shares the
two cores. ``--profile`` runs the client under cProfile (which slows it) and prints where the
CPU went.
"""

from __future__ import annotations

import argparse
import json
import pstats
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from common import (
    CliRun,
    EmulatorProcess,
    cli_env,
    cpu_seconds,
    describe_machine,
    machine,
    peak_rss_mib,
    run_cli,
    write_config,
)

LIFTED = {"calls": 100_000, "per_seconds": 1}
FLEET: dict[str, Any] = {
    "seed": 2026,
    "subscriptions": 40,
    "vaults_per_subscription": 1_000,
    "mappings_per_vault": [1, 4],
    "shares": {"not_a2a": 0, "not_paired": 0, "compliant": 0, "unhealthy": 0},
    "operation_seconds": [0.05, 0.2],
    "operation_failure_rate": 0.0,
    "retry_after_seconds": 0,
    "page_size": 50,
    "limits": {"set": LIFTED, "get": LIFTED},
}
CLI_TIMEOUT_S = 1_800.0
GOAL_CPU_MS_PER_MAPPING = 1.0
GOAL_PEAK_RSS_MB = 400.0


MILESTONES = ("run_started", "vault_listed", "patch_sent", "operation_finished", "run_finished")


def milestones(log: Path, offset: float) -> dict[str, tuple[float, float]]:
    """First and last time (seconds since spawn) of a few log events.

    ``offset`` is the wall-clock time of the spawn; log timestamps are wall-clock.
    """
    seen: dict[str, tuple[float, float]] = {}
    with log.open() as lines:
        for line in lines:
            for event in MILESTONES:
                if f'"event": "{event}"' in line:
                    stamp = json.loads(line)["timestamp"].replace("Z", "+00:00")
                    at = datetime.fromisoformat(stamp).timestamp() - offset
                    first = seen.get(event, (at, at))[0]
                    seen[event] = (first, at)
    return seen


def rss_at(timeline: tuple[tuple[float, float], ...], at: float) -> float:
    """The last VmRSS sample at or before ``at`` (MiB)."""
    before = [rss for t, rss in timeline if t <= at]
    return before[-1] if before else float("nan")


def describe_memory(run: CliRun, log: Path, wall_offset: float) -> str:
    """Where in the run the memory grew: VmRSS at the first and last of each milestone."""
    peak_at, peak = max(run.rss_timeline, key=lambda sample: sample[1], default=(0.0, 0.0))
    lines = [f"client VmRSS peak {peak:.0f} MiB at {peak_at:.1f} s after spawn; by log event:"]
    for event, (first, last) in milestones(log, run.started + wall_offset).items():
        lines.append(
            f"  {event:20} first {first:7.1f} s ({rss_at(run.rss_timeline, first):5.0f} MiB)"
            f"  last {last:7.1f} s ({rss_at(run.rss_timeline, last):5.0f} MiB)"
        )
    lines.append(f"  process exit        {run.wall_s:7.1f} s")
    return "\n".join(lines)


def print_profile(path: Path, top: int) -> None:
    stats = pstats.Stats(str(path))
    for order in ("tottime", "cumulative"):
        print(f"\n--- client profile, top {top} by {order} ---")
        stats.sort_stats(order).print_stats(top)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=FLEET["subscriptions"])
    parser.add_argument("--profile", metavar="OUT.prof", help="run the client under cProfile")
    parser.add_argument("--top", type=int, default=30, help="profile lines to print")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON here")
    parser.add_argument("--keep-log", metavar="PATH", help="keep the client's JSON log here")
    parser.add_argument(
        "--config",
        metavar="KEY=YAML",
        action="append",
        default=[],
        help="a config key for a what-if, e.g. state_file=null or verify=false (repeatable)",
    )
    parser.add_argument(
        "--entry", metavar="SCRIPT", help="run this script instead of -m orchestrator (what-ifs)"
    )
    args = parser.parse_args()
    overrides = {k: yaml.safe_load(v) for k, _, v in (item.partition("=") for item in args.config)}
    fleet = {**FLEET, "subscriptions": args.subscriptions}
    print(describe_machine())
    if overrides or args.entry:
        print(f"what-if: config {overrides}, entry {args.entry or '-m orchestrator'}")
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        workdir = Path(folder)
        spawned = time.monotonic()
        with EmulatorProcess(fleet, workdir, journal_size=0) as emulator:
            print(
                f"emulator ready in {time.monotonic() - spawned:.1f} s, "
                f"RSS peak {peak_rss_mib(emulator.pid):.0f} MiB"
            )
            emulator_cpu_before = cpu_seconds(emulator.pid)
            config = write_config(
                workdir / "config.yaml", emulator.base_url, fleet, timeout_minutes=60, **overrides
            )
            profile = Path(args.profile).resolve() if args.profile else None
            log = Path(args.keep_log).resolve() if args.keep_log else workdir / "cli.log"
            wall_offset = time.time() - time.monotonic()
            run = run_cli(
                ["apply", str(config)],
                cli_env(emulator.base_url),
                workdir,
                timeout_s=CLI_TIMEOUT_S,
                profile=profile,
                keep_log=log,
                entry=(args.entry,) if args.entry else ("-m", "orchestrator"),
            )
            emulator_cpu = cpu_seconds(emulator.pid) - emulator_cpu_before
            counters = emulator.counters()
        memory = describe_memory(run, log, wall_offset)
    report = run.report or {}
    totals, calls = report.get("totals", {}), report.get("calls", {})
    mappings = totals.get("mappings", 0)
    cpu_ms = 1000 * run.cpu_s / mappings if mappings else float("nan")
    print(
        f"fleet: {totals.get('vaults')} vaults, {mappings} mappings, "
        f"{totals.get('changed')} changed, {totals.get('succeeded')} succeeded; "
        f"exit {run.exit_code}{' (TIMED OUT)' if run.timed_out else ''}"
    )
    print(
        f"calls: {calls.get('get')} get, {calls.get('set')} set, {calls.get('throttled')} "
        f"throttled, {calls.get('retried')} retried; emulator saw {counters['requests']}"
    )
    print(f"wall {run.wall_s:.1f} s (report: {report.get('duration_s', float('nan')):.1f} s)")
    print(
        f"client CPU {run.cpu_s:.1f} s (user {run.user_s:.1f}, system {run.system_s:.1f}) = "
        f"{cpu_ms:.3f} ms per mapping = {cpu_ms:.3f} CPU s per 1,000 mappings "
        f"(goal <= {GOAL_CPU_MS_PER_MAPPING}) -> {'met' if cpu_ms <= GOAL_CPU_MS_PER_MAPPING else 'MISSED'}"
    )
    print(
        f"client peak RSS {run.max_rss_mib:.0f} MiB (wait4 ru_maxrss; last VmHWM read "
        f"{run.vm_hwm_mib:.0f} MiB) (goal <= {GOAL_PEAK_RSS_MB:.0f} MB) -> "
        f"{'met' if run.max_rss_mib * 1.048576 <= GOAL_PEAK_RSS_MB else 'MISSED'}"
    )
    print(f"emulator CPU during the run {emulator_cpu:.1f} s; client log lines {run.log_lines}")
    print(memory)
    if profile is not None:
        print_profile(profile, args.top)
    if args.json:
        payload = {
            "machine": machine(),
            "fleet": fleet,
            "run": {**asdict(run), "report": None},
            "totals": totals,
            "calls": calls,
            "cpu_ms_per_mapping": cpu_ms,
            "emulator_cpu_s": emulator_cpu,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
