"""Progress of a run as it happens: counters the engine bumps, and a snapshot a display reads.

:class:`Progress` only counts; it never draws. The terminal display
(:mod:`orchestrator.output.display`) reads :meth:`Progress.snapshot` a few times a second, on the
event loop's thread, so the counters need no lock. The rate and the ETA come from the set
limiter's pace: PATCHes still to send at the quota's rate, plus the operations' typical time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from orchestrator.arm.registry import LimiterRegistry, LimiterTotals
from orchestrator.work.outcomes import FAILING_RESULTS, MappingResult, VaultStatus
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
    """The counters at one moment; ``limits`` is None until the run has its limiters.

    ``rate``: PATCHes per minute over the run so far; ``eta_s``: seconds until the PATCHes
    still queued are sent at the set quota's pace (None when nothing is queued or unknown).
    """

    phase: Phase
    vaults_total: int | None  # None while discovery has not said how many there are
    vaults_listed: int
    vaults_failed: int
    mappings_listed: int
    patches_queued: int
    patches_sent: int
    patches_failed: int  # refused outright: no operation was started
    operations_done: int
    operations_failed: int
    operations_running: int
    limits: LimiterTotals | None
    rate: float | None = None
    eta_s: float | None = None


class Progress:
    """Counts vaults listed, PATCHes answered and operations finished, for a display to read.

    ``vaults_total`` is None until the targets are known (after discovery); the runner sets it.
    Running operations are counted by mapping id, so one taken over from an earlier run counts
    from the moment it is tracked, before its mapping is listed.
    """

    __slots__ = (
        "_clock",
        "_limiters",
        "_running",
        "_started",
        "mappings_listed",
        "operations_done",
        "operations_failed",
        "patches_done",
        "patches_failed",
        "patches_queued",
        "phase",
        "vaults_failed",
        "vaults_listed",
        "vaults_total",
    )

    def __init__(
        self, vaults_total: int | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.phase = Phase.STARTING
        self.vaults_total = vaults_total
        self.vaults_listed = 0
        self.vaults_failed = 0
        self.mappings_listed = 0
        self.patches_queued = 0
        self.patches_done = 0
        self.patches_failed = 0
        self.operations_done = 0
        self.operations_failed = 0
        self._running: set[str] = set()  # lower-cased ids of mappings whose operation is tracked
        self._limiters: LimiterRegistry | None = None  # read for waits, 429 pauses, the pace
        self._clock = clock
        self._started = clock()

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

    def queued(self) -> None:
        self.patches_queued += 1

    def unqueued(self) -> None:
        """A queued change will not be sent by this run (refused, capped, stopped)."""
        self.patches_queued = max(self.patches_queued - 1, 0)

    def patch_done(self, work: MappingWork) -> None:
        """A queued change's PATCH was answered (or failed for good)."""
        self.unqueued()
        self.patches_done += 1
        if work.result in FAILING_RESULTS:
            self.patches_failed += 1

    def tracking(self, mapping_id: str) -> None:
        """An operation is tracked for this mapping (this run's, or an earlier one's)."""
        self._running.add(mapping_id.lower())

    def operation_done(self, mapping_id: str, result: MappingResult | None) -> None:
        if mapping_id.lower() not in self._running:
            return
        self._running.discard(mapping_id.lower())
        self.operations_done += 1
        if result in FAILING_RESULTS:
            self.operations_failed += 1

    def snapshot(self) -> ProgressSnapshot:
        """The counters now, with the limiters' totals, the rate and the ETA."""
        limits = self._limiters.totals() if self._limiters is not None else None
        minutes = max(self._clock() - self._started, 1e-9) / 60.0
        return ProgressSnapshot(
            phase=self.phase,
            vaults_total=self.vaults_total,
            vaults_listed=self.vaults_listed,
            vaults_failed=self.vaults_failed,
            mappings_listed=self.mappings_listed,
            patches_queued=self.patches_queued,
            patches_sent=self.patches_done,
            patches_failed=self.patches_failed,
            operations_done=self.operations_done,
            operations_failed=self.operations_failed,
            operations_running=len(self._running),
            limits=limits,
            rate=self.patches_done / minutes if self.patches_done else None,
            eta_s=self._eta(),
        )

    def _eta(self) -> float | None:
        if self._limiters is None or not (self.patches_queued or self._running):
            return None
        quota = self._limiters.set_quota
        return self.patches_queued * quota.per_seconds / quota.calls
