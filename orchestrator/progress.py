"""Progress of a run as it happens: counters the engine bumps, and what shows them.

:class:`Progress` only counts; a display (the rich one on a terminal) reads the counters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.records import MappingWork, VaultWork


class Progress:
    """Counts vaults listed, PATCHes answered and operations finished."""

    __slots__ = ("operations_done", "patches_done", "vaults_listed", "vaults_total")

    def __init__(self, vaults_total: int = 0) -> None:
        self.vaults_total = vaults_total
        self.vaults_listed = 0
        self.patches_done = 0
        self.operations_done = 0

    def __repr__(self) -> str:
        return (
            f"<Progress vaults={self.vaults_listed}/{self.vaults_total} "
            f"patches={self.patches_done} operations={self.operations_done}>"
        )

    def vault_listed(self, vault: VaultWork) -> None:
        del vault
        self.vaults_listed += 1

    def patch_done(self, work: MappingWork) -> None:
        del work
        self.patches_done += 1

    def operation_done(self, work: MappingWork) -> None:
        del work
        self.operations_done += 1
