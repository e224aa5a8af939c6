"""Fleet benchmark: the real CLI against the emulator with ASR's limits scaled 10x down in time.

Run: ``.venv/bin/python benchmarks/fleet.py [--runs 3] [--modes a,b,c,get_bound]
[--runbook none|one_list|per_vault|both] [--json FIGURES.json] [--keep DIR]``
(``--keep``: each product run's log, report, journal).

A fleet of 240 vaults and 601 mappings to change; 200 sets per 6 s and 10,000 gets per 360 s
(ASR's 200/min and 10,000/h, ten times faster), in the emulator's ``limits`` AND the config's;
operations last 0.5-6 s. Each run gets a fresh emulator process (``python -m
orchestrator.emulator``) and a fresh folder (config, journal), runs ``python -m orchestrator
apply`` against it, then reads the emulator's counters and journal from its ``/_emulator/…``
endpoints. The emulator answers as real ASR by default; the modes change one thing each:

- ``a`` — ``Retry-After: 3`` on 202s and in-progress reads (the tidy server of earlier runs);
- ``b`` — no ``Retry-After`` at all: real ASR's default;
- ``c`` — no ``Retry-After``, and server times that cannot be trusted: printed an hour behind
  the client's clock, without a zone, every ``endTime`` an hour late;
- ``get_bound`` — as ``b``, with the get limit cut to 150 per 6 s, so that the gets (listing,
  one read per change, verification) need more windows than the sets: the get limit binds.

The runbook reimplementation (`runbook.py`) can run over mode ``b``'s fleet for comparison.

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
  mapping: every ARM GET — discovery, listing, the Automation account's preflight read, status
  reads, and the verification listing of each changed vault once its operations ended.
- wall time ÷ three lower bounds:
  - the *rate* bound: max(changed ÷ set rate, (list calls + changed) ÷ get rate, longest
    operation), list calls being the fewest the fleet needs (1 + vault-list pages +
    mapping-list pages); its get term is loose when the whole run fits in one get window;
  - the *window-aware* bound: floor((changed - 1) ÷ set quota) x set window + the shortest
    operation — the last PATCH cannot leave before that many full windows, and its operation
    then takes at least the shortest time;
  - the *schedule* bound: the earliest the last operation can end if the n-th PATCH could go at
    floor(n / 200) windows with the longest operations first.
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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
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
    revision,
    run_cli,
    write_config,
)
from runbook import Mode, Runbook, run_runbook

from orchestrator.emulator import Condition, FleetSpec, generate_fleet
from orchestrator.emulator.operations import plan_operation

SET_LIMIT = {"calls": 200, "per_seconds": 6.0}
GET_LIMIT = {"calls": 10_000, "per_seconds": 360.0}
FLEET: dict[str, Any] = {
    "subscriptions": 4,
    "vaults_per_subscription": 60,
    "mappings_per_vault": [2, 7],
    "shares": {"not_a2a": 0.1, "not_paired": 0.05, "compliant": 0.3, "unhealthy": 0.05},
    "operation_seconds": [0.5, 6.0],
    "operation_failure_rate": 0.0,
    "page_size": 50,
    "limits": {"set": SET_LIMIT, "get": GET_LIMIT},
}


@dataclass(frozen=True, slots=True)
class Scenario:
    """One way the emulator answers: fleet keys laid over FLEET."""

    label: str
    keys: Mapping[str, Any]
    get_bound: bool = False  # the get limit binds: the wall-time goals do not apply

    def fleet(self, seed: int) -> dict[str, Any]:
        return {**FLEET, **self.keys, "seed": seed}


SCENARIOS: dict[str, Scenario] = {
    "a": Scenario("(a) Retry-After: 3 s", {"retry_after_seconds": 3}),
    "b": Scenario("(b) no Retry-After (real ASR's default)", {}),
    "c": Scenario(
        "(c) no Retry-After; server times 1 h behind, zoneless, endTime +1 h",
        {
            "server_time_skew_seconds": -3_600,
            "end_time_extra_seconds": 3_600,
            "timestamps_without_zone": True,
        },
    ),
    "get_bound": Scenario(
        "GET-bound: no Retry-After, get limit 150 per 6 s",
        {"limits": {"set": SET_LIMIT, "get": {"calls": 150, "per_seconds": 6.0}}},
        get_bound=True,
    ),
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
    by_path: Mapping[str, float] = field(repr=False)  # lower-cased mapping path -> its duration
    set_calls: int
    set_seconds: float
    get_calls: int
    get_seconds: float

    def rate_bound(self) -> float:
        """max(changes ÷ set rate, (list calls + changes) ÷ get rate, longest operation)."""
        return max(
            self.changes / (self.set_calls / self.set_seconds),
            (self.list_calls + self.changes) / (self.get_calls / self.get_seconds),
            self.durations[0],
        )

    def window_bound(self) -> float:
        """floor((changes - 1) ÷ set quota) x set window + the shortest operation."""
        return (self.changes - 1) // self.set_calls * self.set_seconds + self.durations[-1]

    def schedule_bound(self) -> float:
        """The earliest the last operation can end: PATCH i at floor(i / calls) windows."""
        return max(
            (i // self.set_calls) * self.set_seconds + duration
            for i, duration in enumerate(self.durations)
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
    planned = {m.id.lower(): plan_operation(spec, m.key, 1).duration for m in changing}
    durations = sorted(planned.values(), reverse=True)
    return FleetFacts(
        seed=spec.seed,
        vaults=len(generated.vaults),
        mappings=len(generated.mappings),
        changes=len(changing),
        list_calls=max(1, math.ceil(subs / spec.page_size)) + vault_pages + pages,
        durations=tuple(durations),
        by_path=planned,
        set_calls=spec.limits.set.calls,
        set_seconds=spec.limits.set.per_seconds,
        get_calls=spec.limits.get.calls,
        get_seconds=spec.limits.get.per_seconds,
    )


def choose_seed(first: int) -> int:
    """The first seed from ``first`` whose fleet has k x 200 + 1 >= MIN_CHANGES changes."""
    calls = SET_LIMIT["calls"]
    for seed in itertools.count(first):
        facts = fleet_facts({**FLEET, "seed": seed})
        if facts.changes >= MIN_CHANGES and (facts.changes - 1) % calls == 0:
            return seed
    raise AssertionError("unreachable")


@dataclass(slots=True)
class Figures:
    """One run's figures."""

    name: str
    changed: int
    patches: int
    set_phase_s: float
    set_rate_ratio: float
    peak_set_ratio: float
    peak_get_ratio: float
    throttled_emulator: int
    throttled_client: int | None
    polls_per_operation: float
    poll_spread: dict[str, int]
    gets: int
    gets_by_kind: dict[str, int]  # listing (discovery included), status, verify, other
    gets_per_changed: float
    wall_s: float
    run_s: float | None  # the report's duration_s
    rate_bound_s: float
    window_bound_s: float
    schedule_bound_s: float
    last_operation_s: float = float("nan")  # the last PATCH's operation's duration
    last_found_after_s: float = float("nan")  # from its end to the read that found it ended
    phases: dict[str, float] = field(default_factory=dict)
    exit_code: int | None = None
    cpu_s: float | None = None
    peak_rss_mib: float | None = None
    report_ok: bool = True  # the report's totals: every change made and succeeded

    @property
    def wall_ratio(self) -> float:
        return self.wall_s / self.rate_bound_s

    @property
    def window_ratio(self) -> float:
        return self.wall_s / self.window_bound_s

    @property
    def schedule_ratio(self) -> float:
        return self.wall_s / self.schedule_bound_s

    @property
    def run_window_ratio(self) -> float:
        """The report's own duration (no interpreter start, no exit) ÷ the window-aware bound."""
        return (self.run_s or float("nan")) / self.window_bound_s


