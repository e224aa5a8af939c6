"""What a run wants each mapping to look like: the action, the Automation account, its auth type."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Action(StrEnum):
    ENABLE = "enable"
    DISABLE = "disable"


class AuthenticationType(StrEnum):
    SYSTEM_ASSIGNED_IDENTITY = "SystemAssignedIdentity"
    RUN_AS_ACCOUNT = "RunAsAccount"  # retired by Azure; accepted with a warning


# `automation_account: keep` re-applies each mapping with the account it already has.
KEEP_ACCOUNT: Final = "keep"


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
