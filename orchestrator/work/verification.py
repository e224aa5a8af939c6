"""Outcomes checked, not assumed: each vault's changed mappings read back once their changes end.

An operation can succeed while the mapping then shows health errors (typically the Automation
account's identity lacks rights on the vault): the setting was applied, yet auto-update does not
work, and without a read-back every night would "repair" it again without saying why. So once
a vault's last change has ended, its mappings are listed once more (the way they were listed)
and each changed mapping gets ``after``; a success whose mapping now shows health errors becomes
``unhealthy``, with ASR's errors, causes and recommended actions; a success whose mapping does
not carry the desired settings becomes ``failed`` (``not_applied``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import structlog

from orchestrator.asr.mapping import MappingSettings, parse_mapping
from orchestrator.asr.rules import carries
from orchestrator.errors import ArmError
from orchestrator.work.outcomes import ErrorInfo, MappingResult
from orchestrator.work.records import MappingWork, VaultWork

_log = structlog.get_logger("orchestrator.verification")


class MappingPages(Protocol):
    """What a vault is read back through (a :class:`~orchestrator.work.listing.VaultLister`)."""

    def mappings(self) -> AsyncIterator[list[Any]]: ...


async def verify_vault(vault: VaultWork, lister: MappingPages) -> None:
    """Read the vault's mappings back and judge each of its ended changes by what it shows."""
    changed = {m.id.lower(): m for m in vault.mappings if m.desired is not None and m.ended}
    if not changed:
        return
    try:
        async for page in lister.mappings():
            for raw in page:
                try:
                    snapshot = parse_mapping(raw)
                except ArmError:
                    continue  # a mapping the first listing read can be judged without this one
                work = changed.get(snapshot.id.lower())
                if work is not None:
                    judge(work, snapshot.settings())
    except ArmError as exc:
        _log.warning("verify_failed", code=exc.code, message=exc.message)
    finally:
        vault.verified = True


def judge(work: MappingWork, after: MappingSettings) -> None:
    """Record ``after`` and, for a success, what it says of the change."""
    work.after = after
    if work.result is not MappingResult.SUCCEEDED or work.desired is None:
        return
    if after.health_errors:
        first = after.health_error_details[0] if after.health_error_details else None
        code = (first.code if first else None) or "health_errors"
        message = (first.message if first else None) or "the mapping shows health errors"
        action = first.recommended_action if first else None
        detail = f"{message} Recommended action: {action}" if action else message
        work.result = MappingResult.UNHEALTHY
        work.error = ErrorInfo(code=code, message=detail)
        _log.warning("mapping_unhealthy", mapping=work.name, code=code, message=detail)
        return
    if not carries(after, work.desired):
        work.result = MappingResult.FAILED
        work.error = ErrorInfo(
            code="not_applied",
            message="the operation succeeded but the mapping does not carry the desired settings",
        )
        _log.warning("mapping_failed", mapping=work.name, code="not_applied")
