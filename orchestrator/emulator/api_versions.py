"""The ``api-version`` values each resource provider knows, as ARM checks them.

Sources: the ``stable/`` folders of Azure/azure-rest-api-specs (as mirrored by Azure/bicep-types-az)
for Microsoft.RecoveryServices site recovery (2018-01-10 … 2025-08-01), Recovery Services vaults,
Microsoft.Resources subscriptions and Microsoft.Automation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from orchestrator.emulator.routes import RouteKind

ASR_VERSIONS: Final = (
    "2018-01-10", "2018-07-10", "2021-02-10", "2021-03-01", "2021-04-01", "2021-06-01",
    "2021-07-01", "2021-08-01", "2021-10-01", "2021-11-01", "2021-12-01", "2022-01-01",
    "2022-02-01", "2022-03-01", "2022-04-01", "2022-05-01", "2022-08-01", "2022-09-10",
    "2022-10-01", "2023-01-01", "2023-02-01", "2023-04-01", "2023-06-01", "2023-08-01",
    "2024-01-01", "2024-02-01", "2024-04-01", "2024-10-01", "2025-01-01", "2025-02-01",
    "2025-08-01",
)  # fmt: skip
VAULT_VERSIONS: Final = (
    "2016-06-01", "2020-02-02", "2020-10-01", "2021-01-01", "2021-02-10", "2021-03-01",
    "2021-04-01", "2021-06-01", "2021-07-01", "2021-08-01", "2021-11-01-preview", "2021-12-01",
    "2022-01-01", "2022-01-31-preview", "2022-02-01", "2022-03-01", "2022-04-01", "2022-05-01",
    "2022-08-01", "2022-09-10", "2022-09-30-preview", "2022-10-01", "2023-01-01", "2023-02-01",
    "2023-04-01", "2023-06-01", "2023-08-01", "2024-01-01", "2024-02-01", "2024-04-01",
    "2024-04-30-preview", "2024-09-30-preview", "2024-10-01", "2025-01-01", "2025-02-01",
    "2025-08-01",
)  # fmt: skip
SUBSCRIPTION_VERSIONS: Final = (
    "2015-11-01", "2016-06-01", "2018-06-01", "2019-06-01", "2019-11-01", "2020-01-01",
    "2021-01-01", "2022-12-01",
)  # fmt: skip
AUTOMATION_VERSIONS: Final = (
    "2015-10-31", "2017-05-15-preview", "2018-01-15", "2018-06-30", "2019-06-01",
    "2020-01-13-preview", "2021-06-22", "2022-02-22", "2022-08-08", "2023-05-15-preview",
    "2023-11-01", "2024-10-23",
)  # fmt: skip

_BY_ROUTE: Final[Mapping[RouteKind, tuple[str, ...]]] = {
    RouteKind.SUBSCRIPTIONS: SUBSCRIPTION_VERSIONS,
    RouteKind.SUBSCRIPTION: SUBSCRIPTION_VERSIONS,
    RouteKind.VAULTS: VAULT_VERSIONS,
    RouteKind.AUTOMATION_ACCOUNT: AUTOMATION_VERSIONS,
}


def supported_versions(route: RouteKind) -> tuple[str, ...] | None:
    """The versions a route's provider knows, oldest first; None where nothing is checked."""
    if route in _BY_ROUTE:
        return _BY_ROUTE[route]
    if route in (RouteKind.UNKNOWN, RouteKind.TOKEN, RouteKind.STATS):
        return None
    return ASR_VERSIONS  # everything under a vault's replication… paths


def version_known(route: RouteKind, api_version: str) -> bool:
    """Whether ARM would accept ``api_version`` on ``route`` (case-insensitive, as ARM)."""
    versions = supported_versions(route)
    return versions is None or api_version.lower() in versions


def invalid_version_message(api_version: str, route: RouteKind) -> str:
    """ARM's message for an api-version the provider does not know."""
    versions = ",".join(reversed(supported_versions(route) or ()))
    return f"The api-version '{api_version}' is invalid. The supported versions are '{versions}'."
