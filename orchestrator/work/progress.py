"""Progress of a run as it happens: counters the engine bumps, and a snapshot a display reads.

:class:`Progress` only counts; it never draws. The rich display (:mod:`orchestrator.output.display`)
reads :meth:`Progress.snapshot` a few times a second, on the event loop's thread, so the
counters need no lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from orchestrator.output.report import MappingResult, VaultStatus
from orchestrator.work.records import Stage

if TYPE_CHECKING:
    from orchestrator.arm.limits import LimiterRegistry, LimiterTotals
    from orchestrator.work.records import MappingWork, VaultWork


class Phase(StrEnum):
    """What the run is doing now, in the order it does it."""

    STARTING = "starting"
    AUTHENTICATING = "authenticating"
    DISCOVERING = "discovering vaults"
    RUNNING = "working"
    STOPPING = "stopping"  # interrupted: no new PATCH, in-flight work gets a grace period
    FINISHED = "finished"
    STOPPED = "stopped"  # ended by the deadline or an interrupt


@dataclass(frozen=True, slots=True)
class ProgressSnapshot:
    """The counters at one moment; ``limits`` is None until the run has its limiters."""

    phase: Phase
    vaults_total: int | None  # None while discovery has not said how many there are
    vaults_listed: int
    vaults_failed: int
    mappings_listed: int
    patches_sent: int
    patches_failed: int  # refused outright: no operation was started
    operations_done: int
    operations_failed: int
    operations_running: int
    limits: LimiterTotals | None


class Progress:
    """Counts vaults listed, PATCHes answered and operations finished, for a display to read.

    ``vaults_total`` is None until the targets are known (after discovery); the runner sets it.
    """

    __slots__ = (
        "_limiters",
        "_running",
        "mappings_listed",
        "operations_done",
        "operations_failed",
        "patches_done",
        "patches_failed",
        "phase",
        "vaults_failed",
        "vaults_listed",
        "vaults_total",
    )

    def __init__(self, vaults_total: int | None = None) -> None:
        self.phase = Phase.STARTING
        self.vaults_total = vaults_total
        self.vaults_listed = 0
        self.vaults_failed = 0
        self.mappings_listed = 0
        self.patches_done = 0
        self.patches_failed = 0
        self.operations_done = 0
        self.operations_failed = 0
        # the records whose operation is being tracked: a set, so an operation that ends
        # without a PATCH of this run (a resumed one) never makes the count negative
        self._running: set[MappingWork] = set()
        self._limiters: LimiterRegistry | None = None  # read for waits and 429 pauses

    def __repr__(self) -> str:
        return (
            f"<Progress {self.phase} vaults={self.vaults_listed}/{self.vaults_total} "
            f"patches={self.patches_done} operations={self.operations_done} "
            f"running={len(self._running)}>"
        )

    def begin(self, phase: Phase) -> None:
        """Enter ``phase`` (the runner calls this as the run moves on)."""
        self.phase = phase

    def watch_limits(self, registry: LimiterRegistry) -> None:
        """Report ``registry``'s waiting counts and pauses in every snapshot from now on."""
        self._limiters = registry

    def vault_listed(self, vault: VaultWork) -> None:
        self.vaults_listed += 1
        self.mappings_listed += len(vault.mappings)
        if vault.status is VaultStatus.ERROR:
            self.vaults_failed += 1

    def patch_done(self, work: MappingWork) -> None:
        self.patches_done += 1
        if work.stage is Stage.RUNNING:
            self._running.add(work)
        elif work.result is MappingResult.FAILED:
            self.patches_failed += 1

    def operation_done(self, work: MappingWork) -> None:
        self.operations_done += 1
        self._running.discard(work)
        if work.result is MappingResult.FAILED:
            self.operations_failed += 1

    def snapshot(self) -> ProgressSnapshot:
        """The counters now, with the limiters' totals when the run has limiters."""
        return ProgressSnapshot(
            phase=self.phase,
            vaults_total=self.vaults_total,
            vaults_listed=self.vaults_listed,
            vaults_failed=self.vaults_failed,
            mappings_listed=self.mappings_listed,
            patches_sent=self.patches_done,
            patches_failed=self.patches_failed,
            operations_done=self.operations_done,
            operations_failed=self.operations_failed,
            operations_running=len(self._running),
            limits=self._limiters.totals() if self._limiters is not None else None,
        )
