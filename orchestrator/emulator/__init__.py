"""The built-in ASR emulator: the parts of ARM and Azure Site Recovery the tool uses.

A wing of its own: it imports nothing from the rest of ``orchestrator`` (only the standard
library, aiohttp, pydantic and yaml), so it can serve tests of any part of the tool.

    spec = load_fleet("fleet.yaml")                  # or FleetSpec(seed=7, …)
    async with EmulatorServer(spec, clock=ManualClock()) as server:
        server.base_url, server.token_endpoint, server.identity_header
        server.state.mapping(mapping_id), server.state.counters, server.state.journal
"""

from orchestrator.emulator.app import build_app
from orchestrator.emulator.cli import main
from orchestrator.emulator.clock import Clock, ManualClock
from orchestrator.emulator.faults import FaultKind
from orchestrator.emulator.fleet import Condition, Fleet, generate_fleet
from orchestrator.emulator.fleet_file import load_fleet
from orchestrator.emulator.fleet_spec import FleetSpec
from orchestrator.emulator.journal import (
    NO_ANSWER,
    Counters,
    IssuedToken,
    Journal,
    JournalEntry,
    RequestKind,
)
from orchestrator.emulator.server import EmulatorServer
from orchestrator.emulator.state import EmulatorState

__all__ = [
    "NO_ANSWER",
    "Clock",
    "Condition",
    "Counters",
    "EmulatorServer",
    "EmulatorState",
    "FaultKind",
    "Fleet",
    "FleetSpec",
    "IssuedToken",
    "Journal",
    "JournalEntry",
    "ManualClock",
    "RequestKind",
    "build_app",
    "generate_fleet",
    "load_fleet",
    "main",
]