def set_rate(times: list[float], facts: FleetFacts) -> tuple[float, float]:
    """(PATCHes in [first, last) ÷ its length ÷ allowed rate, the length)."""
    if len(times) < 2:
        return float("nan"), 0.0
    first, last = times[0], times[-1]
    inside = sum(1 for t in times if first <= t < last)
    length = last - first
    return (inside / length) / (facts.set_calls / facts.set_seconds), length


def gets_by_kind(journal: list[JsonDict]) -> dict[str, int]:
    """ARM GETs by purpose: a mapping list read again is the vault's verification."""
    kinds: Counter[str] = Counter()
    lists_seen: set[str] = set()
    for entry in journal:
        if entry["kind"] != "get":
            continue
        path = entry["path"].lower()
        if entry["operation_id"]:
            kinds["status"] += 1
        elif path.endswith("/replicationprotectioncontainermappings"):
            kinds["verify" if path in lists_seen else "listing"] += 1
            lists_seen.add(path)
        elif (
            "/providers/microsoft.automation/" in path
            or "/replicationprotectioncontainermappings/" in path
        ):
            kinds["other"] += 1  # the Automation account's preflight read; mapping read-backs
        else:
            kinds["listing"] += 1  # subscriptions and their vaults
    return {kind: kinds[kind] for kind in ("listing", "status", "verify", "other")}


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
    ratio, length = set_rate(admitted, facts)
    spread = Counter(status_reads.values())
    last, lag = last_operation(facts, journal)
    return Figures(
        name=name,
        changed=changed,
        patches=len(patches),
        set_phase_s=length,
        set_rate_ratio=ratio,
        peak_set_ratio=counters["peak_window"].get("set", 0) / facts.set_calls,
        peak_get_ratio=counters["peak_window"].get("get", 0) / facts.get_calls,
        throttled_emulator=sum(counters["throttled"].values()),
        throttled_client=None,
        polls_per_operation=sum(status_reads.values()) / operations if operations else 0.0,
        poll_spread={str(k): spread[k] for k in sorted(spread)},
        gets=gets,
        gets_by_kind=gets_by_kind(journal),
        gets_per_changed=gets / changed if changed else float("nan"),
        wall_s=wall_s,
        run_s=None,
        rate_bound_s=facts.rate_bound(),
        window_bound_s=facts.window_bound(),
        schedule_bound_s=facts.schedule_bound(),
        last_operation_s=last,
        last_found_after_s=lag,
    )


