"""The ASR rules: read a container mapping, decide what it needs, shape the PATCH, read op status.

Pure functions, no I/O. ARM's JSON keys are matched exactly (camelCase, as documented); every
value compared (instance type, state, status, authentication type, ARM id) is compared
case-insensitively, because ARM and ASR are not consistent about case (``/Subscriptions/``).

A missing ``automationAccountAuthenticationType`` on a mapping counts as ``RunAsAccount``: that
is the REST spec's declared default (``A2AProtectionContainerMappingDetails``, 2021-12-01), and
mappings enabled before the field existed run with a Run As account. So under the default
desired type, ``SystemAssignedIdentity``, such a mapping is re-applied rather than skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from orchestrator.asr.desired import KEEP_ACCOUNT, Action, AuthenticationType, DesiredState
from orchestrator.errors import ArmResponseError

A2A: Final = "A2A"
# Why RunAsAccount: see the module docstring.
DEFAULT_AUTHENTICATION_TYPE: Final = AuthenticationType.RUN_AS_ACCOUNT

_SUCCEEDED: Final = frozenset({"succeeded", "partiallysucceeded", "completedwithinformation"})
_FAILED: Final = frozenset({"failed", "canceled", "cancelled"})


class SkipReason(StrEnum):
    NOT_A2A = "not_a2a"
    NOT_PAIRED = "not_paired"
    COMPLIANT = "compliant"


class OperationState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


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


@dataclass(frozen=True, slots=True)
class Change:
    """The mapping needs a PATCH; ``body`` is exactly what to send."""

    body: dict[str, object]


@dataclass(frozen=True, slots=True)
class Skip:
    """The mapping is left alone, for ``reason``."""

    reason: SkipReason


@dataclass(frozen=True, slots=True)
class Refuse:
    """The mapping needs a change that cannot be built (e.g. ``keep`` with no account to keep)."""

    code: str
    message: str


Decision = Change | Skip | Refuse


def parse_mapping(raw: object) -> MappingSnapshot:
    """Read one element of a mapping list's ``value`` into a snapshot.

    Raises ArmResponseError, naming the mapping and the key, when the shape is not ARM's:
    not an object, ``id`` missing, ``properties`` or ``providerSpecificDetails`` not an object,
    ``healthErrorDetails`` not a list, or a string field holding another type.
    """
    if not isinstance(raw, Mapping):
        raise ArmResponseError(f"a mapping is {_kind(raw)}, expected an object")
    mapping_id = raw.get("id")
    if not isinstance(mapping_id, str):
        raise ArmResponseError(f"a mapping has id {_kind(mapping_id)}, expected a string")
    if not mapping_id.strip():
        raise ArmResponseError("a mapping has an empty id")
    where = f"mapping {mapping_id}"
    name = _optional_str(raw, "name", where, "") or mapping_id.rstrip("/").rsplit("/", 1)[-1]
    properties = raw.get("properties")
    if not isinstance(properties, Mapping):
        raise ArmResponseError(f"{where}: properties is {_kind(properties)}, expected an object")
    details = properties.get("providerSpecificDetails")
    if details is None:
        details = {}
    elif not isinstance(details, Mapping):
        raise ArmResponseError(
            f"{where}: properties.providerSpecificDetails is {_kind(details)}, expected an object"
        )
    health = properties.get("healthErrorDetails")
    if health is None:
        health = []
    elif not isinstance(health, list):
        raise ArmResponseError(
            f"{where}: properties.healthErrorDetails is {_kind(health)}, expected a list"
        )
    specific = "properties.providerSpecificDetails."
    return MappingSnapshot(
        id=mapping_id,
        name=name,
        state=_optional_str(properties, "state", where, "properties."),
        instance_type=_optional_str(details, "instanceType", where, specific),
        agent_auto_update_status=_optional_str(details, "agentAutoUpdateStatus", where, specific),
        automation_account_arm_id=_optional_str(details, "automationAccountArmId", where, specific),
        authentication_type=_optional_str(
            details, "automationAccountAuthenticationType", where, specific
        ),
        health_errors=len(health),
    )


def decide(mapping: MappingSnapshot, desired: DesiredState) -> Decision:
    """What ``desired`` needs done to ``mapping``, by DESIGN's rules in DESIGN's order.

    not_a2a, then not_paired, then compliant, else a Change. With ``keep``, the account is the
    mapping's own; a mapping that has none gets a Refuse (after the not_a2a/not_paired skips).
    """
    if not _same_text(mapping.instance_type, A2A):
        return Skip(SkipReason.NOT_A2A)
    if not _same_text(mapping.state, "Paired"):
        return Skip(SkipReason.NOT_PAIRED)
    if desired.action is Action.DISABLE:
        if _same_text(mapping.agent_auto_update_status, "Disabled"):
            return Skip(SkipReason.COMPLIANT)
        return Change(patch_body(desired, None))
    if desired.keeps_account:
        account = mapping.automation_account_arm_id
    else:
        account = desired.automation_account
    if account is None or not account.strip():
        return Refuse("no_automation_account", _no_account_message(desired))
    if _is_enabled_as_desired(mapping, account, desired.authentication_type):
        return Skip(SkipReason.COMPLIANT)
    return Change(patch_body(desired, account))


def patch_body(desired: DesiredState, account: str | None) -> dict[str, object]:
    """The PATCH body that drives a mapping to ``desired``, using Automation ``account``.

    ``account`` is ignored for ``disable``. For ``enable`` it must be a real ARM id (not
    ``keep``, not None): ValueError otherwise, since that is a bug in the caller.
    """
    if desired.action is Action.DISABLE:
        specific: dict[str, object] = {"instanceType": A2A, "agentAutoUpdateStatus": "Disabled"}
    else:
        if account is None or not account.strip() or account == KEEP_ACCOUNT:
            raise ValueError(f"enable needs an Automation account ARM id, got {account!r}")
        specific = {
            "instanceType": A2A,
            "agentAutoUpdateStatus": "Enabled",
            "automationAccountArmId": account,
            "automationAccountAuthenticationType": desired.authentication_type.value,
        }
    return {"properties": {"providerSpecificInput": specific}}


def same_arm_id(a: str | None, b: str | None) -> bool:
    """Whether two ARM ids name the same resource: case-insensitive, trailing ``/`` ignored.

    Two Nones are the same; None and an id are not.
    """
    if a is None or b is None:
        return a is b
    return a.rstrip("/").casefold() == b.rstrip("/").casefold()


def classify_operation_status(status: str | None) -> OperationState:
    """Map an Azure-AsyncOperation ``status`` to running, succeeded or failed.

    Unknown and missing statuses count as still running: DESIGN lists the terminal ones.
    """
    folded = (status or "").strip().casefold()
    if folded in _SUCCEEDED:
        return OperationState.SUCCEEDED
    if folded in _FAILED:
        return OperationState.FAILED
    return OperationState.RUNNING


def _is_enabled_as_desired(
    mapping: MappingSnapshot, account: str, authentication_type: AuthenticationType
) -> bool:
    current_type = mapping.authentication_type or DEFAULT_AUTHENTICATION_TYPE.value
    return (
        _same_text(mapping.agent_auto_update_status, "Enabled")
        and same_arm_id(mapping.automation_account_arm_id, account)
        and _same_text(current_type, authentication_type.value)
        and mapping.health_errors == 0
    )


def _no_account_message(desired: DesiredState) -> str:
    if desired.keeps_account:
        return "automation_account is keep, but this mapping has no Automation account to keep"
    return "enable needs an Automation account, and none was given for this vault"


def _same_text(value: str | None, expected: str) -> bool:
    return value is not None and value.strip().casefold() == expected.casefold()


def _optional_str(obj: Mapping[str, object], key: str, where: str, path: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ArmResponseError(f"{where}: {path}{key} is {_kind(value)}, expected a string")


def _kind(value: object) -> str:
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
