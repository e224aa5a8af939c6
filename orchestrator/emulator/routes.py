"""Resolve a request path to the ARM resource it names, case-insensitively.

ARM paths are case-insensitive (ASR returns ids as ``/Subscriptions/…`` and clients send either
case), so the emulator does its own matching on lower-cased segments instead of using aiohttp's
case-sensitive router. Keys (``vault_key``, ``mapping_key``) are the lower-cased ARM ids, the same
keys the fleet is indexed by; ``fabric``, ``container`` and ``item`` are lower-cased names.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RouteKind(StrEnum):
    """What a path names."""

    TOKEN = "token"
    STATS = "stats"
    SUBSCRIPTIONS = "subscriptions"
    SUBSCRIPTION = "subscription"
    VAULTS = "vaults"
    AUTOMATION_ACCOUNT = "automation_account"
    MAPPINGS = "mappings"  # the vault-level list
    ITEMS = "items"  # the vault-level list of replication protected items
    FABRICS = "fabrics"
    FABRIC = "fabric"
    CONTAINERS = "containers"
    CONTAINER = "container"
    CONTAINER_MAPPINGS = "container_mappings"
    CONTAINER_ITEMS = "container_items"
    ITEM = "item"
    MAPPING = "mapping"
    OPERATION_STATUS = "operation_status"
    OPERATION_RESULT = "operation_result"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """A resolved path. Empty strings where a part does not apply."""

    kind: RouteKind
    subscription_id: str = ""  # lower-cased
    vault_key: str = ""  # lower-cased vault id
    fabric: str = ""  # lower-cased fabric name
    container: str = ""  # lower-cased container name
    mapping_key: str = ""  # lower-cased mapping id
    item: str = ""  # lower-cased protected item name
    operation_id: str = ""  # lower-cased
    resource_key: str = ""  # lower-cased id of a resource outside ASR (Automation account)


STATS_PREFIX = "_emulator"
_UNKNOWN = Route(kind=RouteKind.UNKNOWN)
_VAULT_PREFIX = 8  # subscriptions/S/resourcegroups/RG/providers/microsoft.recoveryservices/vaults/V
_ACCOUNT = ("subscriptions", None, "resourcegroups", None, "providers", "microsoft.automation")
_FABRICS = "replicationfabrics"
_CONTAINERS = "replicationprotectioncontainers"
_MAPPINGS = "replicationprotectioncontainermappings"
_ITEMS = "replicationprotecteditems"
# Under a vault: the segments after it -> what they name (None matches any name).
_VAULT_LEVEL: tuple[tuple[tuple[str | None, ...], RouteKind], ...] = (
    ((_MAPPINGS,), RouteKind.MAPPINGS),
    ((_ITEMS,), RouteKind.ITEMS),
    (("replicationoperationstatus", None), RouteKind.OPERATION_STATUS),
    ((_FABRICS,), RouteKind.FABRICS),
    ((_FABRICS, None), RouteKind.FABRIC),
    ((_FABRICS, None, _CONTAINERS), RouteKind.CONTAINERS),
    ((_FABRICS, None, _CONTAINERS, None), RouteKind.CONTAINER),
    ((_FABRICS, None, _CONTAINERS, None, _MAPPINGS), RouteKind.CONTAINER_MAPPINGS),
    ((_FABRICS, None, _CONTAINERS, None, _ITEMS), RouteKind.CONTAINER_ITEMS),
    ((_FABRICS, None, _CONTAINERS, None, _ITEMS, None), RouteKind.ITEM),
    ((_FABRICS, None, _CONTAINERS, None, _MAPPINGS, None), RouteKind.MAPPING),
    (
        (_FABRICS, None, _CONTAINERS, None, _MAPPINGS, None, "operationresults", None),
        RouteKind.OPERATION_RESULT,
    ),
)
_MAPPING_DEPTH = 6  # segments from replicationFabrics to the mapping's name


def arm_key(arm_id: str) -> str:
    """The lookup key of an ARM id: lower-cased, without a trailing slash."""
    return arm_id.rstrip("/").lower()


def _key(segments: list[str]) -> str:
    return "/" + "/".join(segments)


def _is_vault(low: list[str]) -> bool:
    return (
        len(low) >= _VAULT_PREFIX
        and low[0] == "subscriptions"
        and low[2] == "resourcegroups"
        and low[4] == "providers"
        and low[5] == "microsoft.recoveryservices"
        and low[6] == "vaults"
    )


def _matches(segments: list[str], pattern: tuple[str | None, ...]) -> bool:
    if len(segments) != len(pattern):
        return False
    return all(want is None or want == got for want, got in zip(pattern, segments, strict=True))


def _resolve_under_vault(low: list[str]) -> Route:
    rest = low[_VAULT_PREFIX:]
    kind = next((kind for pattern, kind in _VAULT_LEVEL if _matches(rest, pattern)), None)
    if kind is None:
        return _UNKNOWN
    deep = len(rest) >= _MAPPING_DEPTH and rest[4] == _MAPPINGS
    return Route(
        kind=kind,
        subscription_id=low[1],
        vault_key=_key(low[:_VAULT_PREFIX]),
        fabric=rest[1] if len(rest) > 1 and rest[0] == _FABRICS else "",
        container=rest[3] if len(rest) > 3 else "",
        mapping_key=_key(low[: _VAULT_PREFIX + _MAPPING_DEPTH]) if deep else "",
        item=rest[5] if kind is RouteKind.ITEM else "",
        operation_id=rest[-1] if kind.name.startswith("OPERATION") else "",
    )


def resolve(path: str) -> Route:
    """Resolve a URL path (already percent-decoded) to a `Route`; `RouteKind.UNKNOWN` if none."""
    segments = path.strip("/").split("/")
    if any(not segment for segment in segments):
        return _UNKNOWN
    low = [segment.lower() for segment in segments]
    if low == ["msi", "token"]:
        return Route(kind=RouteKind.TOKEN)
    if low[0] == STATS_PREFIX:
        return Route(kind=RouteKind.STATS)
    if low == ["subscriptions"]:
        return Route(kind=RouteKind.SUBSCRIPTIONS)
    if _matches(low, ("subscriptions", None)):
        return Route(kind=RouteKind.SUBSCRIPTION, subscription_id=low[1])
    if _matches(low, ("subscriptions", None, "providers", "microsoft.recoveryservices", "vaults")):
        return Route(kind=RouteKind.VAULTS, subscription_id=low[1])
    if _matches(low, (*_ACCOUNT, "automationaccounts", None)):
        return Route(
            kind=RouteKind.AUTOMATION_ACCOUNT, subscription_id=low[1], resource_key=_key(low)
        )
    if _is_vault(low):
        return _resolve_under_vault(low)
    return _UNKNOWN
