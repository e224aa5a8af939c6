"""A container mapping as ARM lists it: the snapshot a run reads, and its settings.

:class:`MappingSettings` is the one shape of a mapping's auto-update settings: what it was
(``before``), what it became (``after``), in the run's records and in the report alike. Pure
functions, no I/O. ARM's JSON keys are matched exactly (camelCase, as documented); values keep
their case as ARM sent them (comparisons are the rules' business, case-insensitively).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from orchestrator.errors import ArmResponseError


def shared(value: str | None) -> str | None:
    """One copy of a value that many mappings repeat (states, statuses, an account's id)."""
    return sys.intern(value) if value is not None else None


@dataclass(frozen=True, slots=True)
class HealthError:
    """One of a mapping's ``healthErrorDetails``: what ASR says is wrong and what to do."""

    code: Annotated[str | None, Field(description="ASR's error code (`errorCode`).")]
    message: Annotated[str | None, Field(description="What is wrong (`errorMessage`).")]
    possible_causes: Annotated[str | None, Field(description="ASR's `possibleCauses`.")]
    recommended_action: Annotated[str | None, Field(description="ASR's `recommendedAction`.")]


@dataclass(frozen=True, slots=True)
class MappingSettings:
    """A mapping's auto-update settings and health, values as ARM sent them.

    Kept for every mapping of a run, so kept small: strings are interned, and the health
    errors' details are an empty tuple for a healthy mapping.
    """

    agent_auto_update_status: Annotated[
        str | None, Field(description="`Enabled`, `Disabled` or absent.")
    ]
    automation_account_arm_id: Annotated[
        str | None, Field(description="The Automation account's ARM id.")
    ]
    authentication_type: Annotated[
        str | None, Field(description="`SystemAssignedIdentity`, `RunAsAccount` or absent.")
    ]
    health_errors: Annotated[int, Field(ge=0, description="How many `healthErrorDetails` it had.")]
    state: Annotated[str | None, Field(description="The mapping's state, e.g. `Paired`.")]
    health_error_details: Annotated[
        tuple[HealthError, ...],
        Field(description="Its `healthErrorDetails`: code, message, causes, recommended action."),
    ] = ()


@dataclass(frozen=True, slots=True)
class MappingSnapshot:
    """What one listed container mapping says about itself, as ARM sent it (case untouched).

    The provider-specific fields are ``None`` when ``providerSpecificDetails`` is absent or
    leaves them out; ``health_errors`` counts ``healthErrorDetails``.
    """

    id: str
    name: str
    state: str | None
    instance_type: str | None
    agent_auto_update_status: str | None
    automation_account_arm_id: str | None
    authentication_type: str | None
    health_errors: int
    health_error_details: tuple[HealthError, ...] = ()

    def settings(self) -> MappingSettings:
        """The snapshot's settings, strings interned (a fleet repeats them)."""
        return MappingSettings(
            agent_auto_update_status=shared(self.agent_auto_update_status),
            automation_account_arm_id=shared(self.automation_account_arm_id),
            authentication_type=shared(self.authentication_type),
            health_errors=self.health_errors,
            state=shared(self.state),
            health_error_details=self.health_error_details,
        )


def parse_mapping(raw: object) -> MappingSnapshot:
    """Read one element of a mapping list's ``value`` into a snapshot.

    Raises ArmResponseError, naming the mapping and the key, when the shape is not ARM's:
    not an object, ``id`` missing, ``properties`` or ``providerSpecificDetails`` not an object,
    ``healthErrorDetails`` not a list, or a string field holding another type.
    """
    if not isinstance(raw, Mapping):
        raise ArmResponseError(f"a mapping is {kind_of(raw)}, expected an object")
    mapping_id = raw.get("id")
    if not isinstance(mapping_id, str):
        raise ArmResponseError(f"a mapping has id {kind_of(mapping_id)}, expected a string")
    if not mapping_id.strip():
        raise ArmResponseError("a mapping has an empty id")
    where = f"mapping {mapping_id}"
    name = optional_str(raw, "name", where, "") or mapping_id.rstrip("/").rsplit("/", 1)[-1]
    properties = raw.get("properties")
    if not isinstance(properties, Mapping):
        raise ArmResponseError(f"{where}: properties is {kind_of(properties)}, expected an object")
    details = _optional_object(properties, "providerSpecificDetails", where)
    health = _health_errors(properties.get("healthErrorDetails"), where)
    specific = "properties.providerSpecificDetails."
    return MappingSnapshot(
        id=mapping_id,
        name=name,
        state=optional_str(properties, "state", where, "properties."),
        instance_type=optional_str(details, "instanceType", where, specific),
        agent_auto_update_status=optional_str(details, "agentAutoUpdateStatus", where, specific),
        automation_account_arm_id=optional_str(details, "automationAccountArmId", where, specific),
        authentication_type=optional_str(
            details, "automationAccountAuthenticationType", where, specific
        ),
        health_errors=len(health),
        health_error_details=health,
    )


def _optional_object(parent: Mapping[str, object], key: str, where: str) -> Mapping[str, object]:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ArmResponseError(
            f"{where}: properties.{key} is {kind_of(value)}, expected an object"
        )
    return value


def _health_errors(value: object, where: str) -> tuple[HealthError, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ArmResponseError(
            f"{where}: properties.healthErrorDetails is {kind_of(value)}, expected a list"
        )
    return tuple(_health_error(item) for item in value)


def _health_error(item: object) -> HealthError:
    """One health error; fields of the wrong type are left out rather than failing the vault."""
    fields = item if isinstance(item, Mapping) else {}

    def text(key: str) -> str | None:
        value = fields.get(key)
        return value if isinstance(value, str) and value else None

    return HealthError(
        code=shared(text("errorCode")),
        message=text("errorMessage") or text("summaryMessage"),
        possible_causes=text("possibleCauses"),
        recommended_action=text("recommendedAction"),
    )


def optional_str(obj: Mapping[str, object], key: str, where: str, path: str) -> str | None:
    """``obj[key]`` when it is a string or absent/null; ArmResponseError naming it otherwise."""
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ArmResponseError(f"{where}: {path}{key} is {kind_of(value)}, expected a string")


def kind_of(value: object) -> str:
    """Name a JSON value's type for an error message, without echoing the value itself."""
    if value is None:
        return "missing or null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), f"a {type(value).__name__}")
