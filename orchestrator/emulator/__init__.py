"""The built-in ASR emulator: the parts of ARM and Azure Site Recovery the tool uses.

A wing of its own: it imports nothing from the rest of ``orchestrator`` (only the standard
library, aiohttp, pydantic and yaml), so it can serve tests of any part of the tool. By default
it answers as real ASR does (no ``Retry-After``, explicit nulls, 409 while an operation runs…);
each behaviour has a `FleetSpec` key.

    spec = load_fleet("fleet.yaml")                  # or FleetSpec(seed=7, …)
    async with EmulatorServer(spec, clock=ManualClock()) as server:      # over loopback HTTP
        server.base_url, server.token_endpoint, server.identity_header
        server.state.mapping(mapping_id), server.state.counters, server.state.journal

    state = EmulatorState(spec, clock=ManualClock())                      # in process
    answer = await serve(state, InboundRequest("GET", url, headers))
"""

from orchestrator.emulator.api_versions import (
    ASR_VERSIONS,
    AUTOMATION_VERSIONS,
    SUBSCRIPTION_VERSIONS,
    VAULT_VERSIONS,
)
from orchestrator.emulator.app import build_app
from orchestrator.emulator.automation import AutomationAccount, Verdict
from orchestrator.emulator.cli import main
from orchestrator.emulator.clock import Clock, ManualClock
from orchestrator.emulator.core import MAX_BODY_BYTES, InboundRequest, OutboundAnswer, serve
from orchestrator.emulator.faults import FaultKind
from orchestrator.emulator.fleet import (
    Condition,
    Fleet,
    MappingRecord,
    VaultRecord,
    fleet_automation_account,
    generate_fleet,
)
from orchestrator.emulator.fleet_file import load_fleet
from orchestrator.emulator.fleet_spec import (
    ARM_AUDIENCES,
    AutomationAccountSpec,
    EmulatorLimits,
    Faults,
    FleetSpec,
    ForeignLinks,
    OperationOutcomes,
    ProtectedItemsSpec,
    Shares,
    WindowLimit,
)
from orchestrator.emulator.health import (
    AFTER_SUCCESS_CODE,
    NO_IDENTITY_CODE,
    NO_RIGHTS_CODE,
)
from orchestrator.emulator.journal import (
    NO_ANSWER,
    Counters,
    IssuedToken,
    Journal,
    JournalEntry,
    RequestKind,
)
from orchestrator.emulator.operation_handlers import ACCOUNT_NOT_FOUND
from orchestrator.emulator.operations import OperationPlan, plan_operation
from orchestrator.emulator.protected_items import AgentState, ProtectedItemRecord
from orchestrator.emulator.server import EmulatorServer
from orchestrator.emulator.state import EmulatorState

__all__ = [
    "ACCOUNT_NOT_FOUND",
    "AFTER_SUCCESS_CODE",
    "ARM_AUDIENCES",
    "ASR_VERSIONS",
    "AUTOMATION_VERSIONS",
    "MAX_BODY_BYTES",
    "NO_ANSWER",
    "NO_IDENTITY_CODE",
    "NO_RIGHTS_CODE",
    "SUBSCRIPTION_VERSIONS",
    "VAULT_VERSIONS",
    "AgentState",
    "AutomationAccount",
    "AutomationAccountSpec",
    "Clock",
    "Condition",
    "Counters",
    "EmulatorLimits",
    "EmulatorServer",
    "EmulatorState",
    "FaultKind",
    "Faults",
    "Fleet",
    "FleetSpec",
    "ForeignLinks",
    "InboundRequest",
    "IssuedToken",
    "Journal",
    "JournalEntry",
    "ManualClock",
    "MappingRecord",
    "OperationOutcomes",
    "OperationPlan",
    "OutboundAnswer",
    "ProtectedItemRecord",
    "ProtectedItemsSpec",
    "RequestKind",
    "Shares",
    "VaultRecord",
    "Verdict",
    "WindowLimit",
    "build_app",
    "fleet_automation_account",
    "generate_fleet",
    "load_fleet",
    "main",
    "plan_operation",
    "serve",
]
