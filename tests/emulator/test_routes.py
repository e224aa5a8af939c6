"""Path resolution: every ARM path the tool uses, in any letter case."""

from __future__ import annotations

import pytest

from orchestrator.emulator.routes import Route, RouteKind, arm_key, resolve

VAULT = "/subscriptions/S1/resourceGroups/RG/providers/Microsoft.RecoveryServices/vaults/V1"
MAPPING = (
    f"{VAULT}/replicationFabrics/F/replicationProtectionContainers/C"
    "/replicationProtectionContainerMappings/M"
)


@pytest.mark.parametrize("spell", [str, str.upper, str.lower])
def test_paths_resolve_whatever_their_case(spell) -> None:
    vault_key, mapping_key = arm_key(VAULT), arm_key(MAPPING)
    assert resolve(spell("/subscriptions")) == Route(RouteKind.SUBSCRIPTIONS)
    assert resolve(spell("/subscriptions/S1/providers/Microsoft.RecoveryServices/vaults")) == Route(
        RouteKind.VAULTS, "s1"
    )
    assert resolve(spell(f"{VAULT}/replicationProtectionContainerMappings")) == Route(
        RouteKind.MAPPINGS, "s1", vault_key
    )
    assert resolve(spell(MAPPING)) == Route(RouteKind.MAPPING, "s1", vault_key, mapping_key)
    assert resolve(spell(f"{VAULT}/replicationOperationStatus/OP")) == Route(
        RouteKind.OPERATION_STATUS, "s1", vault_key, operation_id="op"
    )
    assert resolve(spell(f"{MAPPING}/operationResults/OP")) == Route(
        RouteKind.OPERATION_RESULT, "s1", vault_key, mapping_key, "op"
    )
    assert resolve(spell("/msi/token")) == Route(RouteKind.TOKEN)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/subscriptions/S1",
        VAULT,
        f"{VAULT}/replicationFabrics",
        f"{MAPPING}/extra",
        f"{MAPPING}/operationResults",
        "/subscriptions//providers/Microsoft.RecoveryServices/vaults",
        VAULT.replace("resourceGroups", "groups") + "/replicationProtectionContainerMappings",
    ],
)
def test_other_paths_are_unknown(path: str) -> None:
    assert resolve(path).kind is RouteKind.UNKNOWN


def test_a_trailing_slash_does_not_matter() -> None:
    assert resolve(MAPPING + "/") == resolve(MAPPING)
    assert arm_key(MAPPING + "/") == arm_key(MAPPING.upper())
