"""Fleet benchmark: the real CLI against the emulator with ASR's limits scaled 10x down in time.

Run: ``.venv/bin/python benchmarks/fleet.py [--runs 3] [--runbook per_vault|one_list|both|none]
[--json FIGURES.json] [--keep DIR]`` (``--keep``: each product run's log, report, journal).

A fleet of 240 vaults and 500+ mappings to change; 200 sets per 6 s and 10,000 gets per 360 s
(ASR's 200/min and 10,000/h, ten times faster), in the emulator's ``limits`` AND the config's;
operations last 0.5-6 s; ``Retry-After: 3``. Each run gets a fresh emulator process
(``python -m orchestrator.emulator``) and runs ``python -m orchestrator apply`` against it, then
reads the emulator's counters and journal from its ``/_emulator/…`` endpoints. The same fleet
then goes through the runbook reimplementation (`runbook.py`) for comparison.

Figures (all from the emulator's side unless said otherwise):

- set rate over the set phase ÷ allowed rate: the PATCHes that arrived in the half-open
  interval [first PATCH, last PATCH) divided by its length, over 200/6 s. Only PATCHes the
  emulator admitted count (a 429 is a call, but it changes nothing). A sliding-window-log
  limiter sends bursts (up to 200 at once, then waits), so the count leaves out the last PATCH
  and the interval ends where it arrives: with n PATCHes, n - 1 are counted over the time
  their pacing took. The fleet's seed is chosen so that n - 1 is a whole number of set windows
  (n = 601 = 3 x 200 + 1): a perfect limiter, bursty or smooth, then scores exactly 1.0 minus
  its safety margin; for other n, bursts would score above 1 by up to (200 - 1)/(n - 1).
- most calls in any window ÷ limit: the emulator's peak arrivals in one sliding window (429s
  included), for sets and gets.
- 429s received; polls per operation (status GETs ÷ operations started); gets per changed
  mapping (every ARM GET: discovery, lists, polls).
- wall time ÷ lower bound, the bound being max(changed ÷ set rate, (list calls + changed) ÷ get
  rate, longest operation), list calls being the fewest the fleet needs (1 + subscriptions +
  mapping-list pages). Also ÷ the schedule bound: the earliest the last operation can end if
  the n-th PATCH could go at floor(n / 200) windows with the longest operations first; unlike
  the rate bound, it holds for sliding windows (a get window that is never filled costs nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from common import (
    API_VERSION,
    AUDIENCE,
    IDENTITY_HEADER,
    CliRun,
    EmulatorProcess,
    JsonDict,
    cli_env,
    describe_machine,
    fleet_account,
    machine,
    run_cli,
    write_config,
)
from runbook import Mode, Runbook, run_runbook

from orchestrator.emulator import Condition, FleetSpec, generate_fleet
from orchestrator.emulator.operations import plan_operation

SET_CALLS, SET_SECONDS = 200, 6.0
GET_CALLS, GET_SECONDS = 10_000, 360.0
FLEET: dict[str, Any] = {
    "subscriptions": 4,
    "vaults_per_subscription": 60,
    "mappings_per_vault": [2, 7],
    "shares": {"not_a2a": 0.1, "not_paired": 0.05, "compliant": 0.3, "unhealthy": 0.05},
    "operation_seconds": [0.5, 6.0],
    "operation_failure_rate": 0.0,
    "retry_after_seconds": 3,
    "page_size": 50,
    "limits": {
        "set": {"calls": SET_CALLS, "per_seconds": SET_SECONDS},
        "get": {"calls": GET_CALLS, "per_seconds": GET_SECONDS},
    },
}
CHANGING = frozenset({Condition.NEEDS_CHANGE, Condition.UNHEALTHY, Condition.RUN_AS_ACCOUNT})
MIN_CHANGES = 500
RUNBOOK_MODES: dict[str, tuple[Mode, ...]] = {
    "per_vault": ("per_vault",),
    "one_list": ("one_list",),
    "both": ("one_list", "per_vault"),
    "none": (),
}
CLI_TIMEOUT_S = 300.0
RUNBOOK_TIMEOUT_S = 1_800.0


@dataclass(frozen=True, slots=True)
class FleetFacts:
    """What the generated fleet asks for, known before any run."""

    seed: int
    vaults: int
    mappings: int
    changes: int
    list_calls: int  # the fewest listing GETs: subscriptions, vault lists, mapping-list pages
    durations: tuple[float, ...]  # of the operations the changes start, longest first

    def rate_bound(self) -> float:
        """max(changes ÷ set rate, (list calls + changes) ÷ get rate, longest operation)."""
        return max(
            self.changes / (SET_CALLS / SET_SECONDS),
            (self.list_calls + self.changes) / (GET_CALLS / GET_SECONDS),
            self.durations[0],
        )

    def schedule_bound(self) -> float:
        """The earliest the last operation can end: PATCH i at floor(i / calls) windows."""
        return max(
            (i // SET_CALLS) * SET_SECONDS + duration for i, duration in enumerate(self.durations)
        )


def fleet_facts(fleet: Mapping[str, Any]) -> FleetFacts:
    spec = FleetSpec.model_validate(fleet)
    generated = generate_fleet(spec)
    changing = [m for m in generated.mappings.values() if m.condition in CHANGING]
    pages = sum(
        max(1, math.ceil(len(v.mappings) / spec.page_size)) for v in generated.vaults.values()
    )
    subs = spec.subscriptions
    vault_pages = sum(
        max(1, math.ceil(len(s.vaults) / spec.page_size)) for s in generated.subscriptions
    )
    durations = sorted((plan_operation(spec, m.key, 1).duration for m in changing), reverse=True)
    return FleetFacts(
        seed=spec.seed,
        vaults=len(generated.vaults),
        mappings=len(generated.mappings),
        changes=len(changing),
        list_calls=max(1, math.ceil(subs / spec.page_size)) + vault_pages + pages,
        durations=tuple(durations),
    )


def choose_seed(first: int) -> tuple[dict[str, Any], FleetFacts]:
    """The first seed from ``first`` whose fleet has k x SET_CALLS + 1 >= MIN_CHANGES changes."""
    for seed in itertools.count(first):
        fleet = {**FLEET, "seed": seed}
        facts = fleet_facts(fleet)
        if facts.changes >= MIN_CHANGES and (facts.changes - 1) % SET_CALLS == 0:
            return fleet, facts
    raise AssertionError("unreachable")


@dataclass(slots=True)
class Figures:
    """One run's figures."""

    name: str
    changed: int
    patches: int
    set_phase_s: float
    set_rate_ratio: float
    peak_set: int
    peak_get: int
    throttled_emulator: int
    throttled_client: int | None
    polls_per_operation: float
    poll_spread: dict[str, int]
    gets: int
    list_gets: int
    gets_per_changed: float
    wall_s: float
    run_s: float | None  # the report's duration_s
    rate_bound_s: float
    schedule_bound_s: float
    phases: dict[str, float] = field(default_factory=dict)
    exit_code: int | None = None
    cpu_s: float | None = None
    peak_rss_mib: float | None = None

    @property
    def peak_set_ratio(self) -> float:
        return self.peak_set / SET_CALLS

    @property
    def peak_get_ratio(self) -> float:
        return self.peak_get / GET_CALLS

    @property
    def wall_ratio(self) -> float:
        return self.wall_s / self.rate_bound_s

    @property
    def schedule_ratio(self) -> float:
        return self.wall_s / self.schedule_bound_s


