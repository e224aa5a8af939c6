"""Load benchmark of the ASR emulator: 10,000 vaults / 40,000 mappings served from memory.

Run: ``.venv/bin/python benchmarks/emulator_load.py [--seconds 10] [--connections 64]``

It measures fleet generation in this process, starts the emulator in a separate process
(limits lifted, journal off), reads that process's RSS, then drives it from this process with
``--connections`` concurrent connections for ``--seconds`` per mix:

- ``get-list``: list a random vault's mappings (first page) or GET one mapping;
- ``patch+poll``: PATCH a mapping (each worker owns its mappings, so never two operations on one
  mapping at once), then poll its Azure-AsyncOperation URL until the operation ends.

Prints the figures. A script, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml

from orchestrator.emulator import (
    Condition,
    EmulatorServer,
    FleetSpec,
    generate_fleet,
    load_fleet,
)

IDENTITY_HEADER = "benchmark"
AUDIENCE = "https://management.core.windows.net/"
API = "2021-12-01"
FLEET: dict[str, object] = {
    "seed": 2026,
    "subscriptions": 10,
    "vaults_per_subscription": 1000,
    "mappings_per_vault": [4, 4],
    "page_size": 50,
    "operation_seconds": [0.05, 0.25],  # real time: polls follow at once (Retry-After 0)
    "operation_failure_rate": 0.02,
    "retry_after_seconds": 0,
    "limits": {
        "set": {"calls": 10_000_000, "per_seconds": 1},
        "get": {"calls": 10_000_000, "per_seconds": 1},
    },
}
TERMINAL = {"Succeeded", "PartiallySucceeded", "CompletedWithInformation", "Failed", "Canceled"}


@dataclass
class Tally:
    """Requests sent by one mix and how they were answered."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    operations: int = 0


async def serve(fleet_path: str) -> None:
    """The server process: serve until SIGTERM, journal off, print the URL when ready."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    spec = load_fleet(fleet_path)
    server = EmulatorServer(spec, identity_header=IDENTITY_HEADER, journal_size=0)
    async with server:
        print(server.base_url, flush=True)
        await stop.wait()


def rss_mib(pid: int) -> float:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def token(session: aiohttp.ClientSession, base_url: str) -> str:
    query = {"api-version": "2019-08-01", "resource": AUDIENCE}
    headers = {"X-IDENTITY-HEADER": IDENTITY_HEADER}
    async with session.get(f"{base_url}/msi/token", params=query, headers=headers) as response:
        response.raise_for_status()
        return str((await response.json())["access_token"])


async def get_list_worker(
    session: aiohttp.ClientSession,
    base_url: str,
    ids: tuple[list[str], list[str]],
    deadline: float,
    tally: Tally,
) -> None:
    vaults, mappings = ids
    rng = random.Random()
    while time.monotonic() < deadline:
        if rng.random() < 0.5:
            url = f"{base_url}{rng.choice(vaults)}/replicationProtectionContainerMappings?api-version={API}"
        else:
            url = f"{base_url}{rng.choice(mappings)}?api-version={API}"
        async with session.get(url) as response:
            await response.read()
            tally.requests += 1
            tally.statuses[response.status] += 1


async def _poll(session: aiohttp.ClientSession, url: str, tally: Tally) -> None:
    while True:
        async with session.get(url) as response:
            body = await response.json()
            tally.requests += 1
            tally.statuses[response.status] += 1
        if body.get("status") in TERMINAL:
            tally.operations += 1
            return


async def patch_poll_worker(
    session: aiohttp.ClientSession, base_url: str, mine: list[str], deadline: float, tally: Tally
) -> None:
    account = (
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Automation/automationAccounts/aa"
    )
    status = "Enabled"
    index = 0
    while time.monotonic() < deadline:
        provider = {
            "instanceType": "A2A",
            "agentAutoUpdateStatus": status,
            "automationAccountArmId": account,
        }
        body = {"properties": {"providerSpecificInput": provider}}
        async with session.patch(
            f"{base_url}{mine[index]}?api-version={API}", json=body
        ) as response:
            await response.read()
            tally.requests += 1
            tally.statuses[response.status] += 1
            poll_url = response.headers.get("Azure-AsyncOperation")
        if response.status == 202 and poll_url:
            await _poll(session, poll_url, tally)
        index = (index + 1) % len(mine)
        if index == 0:
            status = "Disabled" if status == "Enabled" else "Enabled"


Worker = Callable[[aiohttp.ClientSession, int, float, Tally], Awaitable[None]]


async def run_mix(
    base_url: str, connections: int, seconds: float, worker: Worker
) -> tuple[Tally, float]:
    tally = Tally()
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        session.headers["Authorization"] = f"Bearer {await token(session, base_url)}"
        started = time.monotonic()
        deadline = started + seconds
        results = await asyncio.gather(
            *(worker(session, n, deadline, tally) for n in range(connections)),
            return_exceptions=True,
        )
        elapsed = time.monotonic() - started
    for result in results:
        if isinstance(result, BaseException):
            tally.errors[type(result).__name__] += 1
    return tally, elapsed


def report(name: str, tally: Tally, elapsed: float) -> None:
    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(tally.statuses.items()))
    print(
        f"{name:>11}: {tally.requests / elapsed:8.0f} req/s  ({tally.requests} requests in {elapsed:.1f} s)"
    )
    print(f"{'':>11}  statuses {{{statuses}}}", end="")
    print(f"  operations finished {tally.operations}" if tally.operations else "", end="")
    print(f"  worker errors {dict(tally.errors)}" if tally.errors else "")


async def drive(args: argparse.Namespace, fleet_path: str) -> None:
    spec = FleetSpec.model_validate(FLEET)
    started = time.perf_counter()
    fleet = generate_fleet(spec)
    generation = time.perf_counter() - started
    print(
        f"fleet: {len(fleet.vaults)} vaults, {len(fleet.mappings)} mappings; generated in {generation:.2f} s"
    )
    vaults = [vault.id for vault in fleet.vaults.values()]
    mappings = [m.id for m in fleet.mappings.values()]
    a2a = [m.id for m in fleet.mappings.values() if m.condition is not Condition.NOT_A2A]
    del fleet

    spawned = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", fleet_path, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        base_url = (await asyncio.wait_for(process.stdout.readline(), timeout=120)).decode().strip()
        print(
            f"server: ready in {time.perf_counter() - spawned:.2f} s at {base_url}; RSS {rss_mib(process.pid):.0f} MiB"
        )

        async def get_list(
            session: aiohttp.ClientSession, n: int, deadline: float, tally: Tally
        ) -> None:
            await get_list_worker(session, base_url, (vaults, mappings), deadline, tally)

        async def patch_poll(
            session: aiohttp.ClientSession, n: int, deadline: float, tally: Tally
        ) -> None:
            await patch_poll_worker(session, base_url, a2a[n :: args.connections], deadline, tally)

        for name, worker in (("get-list", get_list), ("patch+poll", patch_poll)):
            tally, elapsed = await run_mix(base_url, args.connections, args.seconds, worker)
            report(name, tally, elapsed)
        print(f"server: RSS after load {rss_mib(process.pid):.0f} MiB")
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each mix")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections")
    parser.add_argument("--serve", metavar="FLEET.yaml", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return 0
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as folder:
        fleet_path = str(Path(folder) / "fleet.yaml")
        Path(fleet_path).write_text(yaml.safe_dump(FLEET))
        asyncio.run(drive(args, fleet_path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
