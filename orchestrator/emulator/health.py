"""Health errors on container mappings: the ones a generated fleet starts with, and the ones an
enable leaves behind when it succeeded but auto-update cannot work (the Automation account's
identity lacks rights on the vault, or has no system-assigned identity).

The codes of the post-success errors are the emulator's own (ASR's are not published):
`NO_RIGHTS_CODE`, `NO_IDENTITY_CODE`, `AFTER_SUCCESS_CODE`.
"""

from __future__ import annotations

import random
import uuid
from enum import StrEnum
from typing import Final

HealthError = dict[str, object]

_HEALTH_CATEGORIES = (
    "AgentAutoUpdateInfra",
    "AgentAutoUpdateArtifactDeleted",
    "AgentAutoUpdateRunAsAccount",
    "AgentAutoUpdateRunAsAccountExpiry",
)
# Health errors carry fixed dates so the fleet depends on the seed only.
HEALTH_ERROR_DATE: Final = "2026-01-15T03:00:00.0000000Z"
SUMMARY: Final = "Automatic update of the Mobility service is not working."
NO_RIGHTS_CODE: Final = "150301"
NO_IDENTITY_CODE: Final = "150302"
AFTER_SUCCESS_CODE: Final = "150303"


class Unhealthy(StrEnum):
    """Why a successful enable leaves the mapping unhealthy."""

    NO_RIGHTS = "no_rights"  # the account's identity holds no role on the vault
    NO_IDENTITY = "no_identity"  # SystemAssignedIdentity asked, the account has none
    ANYWAY = "anyway"  # the `unhealthy_after_success_rate` share


def _error(
    entity_id: str,
    error_id: str,
    *,
    code: str,
    level: str,
    category: str,
    message: str,
    causes: str,
    action: str,
) -> HealthError:
    return {
        "innerHealthErrors": [],
        "errorSource": "AutomationAccount",
        "errorType": "AgentAutoUpdate",
        "errorLevel": level,
        "errorCategory": category,
        "errorCode": code,
        "summaryMessage": SUMMARY,
        "errorMessage": message,
        "possibleCauses": causes,
        "recommendedAction": action,
        "creationTimeUtc": HEALTH_ERROR_DATE,
        "recoveryProviderErrorMessage": "",
        "entityId": entity_id,
        "errorId": error_id,
        "customerResolvability": "Allowed",
    }


def generated_health_error(rng: random.Random, entity_id: str) -> HealthError:
    """A health error drawn for a generated `unhealthy` mapping."""
    category = rng.choice(_HEALTH_CATEGORIES)
    level = rng.choice(("Warning", "Error"))
    code = str(rng.randint(150_000, 159_999))
    error_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return _error(
        entity_id,
        error_id,
        code=code,
        level=level,
        category=category,
        message=f"Site Recovery could not run the agent update runbook ({category}).",
        causes="The Automation account cannot reach the vault or lacks access.",
        action="Repair the extension update settings of the vault.",
    )


def health_after_success(why: Unhealthy, entity_id: str, account: str) -> HealthError:
    """The health error a successful enable leaves for ``why``."""
    error_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{entity_id}#{why}"))
    if why is Unhealthy.NO_RIGHTS:
        return _error(
            entity_id,
            error_id,
            code=NO_RIGHTS_CODE,
            level="Error",
            category="AgentAutoUpdateInfra",
            message=f"The identity of Automation account '{account}' has no access to the vault.",
            causes="The account's managed identity holds no role on the Recovery Services vault.",
            action="Assign the account's identity the Contributor role on the vault.",
        )
    if why is Unhealthy.NO_IDENTITY:
        return _error(
            entity_id,
            error_id,
            code=NO_IDENTITY_CODE,
            level="Error",
            category="AgentAutoUpdateInfra",
            message=f"Automation account '{account}' has no system-assigned managed identity.",
            causes="The account was set to authenticate with a system-assigned identity.",
            action="Turn on the system-assigned identity of the Automation account.",
        )
    return _error(
        entity_id,
        error_id,
        code=AFTER_SUCCESS_CODE,
        level="Warning",
        category="AgentAutoUpdateArtifactDeleted",
        message="Site Recovery could not create the agent update runbook schedule.",
        causes="A transient failure in the Automation account.",
        action="Repair the extension update settings of the vault.",
    )


def health_of(errors: list[HealthError]) -> str:
    """A mapping's ``health`` for its health errors."""
    if not errors:
        return "Normal"
    return "Critical" if any(error["errorLevel"] == "Error" for error in errors) else "Warning"
