"""Taking over operations an earlier run left running (the journal, ``--resume``).

Each is tracked at once, before anything is sent, and shown as running. When its mapping is
listed, the mapping *adopts* it: no PATCH; it takes the operation's result when it ends. An
operation whose status URL is gone (404: ASR forgot it, it ended long ago) leaves its mapping
to be decided afresh from its listing — PATCHed if it still needs the change, skipped if not.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from orchestrator.arm.api import ArmApi
from orchestrator.asr.mapping import MappingSnapshot
from orchestrator.asr.rules import Change, Verdict, decide
from orchestrator.errors import ArmError
from orchestrator.work.journal import Journal
from orchestrator.work.lro import PollVerdict, strategy_of
from orchestrator.work.poller import Poller, TrackedOperation
from orchestrator.work.progress import Progress
from orchestrator.work.records import MappingWork
from orchestrator.work.resume import ResumedOperation, ResumePoint

_log = structlog.get_logger("orchestrator.takeover")


@dataclass(frozen=True, slots=True)
class TakeoverHooks:
    """What the engine does when a taken-over operation ends."""

    conclude: Callable[[MappingWork, PollVerdict], None]  # its mapping's result
    redecide: Callable[[MappingWork, MappingSnapshot], None]  # gone: decide afresh
    changed: Callable[[], None]  # wake whoever waits for work to end


class Takeover:
    """The resumed operations of one run, by lower-cased mapping id."""

    __slots__ = ("_client", "_hooks", "_journal", "_points", "_poller", "_progress", "_resumed")

    def __init__(
        self,
        client: ArmApi,
        poller: Poller,
        progress: Progress,
        points: Sequence[ResumePoint],
        hooks: TakeoverHooks,
        *,
        journal: Journal | None,
    ) -> None:
        self._client = client
        self._poller = poller
        self._progress = progress
        self._points = points
        self._hooks = hooks
        self._journal = journal
        self._resumed: dict[str, ResumedOperation] = {}

    def __repr__(self) -> str:
        return f"<Takeover operations={len(self._resumed)}>"

    def track_all(self) -> None:
        """Track every operation at once (read at once by the poller)."""
        now = asyncio.get_running_loop().time()
        for point in self._points:
            resumed = ResumedOperation(point)
            self._resumed[point.mapping_id.lower()] = resumed
            try:
                self._client.check_origin(point.url)
            except ArmError as exc:
                resumed.trackable = False
                resumed.verdict = PollVerdict(Verdict.FAILED, error=exc)
                continue
            operation = TrackedOperation(
                strategy=strategy_of(point.kind, point.url),
                subscription_id=point.subscription_id,
                log_context={"vault": point.vault_name, "subscription_id": point.subscription_id},
                started=now,
                resumed=True,
                on_done=functools.partial(self._done, resumed),
                on_read=functools.partial(self._read, resumed),
                polls=point.polls,
            )
            self._progress.tracking(point.mapping_id)
            self._poller.track(operation)
        if self._points:
            _log.info("operations_resumed", count=len(self._points))

    def adopt(self, work: MappingWork, snapshot: MappingSnapshot) -> bool:
        """Whether the listed ``work`` takes over a resumed operation (then: no decision)."""
        resumed = self._resumed.get(work.id.lower())
        if resumed is None or _gone(resumed.verdict):
            return False
        assert work.vault is not None
        decision = decide(snapshot, work.vault.target.desired_for(snapshot.id))
        work.desired = decision.desired if isinstance(decision, Change) else None
        work.started_at = resumed.point.started_at
        work.polls = resumed.point.polls
        work.run(resumed.point.url)
        if resumed.verdict is not None:
            self._hooks.conclude(work, resumed.verdict)
        else:
            resumed.adopter = work
            resumed.snapshot = snapshot
        return True

    def _read(self, resumed: ResumedOperation, _: TrackedOperation, verdict: PollVerdict) -> None:
        if resumed.adopter is not None:
            resumed.adopter.read(verdict.status)

    def _done(self, resumed: ResumedOperation, _: TrackedOperation, verdict: PollVerdict) -> None:
        resumed.verdict = verdict
        work, point = resumed.adopter, resumed.point
        if work is not None and not _gone(verdict):
            self._hooks.conclude(work, verdict)
            return
        if _gone(verdict):
            _log.info("resumed_operation_gone", mapping=point.mapping_id)
        if self._journal is not None:
            self._journal.ended(point.mapping_id, verdict.status)
        self._progress.operation_done(point.mapping_id, None)
        if work is not None and resumed.snapshot is not None:
            self._hooks.redecide(work, resumed.snapshot)
        self._hooks.changed()


def _gone(verdict: PollVerdict | None) -> bool:
    return verdict is not None and verdict.verdict is Verdict.UNREADABLE
