"""Sending one mapping's change, and never sending it blindly twice.

A PATCH's answer decides what follows:

- 200 with no ``Azure-AsyncOperation``/``Location``: done at once;
- 200/201/202 naming a status URL: ASR runs an operation; it is journalled (written, then
  fsynced before the run goes on with it) and handed to the poller;
- a certain refusal (4xx but 409/408/429, or a connection never made): the mapping fails;
- an *ambiguous* end — the connection dropped or timed out after the request left, a 408, 500,
  502 or 504, an answer whose body cannot be read, a 202 naming no status URL — or a ``409
  Conflict`` (an operation already runs on
  the mapping, perhaps the one a lost answer started): the change is *settled by reading back*.
  The mapping is read (GET); if it already carries the desired settings the change succeeded;
  if not, the PATCH is sent again, at most `MAX_SENDS` times in all, whatever the answers were.
  When an operation may be running on the mapping — a 409, or a 2xx that named no status URL or
  could not be read (ASR took it) — or `MAX_SENDS` PATCHes were sent, it is never PATCHed again:
  the mapping is read again later, until it carries them or the deadline passes (then
  ``timed_out``, never ``failed``: the change may still land).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import structlog

from orchestrator.arm.api import ArmApi, ArmResponse, http_error
from orchestrator.arm.retry import parse_retry_after
from orchestrator.asr.mapping import parse_mapping
from orchestrator.asr.rules import carries
from orchestrator.errors import ArmError, ArmResponseError, ArmTransportError, SendWithdrawn
from orchestrator.work.journal import Journal
from orchestrator.work.lro import PollStrategy, PollVerdict, strategy_for
from orchestrator.work.outcomes import ErrorInfo, MappingResult
from orchestrator.work.poller import Poller, TrackedOperation
from orchestrator.work.records import MappingWork, Stage
from orchestrator.work.resume import ResumePoint

AMBIGUOUS_STATUSES: Final = frozenset({408, 500, 502, 504})
MAX_SENDS: Final = 4  # PATCHes of one mapping in one run, the first included
READ_BACK_FIRST_WAIT: Final = 2.0  # seconds before re-reading a mapping after a 409; doubles
READ_BACK_MAX_WAIT: Final = 60.0

_log = structlog.get_logger("orchestrator.changes")


@dataclass(frozen=True, slots=True)
class Unsettled:
    """A change that may have been acted on, to settle by reading back.

    ``conflict``: an operation may run on the mapping (a 409; a 2xx naming no status URL or
    whose body could not be read): the mapping is only read again until it carries the change,
    never PATCHed again.
    """

    conflict: bool


class _Ambiguous(Exception):
    """The PATCH may or may not have been acted on; ``conflict``: ASR said one is running."""

    def __init__(self, reason: ErrorInfo, *, conflict: bool) -> None:
        self.reason = reason
        self.conflict = conflict
        super().__init__(reason.message)


OperationHook = Callable[[MappingWork, TrackedOperation, PollVerdict], None]


@dataclass(frozen=True, slots=True)
class ChangeHooks:
    """What the sender tells the engine."""

    operation_done: OperationHook  # a change's operation ended (its final verdict)
    operation_read: OperationHook  # any read of it
    ended: Callable[[MappingWork], None]  # a change ended without an operation to track


class ChangeSender:
    """Sends changes through ``client``; hands accepted operations to ``poller``."""

    __slots__ = ("_client", "_hooks", "_journal", "_poller", "_stopping")

    def __init__(
        self,
        client: ArmApi,
        poller: Poller,
        hooks: ChangeHooks,
        *,
        journal: Journal | None,
        stopping: asyncio.Event,
    ) -> None:
        self._client = client
        self._poller = poller
        self._hooks = hooks
        self._journal = journal
        self._stopping = stopping  # set on interrupt: send nothing more

    def __repr__(self) -> str:
        return f"<ChangeSender journal={self._journal!r}>"

    async def send(self, work: MappingWork) -> Unsettled | None:
        """Send ``work``'s PATCH once; what is left to settle by reading back, if anything
        (the caller runs :meth:`settle` apart, so a slow settlement holds no PATCH worker)."""
        try:
            response = await self._patch(work)
            await self._on_answer(work, response)
        except _Ambiguous as exc:
            work.error = exc.reason  # what the run knows, should it end before it settles
            _log.warning("patch_ambiguous", mapping=work.name, code=exc.reason.code)
            return Unsettled(conflict=exc.conflict)
        except SendWithdrawn:
            work.stage = Stage.QUEUED  # never left: reported not_started
            work.started_at = None
        except ArmError as exc:
            self._fail(work, ErrorInfo.from_error(exc))
        return None

    async def settle(self, work: MappingWork, unsettled: Unsettled) -> None:
        """Read the mapping back until its change is known to have landed (or is re-sent)."""
        sends, wait = 1, READ_BACK_FIRST_WAIT
        conflict = unsettled.conflict
        while True:
            if conflict:
                await asyncio.sleep(wait)
                wait = min(wait * 2, READ_BACK_MAX_WAIT)
            if await self._carries_desired(work):
                work.error = None
                self._finish(work, MappingResult.SUCCEEDED, status="Succeeded")
                return
            if self._stopping.is_set():
                return  # the run is ending: settled as interrupted, the change may land
            if conflict:
                continue  # an operation runs on it, perhaps the lost PATCH's: never PATCH into it
            if sends >= MAX_SENDS:
                # Every answer was ambiguous: any of those PATCHes may still land. Send no more,
                # read it back (waiting longer each time) until it does or the deadline passes.
                conflict = True
                continue
            sends += 1  # counted as it leaves, whatever its answer turns out to be
            try:
                response = await self._patch(work)
                work.error = None
                await self._on_answer(work, response)
                return
            except _Ambiguous as exc:
                work.error, conflict = exc.reason, exc.conflict
            except SendWithdrawn:
                return
            except ArmError as exc:
                self._fail(work, ErrorInfo.from_error(exc))
                return

    async def _patch(self, work: MappingWork) -> ArmResponse:
        """One PATCH; raises _Ambiguous for an answer that does not say what happened."""
        assert work.body is not None

        def leaving() -> None:
            if self._stopping.is_set():
                raise SendWithdrawn("the run is stopping")
            work.stage = Stage.SENT
            work.started_at = work.started_at or datetime.now(UTC)

        work.stage = Stage.PATCHING if work.stage is not Stage.SENT else Stage.SENT
        url = self._client.url(work.id)
        try:
            response = await self._client.patch(
                url, work.body, subscription_id=work.subscription_id, before_send=leaving
            )
        except ArmTransportError as exc:
            if not exc.sent:
                raise
            raise _Ambiguous(ErrorInfo.from_error(exc), conflict=False) from exc
        except ArmResponseError as exc:
            # An answer came but could not be read (a broken body): ASR may have acted on it,
            # and a 2xx says it did (an operation may run: never PATCH into it).
            accepted = exc.status is not None and 200 <= exc.status < 300
            raise _Ambiguous(ErrorInfo.from_error(exc), conflict=accepted) from exc
        _log.debug("patch_answered", mapping=work.name, status=response.status)
        if response.status == 409:
            raise _Ambiguous(ErrorInfo.from_error(http_error(response)), conflict=True)
        if response.status in AMBIGUOUS_STATUSES:
            raise _Ambiguous(ErrorInfo.from_error(http_error(response)), conflict=False)
        return response

    async def _on_answer(self, work: MappingWork, response: ArmResponse) -> None:
        if response.status not in (200, 201, 202):
            raise http_error(response)
        strategy = strategy_for(response)
        if strategy is None:
            if response.status == 200:
                self._finish(work, MappingResult.SUCCEEDED, status="Succeeded")
                return
            # Accepted, but with no URL to follow: ASR is acting on it; read the mapping back.
            reason = ErrorInfo(
                code="no_status_url", message="the PATCH was accepted but named no status URL"
            )
            raise _Ambiguous(reason, conflict=True)
        self._client.check_origin(strategy.url)
        await self._track(work, strategy, response)

    async def _track(
        self, work: MappingWork, strategy: PollStrategy, response: ArmResponse
    ) -> None:
        """Journal the operation (written, then fsynced: see journal.py), then track it."""
        now = asyncio.get_running_loop().time()  # the answer's moment: it ran from then on
        retry_after = parse_retry_after(response.header("Retry-After"))
        op = TrackedOperation(
            strategy=strategy,
            subscription_id=work.subscription_id,
            log_context=work.log_context,
            started=now,
            not_before=now + (retry_after or 0.0),
            on_done=functools.partial(self._hooks.operation_done, work),
            on_read=functools.partial(self._hooks.operation_read, work),
        )
        work.run(strategy.url)
        if self._journal is not None:
            assert work.vault is not None
            await self._journal.accepted(
                ResumePoint(
                    mapping_id=work.id,
                    vault_id=work.vault.vault_id,
                    subscription_id=work.subscription_id,
                    url=strategy.url,
                    kind=strategy.kind,
                    polls=0,
                    started_at=work.started_at,
                )
            )
        _log.info("operation_started", mapping=work.name, kind=str(strategy.kind))
        self._poller.track(op)

    async def _carries_desired(self, work: MappingWork) -> bool:
        """GET the mapping: does it already carry the desired settings (healthy or not)?"""
        assert work.desired is not None
        try:
            response = await self._client.get(
                self._client.url(work.id), subscription_id=work.subscription_id
            )
            if response.status != 200:
                return False
            return carries(parse_mapping(response.body).settings(), work.desired)
        except ArmError:
            return False

    def _fail(self, work: MappingWork, error: ErrorInfo) -> None:
        self._finish(work, MappingResult.FAILED, error=error)

    def _finish(
        self,
        work: MappingWork,
        result: MappingResult,
        *,
        status: str | None = None,
        error: ErrorInfo | None = None,
    ) -> None:
        work.finish(result, status=status, error=error)
        if result is MappingResult.FAILED:
            _log.warning(
                "mapping_failed",
                mapping=work.name,
                code=error.code if error else None,
                message=error.message if error else None,
            )
        self._hooks.ended(work)
