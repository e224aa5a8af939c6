"""The shape of a replication protection container mapping's JSON, as the tests read it.

The emulator builds its answers as plain JSON (``dict[str, object]``), the way they go on the
wire; ASR's documented shape (``ReplicationProtectionContainerMappings_Get``) is declared here
instead, and `read_mapping` / `read_mappings` read the emulator's state through it so a test can
reach ``["properties"]["providerSpecificDetails"]`` with types. Keys follow the emulator: A2A
details carry explicit nulls unless ``tidy_bodies`` leaves them out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NotRequired, TypedDict, cast

from orchestrator.emulator import EmulatorState


class HealthErrorJson(TypedDict, total=False):
    """One entry of ``healthErrorDetails`` (the emulator's carry every key; ASR's API marks each
    optional)."""

    innerHealthErrors: list[HealthErrorJson]
    errorSource: str
    errorType: str
    errorLevel: str
    errorCategory: str
    errorCode: str
    summaryMessage: str
    errorMessage: str
    possibleCauses: str
    recommendedAction: str
    creationTimeUtc: str
    recoveryProviderErrorMessage: str
    entityId: str
    errorId: str
    customerResolvability: str


class A2ADetailsJson(TypedDict, total=False):
    """``providerSpecificDetails`` of an A2A mapping (what is null may be left out)."""

    instanceType: str
    agentAutoUpdateStatus: str
    automationAccountArmId: str | None
    automationAccountAuthenticationType: str
    scheduleName: str | None
    jobScheduleName: str | None


class MappingPropertiesJson(TypedDict):
    """A mapping's ``properties``; ``providerSpecificDetails`` only on A2A mappings."""

    targetProtectionContainerId: str
    targetProtectionContainerFriendlyName: str
    health: str
    healthErrorDetails: list[HealthErrorJson]
    policyId: str
    state: str
    sourceProtectionContainerFriendlyName: str
    sourceFabricFriendlyName: str
    targetFabricFriendlyName: str
    policyFriendlyName: str
    providerSpecificDetails: NotRequired[A2ADetailsJson]


class MappingJson(TypedDict):
    """A mapping as ``GET`` and the mapping lists answer it."""

    id: str
    name: str
    type: str
    properties: MappingPropertiesJson


def as_mapping(body: object) -> MappingJson:
    """``body``, a mapping's JSON from the emulator, in ASR's documented shape."""
    return cast(MappingJson, body)


def read_mapping(state: EmulatorState, mapping_id: str) -> MappingJson:
    """`EmulatorState.mapping` (a deep copy of the mapping's JSON now), typed."""
    return as_mapping(state.mapping(mapping_id))


def read_mappings(state: EmulatorState) -> Iterator[MappingJson]:
    """`EmulatorState.mappings` (every mapping's JSON now, vault by vault), typed."""
    return (as_mapping(mapping) for mapping in state.mappings())
