"""Resolve a request path to the ARM resource it names, case-insensitively.

ARM paths are case-insensitive (ASR returns ids as ``/Subscriptions/…`` and clients send either
case), so the emulator does its own matching on lower-cased segments instead of using aiohttp's
case-sensitive router. Keys (``vault_key``, ``mapping_key``) are the lower-cased ARM ids, the same
keys the fleet is indexed by.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RouteKind(StrEnum):
    """What a path names."""

    TOKEN = "token"
    SUBSCRIPTIONS = "subscriptions"
    VAULTS = "vaults"
    MAPPINGS = "mappings"
    MAPPING = "mapping"
    OPERATION_STATUS = "operation_status"
    OPERATION_RESULT = "operation_result"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Route:
    """A resolved path. Empty strings where a part does not apply."""

    kind: RouteKind
    subscription_id: str = ""  # lower-cased
    vault_key: str = ""  # lower-cased vault id
    mapping_key: str = ""  # lower-cased mapping id
    operation_id: str = ""  # lower-cased


_UNKNOWN = Route(RouteKind.UNKNOWN)
_VAULT_PREFIX = 8  # subscriptions/S/resourcegroups/RG/providers/microsoft.recoveryservices/vaults/V
_MAPPING_TAIL = (
    "replicationfabrics",
    None,
    "replicationprotectioncontainers",
    None,
    "replicationprotectioncontainermappings",
    None,
)


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
    vault_key = _key(low[:_VAULT_PREFIX])
    rest = low[_VAULT_PREFIX:]
    if rest == ["replicationprotectioncontainermappings"]:
        return Route(RouteKind.MAPPINGS, low[1], vault_key)
    if _matches(rest, ("replicationoperationstatus", None)):
        return Route(RouteKind.OPERATION_STATUS, low[1], vault_key, operation_id=rest[1])
    tail = len(_MAPPING_TAIL)
    if len(rest) < tail or not _matches(rest[:tail], _MAPPING_TAIL):
        return _UNKNOWN
    mapping_key = _key(low[: _VAULT_PREFIX + tail])
    if len(rest) == tail:
        return Route(RouteKind.MAPPING, low[1], vault_key, mapping_key)
    if _matches(rest[tail:], ("operationresults", None)):
        return Route(RouteKind.OPERATION_RESULT, low[1], vault_key, mapping_key, rest[tail + 1])
    return _UNKNOWN


def resolve(path: str) -> Route:
    """Resolve a URL path (already percent-decoded) to a `Route`; `RouteKind.UNKNOWN` if none."""
    segments = path.strip("/").split("/")
    if any(not segment for segment in segments):
        return _UNKNOWN
    low = [segment.lower() for segment in segments]
    if low == ["msi", "token"]:
        return Route(RouteKind.TOKEN)
    if low == ["subscriptions"]:
        return Route(RouteKind.SUBSCRIPTIONS)
    if _matches(low, ("subscriptions", None, "providers", "microsoft.recoveryservices", "vaults")):
        return Route(RouteKind.VAULTS, low[1])
    if _is_vault(low):
        return _resolve_under_vault(low)
    return _UNKNOWN
