"""``asr-autoupdate emulator`` / ``python -m orchestrator.emulator``: serve until stopped.

Prints exactly one line to stdout, the base URL, once the server is ready; a short summary goes
to stderr. Exits 0 on SIGINT/SIGTERM, 2 for a bad fleet file or usage, 1 if it cannot bind.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from orchestrator.emulator.fleet_file import load_fleet
from orchestrator.emulator.fleet_spec import FleetSpec
from orchestrator.emulator.server import DEFAULT_HOST, EmulatorServer

PROG = "asr-autoupdate emulator"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Serve the built-in Azure Site Recovery emulator until stopped."
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="address to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    parser.add_argument(
        "--fleet", metavar="FLEET.yaml", help="fleet description (default: built-in)"
    )
    return parser


async def _serve(spec: FleetSpec, host: str, port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = EmulatorServer(spec, host=host, port=port)
    try:
        await server.start()
    except OSError as exc:
        print(f"{PROG}: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        fleet = server.state.fleet
        print(
            f"{PROG}: {len(fleet.vaults)} vaults, {len(fleet.mappings)} mappings in "
            f"{len(fleet.subscriptions)} subscriptions; token endpoint {server.token_endpoint}; "
            f"the fleet's Automation account {fleet.automation_account}",
            file=sys.stderr,
            flush=True,
        )
        print(server.base_url, flush=True)
        await stop.wait()
    finally:
        await server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse ``[--host H] [--port N] [--fleet FLEET.yaml]`` and serve; the exit code."""
    args = _parser().parse_args(argv)
    try:
        spec = load_fleet(args.fleet) if args.fleet else FleetSpec()
    except ValueError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_serve(spec, args.host, args.port))
