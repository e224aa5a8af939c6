"""What a run wants each mapping to look like: the action, the Automation account, its auth type."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Final

from pydantic import Field


class Action(StrEnum):
    ENABLE = "enable"
    DISABLE = "disable"


class AuthenticationType(StrEnum):
    SYSTEM_ASSIGNED_IDENTITY = "SystemAssignedIdentity"
    RUN_AS_ACCOUNT = "RunAsAccount"  # retired by Azure; accepted with a warning


# `automation_account: keep` re-applies each mapping with the account it already has.
KEEP_ACCOUNT: Final = "keep"


@dataclass(frozen=True, slots=True)
class DesiredSettings:
    """The settings a change drives one mapping to, as the report shows them.

    ``disable`` names no account and no authentication type: it sends neither.
    """

    agent_auto_update_status: Annotated[str, Field(description="`Enabled` or `Disabled`.")]
    automation_account_arm_id: Annotated[
        str | None, Field(description="The Automation account it is set to use (enable).")
    ]
    authentication_type: Annotated[
        str | None, Field(description="How that account authenticates (enable).")
    ]


@dataclass(frozen=True, slots=True)
class DesiredState:
    """The setting a run drives one vault's mappings to.

    ``automation_account`` is the account's ARM id for ``enable``, :data:`KEEP_ACCOUNT` to reuse
    each mapping's current account, and ``None`` for ``disable``.
    """

    action: Action
    automation_account: str | None
    authentication_type: AuthenticationType = AuthenticationType.SYSTEM_ASSIGNED_IDENTITY

    @property
    def keeps_account(self) -> bool:
        return self.automation_account == KEEP_ACCOUNT

    def settings(self, account: str | None) -> DesiredSettings:
        """The settings this state gives a mapping, with ``account`` resolved (``keep`` done)."""
        if self.action is Action.DISABLE:
            return DesiredSettings("Disabled", None, None)
        return DesiredSettings("Enabled", account, self.authentication_type.value)