def last_operation(facts: FleetFacts, journal: list[JsonDict]) -> tuple[float, float]:
    """The last admitted PATCH's operation: how long it ran (the emulator's plan), and how
    long after it ended the read that found it ended came (NaN if never found)."""
    patches = [e for e in journal if e["kind"] == "set" and e["status"] != 429]
    if not patches or not patches[-1]["operation_id"]:
        return float("nan"), float("nan")
    patch = patches[-1]
    duration = facts.by_path.get(patch["path"].lower(), float("nan"))
    operation = patch["operation_id"].lower()
    reads = [
        e["time"]
        for e in journal
        if e["kind"] == "get" and (e["operation_id"] or "").lower() == operation
    ]
    return duration, (reads[-1] - patch["time"] - duration) if reads else float("nan")


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
    fleet: dict[str, Any],
    facts: FleetFacts,
    name: str,
    workdir: Path,
    keep: Path | None,
    overrides: Mapping[str, Any] | None = None,
) -> Figures:
    """One ``apply`` through the real CLI against a fresh emulator process, in a fresh folder.

    ``keep``: a folder to keep the run's log, report, journal and counters in, for digging.
    ``overrides``: config keys for a what-if (``state_file: null``…).
    """
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    workdir.mkdir(parents=True)
    with EmulatorProcess(fleet, workdir) as emulator:
        config = write_config(
            workdir / "config.yaml", emulator.base_url, fleet, **(overrides or {})
        )
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
    figures = figures_from(name, facts, counters, journal, run.wall_s, totals.get("changed", 0))
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
        figures.report_ok = False
        print(f"  WARNING: expected {facts.changes} changes, report totals {totals}")
    return figures


def run_runbook_once(
    fleet: dict[str, Any], facts: FleetFacts, mode: Mode, workdir: Path
) -> Figures:
    """The runbook reimplementation over the same fleet, against a fresh emulator process."""
    workdir.mkdir(parents=True)
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
        figures.report_ok = False
        print(f"  WARNING: expected {facts.changes} changes, runbook tally {tally}")
    return figures