def set_rate(times: list[float]) -> tuple[float, float]:
    """(PATCHes in [first, last) ÷ its length ÷ allowed rate, the length)."""
    if len(times) < 2:
        return float("nan"), 0.0
    first, last = times[0], times[-1]
    inside = sum(1 for t in times if first <= t < last)
    length = last - first
    return (inside / length) / (SET_CALLS / SET_SECONDS), length


def figures_from(
    name: str,
    facts: FleetFacts,
    counters: JsonDict,
    journal: list[JsonDict],
    wall_s: float,
    changed: int,
) -> Figures:
    """The figures of one run from what the emulator saw."""
    patches = sorted(e["time"] for e in journal if e["kind"] == "set")
    admitted = sorted(e["time"] for e in journal if e["kind"] == "set" and e["status"] != 429)
    status_reads = Counter(
        e["operation_id"].lower() for e in journal if e["kind"] == "get" and e["operation_id"]
    )
    gets = counters["requests"].get("get", 0)
    operations = counters["operations_started"]
    ratio, length = set_rate(admitted)
    spread = Counter(status_reads.values())
    return Figures(
        name=name,
        changed=changed,
        patches=len(patches),
        set_phase_s=length,
        set_rate_ratio=ratio,
        peak_set=counters["peak_window"].get("set", 0),
        peak_get=counters["peak_window"].get("get", 0),
        throttled_emulator=sum(counters["throttled"].values()),
        throttled_client=None,
        polls_per_operation=sum(status_reads.values()) / operations if operations else 0.0,
        poll_spread={str(k): spread[k] for k in sorted(spread)},
        gets=gets,
        list_gets=sum(1 for e in journal if e["kind"] == "get" and not e["operation_id"]),
        gets_per_changed=gets / changed if changed else float("nan"),
        wall_s=wall_s,
        run_s=None,
        rate_bound_s=facts.rate_bound(),
        schedule_bound_s=facts.schedule_bound(),
    )


