"""What several emulator tests send or look for: a valid enable PATCH, the mappings to change."""

from __future__ import annotations

from orchestrator.emulator import Condition, EmulatorServer

ACCOUNT = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Automation/automationAccounts/aa"
ENABLE = {
    "properties": {
        "providerSpecificInput": {
            "instanceType": "A2A",
            "agentAutoUpdateStatus": "Enabled",
            "automationAccountArmId": ACCOUNT,
        }
    }
}


def changeable(server: EmulatorServer) -> list[str]:
    """The ids of the mappings the emulator generated as needing a change."""
    records = server.state.fleet.mappings.values()
    return [m.id for m in records if m.condition is Condition.NEEDS_CHANGE]