Check = Callable[[float], bool]
ALL_MODES = ("a", "b", "c")


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a table: a figure, and the goal it must meet in some scenarios."""

    label: str
    spec: str  # attribute:format, several joined by "/"
    goal: str = ""
    check: Check | None = None
    applies: tuple[str, ...] = ("a", "b", "c", "get_bound")


ROWS: tuple[Row, ...] = (
    Row(
        "set rate over set phase ÷ allowed",
        "set_rate_ratio:.3f",
        "≥ 0.97",
        lambda v: v >= 0.97,
        ALL_MODES,
    ),
    Row("most sets in a window ÷ limit", "peak_set_ratio:.3f", "≤ 1", lambda v: v <= 1),
    Row("most gets in a window ÷ limit", "peak_get_ratio:.4f", "≤ 1", lambda v: v <= 1),
    Row("429s received (emulator)", "throttled_emulator:d", "0", lambda v: v == 0),
    Row("polls per operation", "polls_per_operation:.3f", "≤ 1.25", lambda v: v <= 1.25),
    Row("gets per changed mapping (all GETs)", "gets_per_changed:.3f"),
    Row("wall ÷ rate lower bound", "wall_ratio:.3f", "≤ 1.15", lambda v: v <= 1.15, ALL_MODES),
    Row("wall ÷ window-aware bound", "window_ratio:.3f", "≤ 1.3", lambda v: v <= 1.3, ALL_MODES),
    Row("wall ÷ schedule bound", "schedule_ratio:.3f"),
    Row("report duration ÷ window-aware bound", "run_window_ratio:.3f"),
    Row("wall time (s)", "wall_s:.2f"),
    Row("last PATCH's operation (s)", "last_operation_s:.2f"),
    Row("  its end -> the read finding it (s)", "last_found_after_s:.2f"),
    Row("set phase [first, last PATCH) (s)", "set_phase_s:.2f"),
    Row("PATCHes / ARM GETs", "patches:d/gets:d"),
)


def _cell(figures: Figures, spec: str) -> str:
    parts = []
    for piece in spec.split("/"):
        name, fmt = piece.split(":")
        parts.append(format(getattr(figures, name), fmt))
    return " / ".join(parts)


def verdict(row: Row, scenario: str, runs: list[Figures]) -> str:
    """met / MISSED over the product's runs, or '' where the row has no goal here."""
    if row.check is None or scenario not in row.applies:
        return ""
    product = [r for r in runs if not r.name.startswith("runbook")]
    values = [getattr(r, row.spec.split(":")[0]) for r in product]
    return "met" if values and all(row.check(v) for v in values) else "MISSED"


def table(scenario: str, runs: list[Figures]) -> Iterator[str]:
    """The figures side by side, one column per run, then the verdict."""
    width = max(14, *(len(r.name) for r in runs))
    yield f"{'':36} {'goal':>7}  " + "  ".join(f"{r.name:>{width}}" for r in runs) + "  verdict"
    for row in ROWS:
        cells = "  ".join(f"{_cell(r, row.spec):>{width}}" for r in runs)
        goal = row.goal if scenario in row.applies else ""
        yield f"{row.label:36} {goal:>7}  {cells}  {verdict(row, scenario, runs)}"


def describe(scenario: Scenario, facts: FleetFacts) -> str:
    return (
        f"{scenario.label}\n"
        f"fleet: seed {facts.seed}, {facts.vaults} vaults, {facts.mappings} mappings, "
        f"{facts.changes} to change (= {(facts.changes - 1) // facts.set_calls} x "
        f"{facts.set_calls} + 1); fewest list calls {facts.list_calls}; operations "
        f"{facts.durations[-1]:.2f}-{facts.durations[0]:.2f} s\n"
        f"limits (emulator = config): set {facts.set_calls}/{facts.set_seconds:g} s, get "
        f"{facts.get_calls}/{facts.get_seconds:g} s\n"
        f"lower bounds: rate {facts.rate_bound():.2f} s, window-aware "
        f"{facts.window_bound():.2f} s, schedule {facts.schedule_bound():.2f} s"
    )


