"""What several emulator tests send or look for: a valid enable PATCH, the mappings to change."""

from __future__ import annotations

from typing import TypedDict

from arm_client import Emulator

from orchestrator.emulator import AutomationAccountSpec, Condition

# An Automation account the test specs declare (an enable naming an unknown one fails).
ACCOUNT = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Automation/automationAccounts/aa"
TEST_ACCOUNTS = (AutomationAccountSpec(id=ACCOUNT),)


class PatchProperties(TypedDict):
    """``properties`` of a mapping's PATCH: the A2A input, keys and values as a test wants them."""

    providerSpecificInput: dict[str, object]


class PatchBody(TypedDict):
    """A mapping's PATCH body (``UpdateProtectionContainerMappingInput``)."""

    properties: PatchProperties


ENABLE: PatchBody = {
    "properties": {
        "providerSpecificInput": {
            "instanceType": "A2A",
            "agentAutoUpdateStatus": "Enabled",
            "automationAccountArmId": ACCOUNT,
        }
    }
}
DISABLE: PatchBody = {
    "properties": {
        "providerSpecificInput": {"instanceType": "A2A", "agentAutoUpdateStatus": "Disabled"}
    }
}


def enable(**extra: object) -> PatchBody:
    """An enable body with ``extra`` provider-specific keys (None values are sent as null)."""
    provider = {**ENABLE["properties"]["providerSpecificInput"], **extra}
    return {"properties": {"providerSpecificInput": provider}}


def changeable(server: Emulator) -> list[str]:
    """The ids of the mappings the emulator generated as needing a change."""
    records = server.state.fleet.mappings.values()
    return [m.id for m in records if m.condition is Condition.NEEDS_CHANGE]


def mapping_in(server: Emulator, condition: Condition) -> str:
    """The id of the first generated mapping in ``condition``."""
    return next(m.id for m in server.state.fleet.mappings.values() if m.condition is condition)
