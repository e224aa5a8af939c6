"""Validate a PATCH body for a container mapping the way ASR does.

The body must be ``{"properties": {"providerSpecificInput": {...}}}`` with ``instanceType``
``A2A`` and ``agentAutoUpdateStatus`` ``Enabled``/``Disabled`` (both case-insensitive).
Enabling needs a well-formed ``automationAccountArmId``; ``automationAccountAuthenticationType``
may be ``SystemAssignedIdentity`` or ``RunAsAccount``; an enable without one gets the default the
caller passes (the REST spec's default is ``RunAsAccount``). A disable changes only what it names:
the account fields are kept unless the body supplies them.
Unknown keys are ignored, as ARM does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from orchestrator.emulator.fleet import (
    DISABLED,
    ENABLED,
    RUN_AS_ACCOUNT,
    SYSTEM_ASSIGNED_IDENTITY,
)

_ACCOUNT_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Automation"
    r"/automationAccounts/[^/]+$",
    re.IGNORECASE,
)
_STATUSES = {value.lower(): value for value in (ENABLED, DISABLED)}
_AUTH_TYPES = {value.lower(): value for value in (SYSTEM_ASSIGNED_IDENTITY, RUN_AS_ACCOUNT)}
_INPUT = "properties.providerSpecificInput"


@dataclass(frozen=True, slots=True)
class Change:
    """What a valid PATCH asks for; None fields are left as they are."""

    status: str  # canonical "Enabled" / "Disabled"
    account: str | None
    auth_type: str | None  # canonical; always set when enabling


@dataclass(frozen=True, slots=True)
class PatchError:
    """Why a PATCH is refused with 400; ``code``/``message`` go into the ARM error body."""

    code: str
    message: str


def _provider_input(body: bytes) -> dict[str, object] | PatchError:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return PatchError("InvalidRequestContent", "The request content is not valid JSON.")
    properties = document.get("properties") if isinstance(document, dict) else None
    if not isinstance(properties, dict):
        return PatchError("InvalidRequestContent", "'properties' must be a JSON object.")
    provider = properties.get("providerSpecificInput")
    if not isinstance(provider, dict):
        return PatchError("InvalidRequestContent", f"'{_INPUT}' must be a JSON object.")
    return provider


def _optional_string(provider: dict[str, object], key: str) -> str | PatchError | None:
    value = provider.get(key)
    if value is None or isinstance(value, str):
        return value
    return PatchError("InvalidParameterValue", f"'{_INPUT}.{key}' must be a string.")


def _account_and_auth(
    provider: dict[str, object], status: str, default_auth: str
) -> Change | PatchError:
    account = _optional_string(provider, "automationAccountArmId")
    if isinstance(account, PatchError):
        return account
    if status == ENABLED and not account:
        return PatchError(
            "AutomationAccountArmIdRequired",
            "An Automation account ARM id is required to enable auto-update.",
        )
    if account is not None and not _ACCOUNT_ID.match(account):
        return PatchError(
            "InvalidAutomationAccountArmId",
            f"'{account}' is not an Automation account ARM id.",
        )
    auth = _optional_string(provider, "automationAccountAuthenticationType")
    if isinstance(auth, PatchError):
        return auth
    if auth is not None and auth.lower() not in _AUTH_TYPES:
        return PatchError(
            "InvalidAutomationAccountAuthenticationType",
            f"'{auth}' is not one of {', '.join(_AUTH_TYPES.values())}.",
        )
    canonical_auth = _AUTH_TYPES[auth.lower()] if auth is not None else None
    if status == ENABLED and canonical_auth is None:
        canonical_auth = default_auth
    return Change(status, account, canonical_auth)


def parse_patch(body: bytes, default_auth: str = RUN_AS_ACCOUNT) -> Change | PatchError:
    """The change a PATCH body asks for, or why it is invalid.

    ``default_auth`` is the authentication type an enable that names none gets.
    """
    provider = _provider_input(body)
    if isinstance(provider, PatchError):
        return provider
    instance_type = provider.get("instanceType")
    if not isinstance(instance_type, str) or instance_type.lower() != "a2a":
        return PatchError(
            "InvalidInstanceType",
            f"'{_INPUT}.instanceType' must be 'A2A' for an Azure-to-Azure container mapping.",
        )
    status = provider.get("agentAutoUpdateStatus")
    if not isinstance(status, str) or status.lower() not in _STATUSES:
        return PatchError(
            "InvalidAgentAutoUpdateStatus",
            f"'{_INPUT}.agentAutoUpdateStatus' must be 'Enabled' or 'Disabled'.",
        )
    return _account_and_auth(provider, _STATUSES[status.lower()], default_auth)