def details(runs: list[Figures]) -> Iterator[str]:
    for r in runs:
        spread = ", ".join(f"{k}: {v}" for k, v in r.poll_spread.items())
        timing = ", ".join(f"{k} {v:.2f}" for k, v in r.phases.items())
        kinds = ", ".join(f"{k} {v}" for k, v in r.gets_by_kind.items())
        yield f"{r.name}: operations by polls {{{spread}}}; GETs: {kinds}"
        yield f"{'':{len(r.name)}}  phases (s): {timing}"
        if r.cpu_s is not None:
            yield (
                f"{'':{len(r.name)}}  exit {r.exit_code}, client CPU {r.cpu_s:.2f} s, peak RSS "
                f"{r.peak_rss_mib:.0f} MiB, report duration {r.run_s:.2f} s, client-counted "
                f"429s {r.throttled_client}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="product runs per mode (default 3)")
    parser.add_argument(
        "--modes", default="a,b,c,get_bound", help="comma-separated: a, b, c, get_bound"
    )
    parser.add_argument(
        "--runbook",
        choices=["per_vault", "one_list", "both", "none"],
        default="none",
        help="also run the runbook over mode b's fleet",
    )
    parser.add_argument("--seed-from", type=int, default=1, help="first seed to try")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON here")
    parser.add_argument(
        "--keep", metavar="DIR", help="keep each product run's log, report, journal"
    )
    parser.add_argument(
        "--config",
        metavar="KEY=YAML",
        action="append",
        default=[],
        help="a config key for a what-if, e.g. state_file=null (repeatable)",
    )
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    overrides = {k: yaml.safe_load(v) for k, _, v in (item.partition("=") for item in args.config)}
    unknown = [m for m in modes if m not in SCENARIOS]
    if unknown:
        parser.error(f"unknown modes {unknown}: choose from {', '.join(SCENARIOS)}")
    print(describe_machine())
    if overrides:
        print(f"what-if: config {overrides}")
    seed = choose_seed(args.seed_from)
    results: dict[str, list[Figures]] = {}
    facts_of: dict[str, FleetFacts] = {}
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as folder:
        for mode in modes:
            scenario = SCENARIOS[mode]
            fleet = scenario.fleet(seed)
            facts_of[mode] = facts = fleet_facts(fleet)
            print(f"\n== mode {mode}: {describe(scenario, facts)}")
            runs = results.setdefault(mode, [])
            for number in range(1, args.runs + 1):
                keep = Path(args.keep) / f"{mode}-{number}" if args.keep else None
                workdir = Path(folder) / f"{mode}-{number}"
                runs.append(
                    run_product(fleet, facts, f"product #{number}", workdir, keep, overrides)
                )
                print(f"  {runs[-1].name}: exit {runs[-1].exit_code}, {runs[-1].wall_s:.1f} s")
        for rb_mode in RUNBOOK_MODES[args.runbook]:
            fleet = SCENARIOS["b"].fleet(seed)
            facts = facts_of.get("b") or fleet_facts(fleet)
            runs = results.setdefault("b", [])
            runs.append(run_runbook_once(fleet, facts, rb_mode, Path(folder) / f"rb-{rb_mode}"))
            print(f"  {runs[-1].name}: {runs[-1].wall_s:.1f} s")
    for mode, runs in results.items():
        print(f"\n== mode {mode}: {SCENARIOS[mode].label} (product at {revision()})")
        for line in table(mode, runs):
            print(line)
        print()
        for line in details(runs):
            print(line)
    if args.json:
        payload: dict[str, Any] = {
            "machine": machine(),
            "modes": {
                mode: {
                    "fleet": SCENARIOS[mode].fleet(seed),
                    "facts": {
                        **asdict(facts_of.get(mode) or fleet_facts(SCENARIOS[mode].fleet(seed))),
                        "durations": None,
                        "by_path": None,
                    },
                    "runs": [asdict(r) for r in runs],
                }
                for mode, runs in results.items()
            },
        }
        Path(args.json).write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
