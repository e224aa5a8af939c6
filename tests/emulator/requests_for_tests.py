"""What several emulator tests send or look for: a valid enable PATCH, the mappings to change."""

from __future__ import annotations

from orchestrator.emulator import AutomationAccountSpec, Condition

# An Automation account the test specs declare (an enable naming an unknown one fails).
ACCOUNT = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Automation/automationAccounts/aa"
TEST_ACCOUNTS = (AutomationAccountSpec(id=ACCOUNT),)
ENABLE = {
    "properties": {
        "providerSpecificInput": {
            "instanceType": "A2A",
            "agentAutoUpdateStatus": "Enabled",
            "automationAccountArmId": ACCOUNT,
        }
    }
}
DISABLE = {
    "properties": {
        "providerSpecificInput": {"instanceType": "A2A", "agentAutoUpdateStatus": "Disabled"}
    }
}


def enable(**extra: object) -> dict[str, object]:
    """An enable body with ``extra`` provider-specific keys (None values are sent as null)."""
    provider = {**ENABLE["properties"]["providerSpecificInput"], **extra}  # type: ignore[index]
    return {"properties": {"providerSpecificInput": provider}}


def changeable(server) -> list[str]:
    """The ids of the mappings the emulator generated as needing a change."""
    records = server.state.fleet.mappings.values()
    return [m.id for m in records if m.condition is Condition.NEEDS_CHANGE]


def mapping_in(server, condition: Condition) -> str:
    """The id of the first generated mapping in ``condition``."""
    return next(m.id for m in server.state.fleet.mappings.values() if m.condition is condition)