def phases(journal: list[JsonDict], started: float, ended: float) -> dict[str, float]:
    """Where the wall time went, on the shared monotonic clock (seconds)."""
    arm = [e for e in journal if e["kind"] != "token"]
    patches = [e["time"] for e in arm if e["kind"] == "set"]
    reads = [e["time"] for e in arm if e["kind"] == "get" and e["operation_id"]]
    if not arm or not patches or not reads:
        return {}
    return {
        "start_to_first_call": arm[0]["time"] - started,
        "first_call_to_first_patch": patches[0] - arm[0]["time"],
        "first_to_last_patch": patches[-1] - patches[0],
        "last_patch_to_last_poll": reads[-1] - patches[-1],
        "last_poll_to_exit": ended - reads[-1],
    }


def save(folder: Path, **documents: Any) -> None:
    """Write each document as ``NAME.json`` in ``folder``."""
    for name, data in documents.items():
        (folder / f"{name}.json").write_text(json.dumps(data))


def run_product(
    fleet: dict[str, Any], facts: FleetFacts, number: int, workdir: Path, keep: Path | None
) -> Figures:
    """One ``apply`` through the real CLI against a fresh emulator process.

    ``keep``: a folder to keep the run's log, report, journal and counters in, for digging.
    """
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    with EmulatorProcess(fleet, workdir) as emulator:
        config = write_config(workdir / "config.yaml", emulator.base_url, fleet)
        started = time.monotonic()
        run: CliRun = run_cli(
            ["apply", str(config)],
            cli_env(emulator.base_url),
            workdir,
            timeout_s=CLI_TIMEOUT_S,
            keep_log=keep / "cli.log" if keep else None,
        )
        ended = started + run.wall_s
        counters, journal = emulator.counters(), emulator.journal()
    report = run.report or {}
    if keep is not None:
        clock = {"started": started, "ended": ended, "wall_minus_monotonic": time.time() - ended}
        save(keep, report=report, counters=counters, journal=journal, clock=clock)
    totals = report.get("totals", {})
    figures = figures_from(
        f"product #{number}", facts, counters, journal, run.wall_s, totals.get("changed", 0)
    )
    figures.throttled_client = report.get("calls", {}).get("throttled")
    figures.run_s = report.get("duration_s")
    figures.phases = phases(journal, started, ended)
    figures.exit_code = run.exit_code
    figures.cpu_s = run.cpu_s
    figures.peak_rss_mib = run.max_rss_mib
    report_polls = [
        m["operation"]["polls"]
        for v in report.get("vaults", [])
        for m in v["mappings"]
        if m.get("operation")
    ]
    if report_polls and abs(statistics.mean(report_polls) - figures.polls_per_operation) > 0.01:
        print(f"  note: the report says {statistics.mean(report_polls):.3f} polls per operation")
    if totals.get("changed") != facts.changes or totals.get("succeeded") != facts.changes:
        print(f"  WARNING: expected {facts.changes} changes, report totals {totals}")
    return figures


def run_runbook_once(
    fleet: dict[str, Any], facts: FleetFacts, mode: Mode, workdir: Path
) -> Figures:
    """The runbook reimplementation over the same fleet, against a fresh emulator process."""
    with EmulatorProcess(fleet, workdir) as emulator:
        runbook = Runbook(
            arm_endpoint=emulator.base_url,
            identity_endpoint=f"{emulator.base_url}/msi/token",
            identity_header=IDENTITY_HEADER,
            audience=AUDIENCE,
            api_version=API_VERSION,
            action="Enabled",
            automation_account=fleet_account(fleet),
        )
        started = time.monotonic()
        tally = asyncio.run(asyncio.wait_for(run_runbook(runbook, mode), RUNBOOK_TIMEOUT_S))
        ended = time.monotonic()
        counters, journal = emulator.counters(), emulator.journal()
    figures = figures_from(
        f"runbook {mode}", facts, counters, journal, ended - started, tally.succeeded
    )
    figures.phases = phases(journal, started, ended)
    if tally.to_modify != facts.changes or tally.succeeded != facts.changes:
        print(f"  WARNING: expected {facts.changes} changes, runbook tally {tally}")
    return figures


