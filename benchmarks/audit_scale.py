"""Audit at scale: the client's own CPU and peak memory auditing 40,000 vaults of 10 items each.

Run: ``.venv/bin/python benchmarks/audit_scale.py [--subscriptions 40] [--json FIGURES.json]``

Beside `scale.py`, with the same launcher (`common.py`; the emulator in another process, its
journal off): 40 subscriptions of 1,000 vaults, each with one mapping and 10 replicated items
(a mix of every agent state, 10 % not A2A), limits lifted in the emulator AND the config.
``python -m orchestrator audit`` runs against it as a child process; its user + system CPU and
its peak RSS come from ``wait4`` (and ``VmHWM`` read from ``/proc`` while it runs), so the
emulator's CPU is not counted, though it shares the two cores.

Goals (issue 13): under 1 ms of client CPU per replicated item, under 400 MB peak RSS.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from common import (
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
    "seed": 2027,
    "subscriptions": 40,
    "vaults_per_subscription": 1_000,
    "mappings_per_vault": [1, 1],
    "shares": {"not_a2a": 0, "not_paired": 0, "compliant": 0.5, "unhealthy": 0},
    "page_size": 50,
    "protected_items": {
        "per_vault": [10, 10],
        "non_a2a": 0.1,
        "update_required": 0.1,
        "expiring": 0.05,
        "expired": 0.02,
        "unknown": 0.03,
    },
    "limits": {"set": LIFTED, "get": LIFTED},
}
CLI_TIMEOUT_S = 1_800.0
GOAL_CPU_MS_PER_ITEM = 1.0
GOAL_PEAK_RSS_MB = 400.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=FLEET["subscriptions"])
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON here")
    args = parser.parse_args()
    fleet = {**FLEET, "subscriptions": args.subscriptions}
    print(describe_machine())
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as folder:
        workdir = Path(folder)
        spawned = time.monotonic()
        with EmulatorProcess(fleet, workdir, journal_size=0) as emulator:
            print(
                f"emulator ready in {time.monotonic() - spawned:.1f} s, "
                f"RSS peak {peak_rss_mib(emulator.pid):.0f} MiB"
            )
            emulator_cpu_before = cpu_seconds(emulator.pid)
            config = write_config(
                workdir / "config.yaml", emulator.base_url, fleet, timeout_minutes=60
            )
            run = run_cli(
                ["audit", str(config)], cli_env(emulator.base_url), workdir, timeout_s=CLI_TIMEOUT_S
            )
            emulator_cpu = cpu_seconds(emulator.pid) - emulator_cpu_before
            counters = emulator.counters()
    report = run.report or {}
    totals, calls = report.get("totals", {}), report.get("calls", {})
    agents = totals.get("agents") or {}
    items = sum(agents.values())
    cpu_ms = 1000 * run.cpu_s / items if items else float("nan")
    cpu_met = cpu_ms <= GOAL_CPU_MS_PER_ITEM
    rss_met = run.max_rss_mib * 1.048576 <= GOAL_PEAK_RSS_MB
    print(
        f"fleet: {totals.get('vaults')} vaults, {totals.get('mappings')} mappings, "
        f"{items} A2A items ({agents}); exit {run.exit_code}"
        f"{' (TIMED OUT)' if run.timed_out else ''}"
    )
    print(
        f"calls: {calls.get('get')} get, {calls.get('set')} set, {calls.get('throttled')} "
        f"throttled; emulator saw {counters['requests']}"
    )
    print(f"wall {run.wall_s:.1f} s (report: {report.get('duration_s', float('nan')):.1f} s)")
    print(
        f"client CPU {run.cpu_s:.1f} s (user {run.user_s:.1f}, system {run.system_s:.1f}) = "
        f"{cpu_ms:.3f} ms per item (goal <= {GOAL_CPU_MS_PER_ITEM}) -> "
        f"{'met' if cpu_met else 'MISSED'}"
    )
    print(
        f"client peak RSS {run.max_rss_mib:.0f} MiB (wait4 ru_maxrss; last VmHWM read "
        f"{run.vm_hwm_mib:.0f} MiB) (goal <= {GOAL_PEAK_RSS_MB:.0f} MB) -> "
        f"{'met' if rss_met else 'MISSED'}"
    )
    print(f"emulator CPU during the run {emulator_cpu:.1f} s; client log lines {run.log_lines}")
    if args.json:
        payload = {
            "machine": machine(),
            "fleet": fleet,
            "run": {**asdict(run), "report": None},
            "totals": totals,
            "calls": calls,
            "cpu_ms_per_item": cpu_ms,
            "emulator_cpu_s": emulator_cpu,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2))
    return 0 if cpu_met and rss_met and run.exit_code in (0, 1) else 1


if __name__ == "__main__":
    sys.exit(main())
