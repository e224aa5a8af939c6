"""What-ifs for the poller's pacing: the whole run in process, on virtual time, per variant.

Run: ``.venv/bin/python benchmarks/pacing_whatif.py [--modes b,c] [--fleet fleet|mid]
[--service 0.0025] [--variants final,no_tail,...]``

Each variant patches a few of `orchestrator.work.pacing`'s constants and runs ``apply`` through
``tests/unit/inprocess.py``'s `Rig`: the product's own code against the emulator's ``serve``, no
sockets, on a virtual clock, so a run of minutes costs a second and repeats exactly. The
emulator answers as one busy server would: each request holds it ``--service`` seconds (0.5-1.5x,
seeded), so a burst of 200 PATCHes is answered over about half a second, as over loopback.

Fleets: ``fleet`` is `fleet.py`'s (seed 29, 601 changes, ASR's limits 10x faster in time); ``mid``
is the unit tests' mid-size fleet (198 changes, ASR's real limits). Figures: status reads per
operation; the last PATCH's operation: its duration, its reads, how long after it ended it was
found; the run's virtual end. A tool for comparing variants, not the recorded figures (those
come from `fleet.py`, with real processes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "unit"))

import fleet as fleet_bench  # noqa: E402
import inprocess  # noqa: E402

from orchestrator.arm.transport import RawAnswer  # noqa: E402
from orchestrator.emulator import EmulatorState, FleetSpec, generate_fleet  # noqa: E402
from orchestrator.emulator.operations import plan_operation  # noqa: E402
from orchestrator.work import pacing  # noqa: E402

VARIANTS: dict[str, dict[str, Any]] = {
    "final": {},
    "no_tail": {"READS_PER_OPERATION": 1.0},
    "tail_2.5pct": {"TAIL_RESOLUTION": 0.025},
    "tail_5pct": {"TAIL_RESOLUTION": 0.05},
    "bulk_q80": {"QUANTILES": ((0.0, 0.8),)},
    "bulk_q95": {"QUANTILES": ((0.0, 0.95),)},
    "no_at_risk_guard": {"MIN_AT_RISK": 1},
    "scout_growth_2": {"SCOUT_GROWTH": 2.0},
    "scouts_8": {"SCOUTS": 8, "MATURE": 16},
    "young_q_by_spare": {"MATURE": 0},
}
MID: dict[str, Any] = {
    "seed": 5,
    "subscriptions": 2,
    "vaults_per_subscription": 40,
    "mappings_per_vault": [2, 6],
    "operation_seconds": [0.5, 6.0],
    "operation_failure_rate": 0.0,
}


class BusyServer:
    """The emulator as one busy server: each request holds it ``service`` seconds (0.5-1.5x,
    seeded), one request at a time; `transport` gives a run an in-process transport through it."""

    def __init__(self, service: float, seed: int = 7) -> None:
        self.service = service
        self.seed = seed
        self.rng = random.Random(seed)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.free = 0.0  # loop time the server is next free

    def transport(self, state: EmulatorState) -> inprocess.EmulatorTransport:
        return BusyTransport(state, self)


class BusyTransport(inprocess.EmulatorTransport):
    """The in-process transport, each request first waiting for its turn on a `BusyServer`."""

    def __init__(self, state: EmulatorState, busy: BusyServer) -> None:
        super().__init__(state)
        self.busy = busy

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        time_limit: float,
    ) -> RawAnswer:
        busy = self.busy
        loop = asyncio.get_running_loop()
        if busy.loop is not loop:  # a new run: the same draws as every other run
            busy.loop, busy.free = loop, loop.time()
            busy.rng.seed(busy.seed)
        start = max(loop.time(), busy.free)
        busy.free = start + busy.service * busy.rng.uniform(0.5, 1.5)
        await asyncio.sleep(start - loop.time() + 0.0005)
        answer = await super().send(method, url, headers=headers, body=body, time_limit=time_limit)
        await asyncio.sleep(max(busy.free - loop.time(), 0.0) + 0.0005)
        return answer


@contextlib.contextmanager
def patched(values: Mapping[str, Any]) -> Iterator[None]:
    saved = {name: getattr(pacing, name) for name in values}
    try:
        for name, value in values.items():
            setattr(pacing, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(pacing, name, value)


@dataclass(frozen=True, slots=True)
class Outcome:
    polls: float
    spread: str
    last_duration: float
    last_reads: int
    last_lag: float
    end: float
    ok: bool


def run_once(spec: Mapping[str, Any], busy: BusyServer) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="whatif-") as folder:
        rig = inprocess.Rig(Path(folder), spec)
        limits = {"scope": "run", **spec["limits"]} if "limits" in spec else None
        keys: dict[str, Any] = {"subscriptions": "all"}
        if limits:
            keys["limits"] = limits
        run = rig.run("apply", rig.write_config(**keys), transport=busy.transport)
        started: dict[str, float] = {}
        reads: Counter[str] = Counter()
        last_read: dict[str, float] = {}
        last_patch = None
        for entry in rig.state.journal:
            if entry.operation_id is None:
                continue
            key = entry.operation_id.lower()
            if entry.kind == "set":
                started[key] = entry.time
                last_patch = entry
            elif entry.kind == "get":
                reads[key] += 1
                last_read[key] = entry.time
        assert last_patch is not None
        assert last_patch.operation_id is not None
        fleet_spec = FleetSpec.model_validate(spec)
        by_path = {m.id.lower(): m for m in generate_fleet(fleet_spec).mappings.values()}
        mapping = by_path[last_patch.path.lower()]
        duration = plan_operation(fleet_spec, mapping.key, 1).duration
        key = last_patch.operation_id.lower()
        report = run.report or {}
        return Outcome(
            polls=sum(reads.values()) / rig.state.counters.operations_started,
            spread=str(dict(sorted(Counter(reads.values()).items()))),
            last_duration=duration,
            last_reads=reads[key],
            last_lag=last_read[key] - started[key] - duration,
            end=run.virtual_seconds,
            ok=run.exit_code == 0 and report.get("totals", {}).get("failed", 1) == 0,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="b,c", help="fleet.py's modes: a, b, c, get_bound")
    parser.add_argument("--fleet", choices=["fleet", "mid"], default="fleet")
    parser.add_argument("--service", type=float, default=0.0025, help="server s per request")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    busy = BusyServer(args.service)
    seed = fleet_bench.choose_seed(1)
    print(f"fleet {args.fleet}, server {args.service * 1000:g} ms per request, virtual time")
    print(
        f"{'variant':18} {'mode':9} {'polls/op':>8}  {'last op':>7} {'reads':>5} "
        f"{'lag':>6} {'end':>7}  spread"
    )
    for variant in args.variants.split(","):
        for mode in args.modes.split(","):
            scenario = fleet_bench.SCENARIOS[mode]
            spec = scenario.fleet(seed) if args.fleet == "fleet" else {**MID, **scenario.keys}
            quiet = io.StringIO()  # the product's log lines
            with (
                patched(VARIANTS[variant]),
                contextlib.redirect_stdout(quiet),
                contextlib.redirect_stderr(quiet),
            ):
                o = run_once(spec, busy)
            flag = "" if o.ok else "  NOT OK"
            print(
                f"{variant:18} {mode:9} {o.polls:8.3f}  {o.last_duration:6.2f}s {o.last_reads:5d} "
                f"{o.last_lag:5.2f}s {o.end:6.2f}s  {o.spread}{flag}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