ROWS: tuple[tuple[str, str, str], ...] = (
    # label, goal, attribute (and format)
    ("set rate over set phase ÷ allowed", "≥ 0.97", "set_rate_ratio:.3f"),
    ("most sets in a window ÷ limit", "≤ 1", "peak_set_ratio:.3f"),
    ("most gets in a window ÷ limit", "≤ 1", "peak_get_ratio:.4f"),
    ("429s received (emulator)", "0", "throttled_emulator:d"),
    ("polls per operation", "≤ 1.25", "polls_per_operation:.3f"),
    ("gets per changed mapping", "", "gets_per_changed:.3f"),
    ("wall time ÷ rate lower bound", "≤ 1.15", "wall_ratio:.3f"),
    ("wall time ÷ schedule bound", "", "schedule_ratio:.3f"),
    ("wall time (s)", "", "wall_s:.2f"),
    ("set phase [first, last PATCH) (s)", "", "set_phase_s:.2f"),
    ("PATCHes / ARM GETs / list GETs", "", "patches:d/gets:d/list_gets:d"),
)


def _cell(figures: Figures, spec: str) -> str:
    parts = []
    for piece in spec.split("/"):
        name, fmt = piece.split(":")
        parts.append(format(getattr(figures, name), fmt))
    return " / ".join(parts)


def table(runs: list[Figures]) -> Iterator[str]:
    """The figures side by side, one column per run."""
    width = max(14, *(len(r.name) for r in runs))
    yield f"{'':36} {'goal':>7}  " + "  ".join(f"{r.name:>{width}}" for r in runs)
    for label, goal, spec in ROWS:
        cells = "  ".join(f"{_cell(r, spec):>{width}}" for r in runs)
        yield f"{label:36} {goal:>7}  {cells}"


def describe(facts: FleetFacts) -> str:
    return (
        f"fleet: seed {facts.seed}, {facts.vaults} vaults, {facts.mappings} mappings, "
        f"{facts.changes} to change (= {(facts.changes - 1) // SET_CALLS} x {SET_CALLS} + 1); "
        f"fewest list calls {facts.list_calls}; operations {facts.durations[-1]:.2f}-"
        f"{facts.durations[0]:.2f} s\n"
        f"limits (emulator = config): set {SET_CALLS}/{SET_SECONDS:g} s, get {GET_CALLS}/"
        f"{GET_SECONDS:g} s; Retry-After {FLEET['retry_after_seconds']} s\n"
        f"lower bounds: rate {facts.rate_bound():.2f} s, schedule {facts.schedule_bound():.2f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="product runs (default 3)")
    parser.add_argument(
        "--runbook", choices=["per_vault", "one_list", "both", "none"], default="both"
    )
    parser.add_argument("--seed-from", type=int, default=1, help="first seed to try")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON here")
    parser.add_argument(
        "--keep", metavar="DIR", help="keep each product run's log, report, journal"
    )
    args = parser.parse_args()
    print(describe_machine())
    fleet, facts = choose_seed(args.seed_from)
    print(describe(facts))
    runs: list[Figures] = []
    modes = RUNBOOK_MODES[args.runbook]
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as folder:
        workdir = Path(folder)
        for number in range(1, args.runs + 1):
            keep = Path(args.keep) / f"product-{number}" if args.keep else None
            runs.append(run_product(fleet, facts, number, workdir, keep))
            print(f"  {runs[-1].name}: exit {runs[-1].exit_code}, {runs[-1].wall_s:.1f} s")
        for mode in modes:
            runs.append(run_runbook_once(fleet, facts, mode, workdir))
            print(f"  {runs[-1].name}: {runs[-1].wall_s:.1f} s")
    print()
    for line in table(runs):
        print(line)
    print()
    for r in runs:
        spread = ", ".join(f"{k}: {v}" for k, v in r.poll_spread.items())
        timing = ", ".join(f"{k} {v:.2f}" for k, v in r.phases.items())
        print(f"{r.name}: operations by polls {{{spread}}}")
        print(f"{'':{len(r.name)}}  phases (s): {timing}")
        if r.cpu_s is not None:
            print(
                f"{'':{len(r.name)}}  client CPU {r.cpu_s:.2f} s, peak RSS {r.peak_rss_mib:.0f} MiB, "
                f"report duration {r.run_s:.2f} s, client-counted 429s {r.throttled_client}"
            )
    if args.json:
        payload = {
            "machine": machine(),
            "fleet": fleet,
            "facts": {**asdict(facts), "durations": None},
            "runs": [asdict(r) for r in runs],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
