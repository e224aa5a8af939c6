"""Path resolution: every ARM path the tool uses, in any letter case."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from orchestrator.emulator.routes import Route, RouteKind, arm_key, resolve

VAULT = "/subscriptions/S1/resourceGroups/RG/providers/Microsoft.RecoveryServices/vaults/V1"
FABRIC = f"{VAULT}/replicationFabrics/F"
CONTAINER = f"{FABRIC}/replicationProtectionContainers/C"
MAPPING = f"{CONTAINER}/replicationProtectionContainerMappings/M"
ACCOUNT = "/subscriptions/S1/resourceGroups/RG/providers/Microsoft.Automation/automationAccounts/AA"


def _under_vault(kind: RouteKind, **parts: str) -> Route:
    return Route(kind=kind, subscription_id="s1", vault_key=arm_key(VAULT), **parts)


@pytest.mark.parametrize("spell", [str, str.upper, str.lower])
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/subscriptions", Route(kind=RouteKind.SUBSCRIPTIONS)),
        ("/subscriptions/S1", Route(kind=RouteKind.SUBSCRIPTION, subscription_id="s1")),
        (
            "/subscriptions/S1/providers/Microsoft.RecoveryServices/vaults",
            Route(kind=RouteKind.VAULTS, subscription_id="s1"),
        ),
        (
            ACCOUNT,
            Route(
                kind=RouteKind.AUTOMATION_ACCOUNT,
                subscription_id="s1",
                resource_key=arm_key(ACCOUNT),
            ),
        ),
        (f"{VAULT}/replicationProtectionContainerMappings", _under_vault(RouteKind.MAPPINGS)),
        (f"{VAULT}/replicationProtectedItems", _under_vault(RouteKind.ITEMS)),
        (f"{VAULT}/replicationFabrics", _under_vault(RouteKind.FABRICS)),
        (FABRIC, _under_vault(RouteKind.FABRIC, fabric="f")),
        (
            f"{FABRIC}/replicationProtectionContainers",
            _under_vault(RouteKind.CONTAINERS, fabric="f"),
        ),
        (CONTAINER, _under_vault(RouteKind.CONTAINER, fabric="f", container="c")),
        (
            f"{CONTAINER}/replicationProtectionContainerMappings",
            _under_vault(RouteKind.CONTAINER_MAPPINGS, fabric="f", container="c"),
        ),
        (
            f"{CONTAINER}/replicationProtectedItems",
            _under_vault(RouteKind.CONTAINER_ITEMS, fabric="f", container="c"),
        ),
        (
            f"{CONTAINER}/replicationProtectedItems/I",
            _under_vault(RouteKind.ITEM, fabric="f", container="c", item="i"),
        ),
        (
            MAPPING,
            _under_vault(
                RouteKind.MAPPING, fabric="f", container="c", mapping_key=arm_key(MAPPING)
            ),
        ),
        (
            f"{VAULT}/replicationOperationStatus/OP",
            _under_vault(RouteKind.OPERATION_STATUS, operation_id="op"),
        ),
        (
            f"{MAPPING}/operationResults/OP",
            _under_vault(
                RouteKind.OPERATION_RESULT,
                fabric="f",
                container="c",
                mapping_key=arm_key(MAPPING),
                operation_id="op",
            ),
        ),
        ("/msi/token", Route(kind=RouteKind.TOKEN)),
        ("/_emulator/counters", Route(kind=RouteKind.STATS)),
    ],
)
def test_every_served_path_resolves_whatever_its_case(
    spell: Callable[[str], str], path: str, expected: Route
) -> None:
    assert resolve(spell(path)) == expected


@pytest.mark.parametrize(
    "path",
    [
        "/",
        VAULT,
        f"{MAPPING}/extra",
        f"{MAPPING}/operationResults",
        f"{CONTAINER}/replicationProtectedItems/I/extra",
        f"{ACCOUNT}/runbooks",
        "/subscriptions//providers/Microsoft.RecoveryServices/vaults",
        VAULT.replace("resourceGroups", "groups") + "/replicationProtectionContainerMappings",
    ],
)
def test_other_paths_are_unknown(path: str) -> None:
    assert resolve(path).kind is RouteKind.UNKNOWN


def test_a_trailing_slash_does_not_matter() -> None:
    assert resolve(MAPPING + "/") == resolve(MAPPING)
    assert arm_key(MAPPING + "/") == arm_key(MAPPING.upper())
