"""The engine: fan out over every vault, decide each mapping, PATCH, hand operations to the poller.

Three kinds of work run side by side so neither limiter idles while work is waiting: list
workers read vaults' mappings; patch workers PATCH a vault's mappings as soon as that vault is
listed; the poller tracks every accepted operation. The per-vault and per-mapping functions are
the only places a broad ``except`` turns any error into that target's outcome: one vault's
failure never stops the others.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import structlog

from orchestrator.arm.client import ArmClient, http_error
from orchestrator.arm.retry import parse_retry_after
from orchestrator.asr.rules import Change, Refuse, Skip, decide, parse_mapping
from orchestrator.errors import ArmError, ArmResponseError
from orchestrator.output.report import ErrorInfo, MappingResult, VaultStatus
from orchestrator.work.lro import PollVerdict, ResumedPolling, Verdict, strategy_for
from orchestrator.work.poller import DEFAULT_RETRY_AFTER, Poller, TrackedOperation
from orchestrator.work.progress import Progress
from orchestrator.work.records import MappingWork, Stage, VaultWork
from orchestrator.work.resume import ResumedOperation, ResumePoint

LIST_WORKERS: Final = 64  # vaults listed at once; the get limiter is the real gate
PATCH_WORKERS: Final = 64  # PATCHes in flight at once; the set limiter is the real gate

_log = structlog.get_logger("orchestrator.work.engine")


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """What kind of run this is."""

    apply: bool  # False: plan (GET only)
    list_workers: int = LIST_WORKERS
    patch_workers: int = PATCH_WORKERS


class Engine:
    """Runs one plan or apply over a list of vault targets, recording every outcome in place."""

    def __init__(
        self,
        client: ArmClient,
        poller: Poller,
        options: EngineOptions,
        progress: Progress,
        *,
        resume: Sequence[ResumePoint] = (),
    ) -> None:
        self._client = client
        self._poller = poller
        self._options = options
        self._progress = progress
        self._patches: asyncio.Queue[MappingWork | None] = asyncio.Queue()
        self._stop_patching = asyncio.Event()  # set on interrupt: send no further PATCH
        self._resume = resume
        self._resumed: dict[str, ResumedOperation] = {}  # lower-cased mapping id -> its operation

    def stop_patching(self) -> None:
        """Send no further PATCH (an interrupt); what is running keeps being tracked."""
        self._stop_patching.set()

    async def run(self, vaults: list[VaultWork]) -> None:
        """List, decide, PATCH and track every vault; returns when all work has ended."""
        pending = iter(vaults)
        async with asyncio.TaskGroup() as group:
            poller = group.create_task(self._poller.run())
            self._track_resumed()
            patchers = [
                group.create_task(self._patch_worker()) for _ in range(self._patch_worker_count())
            ]
            listers = [
                group.create_task(self._list_worker(pending))
                for _ in range(self._options.list_workers)
            ]
            await asyncio.gather(*listers)
            for _ in patchers:
                self._patches.put_nowait(None)
            await asyncio.gather(*patchers)
            self._poller.close()
            await poller

    def _patch_worker_count(self) -> int:
        return self._options.patch_workers if self._options.apply else 0

    async def _list_worker(self, pending: Iterable[VaultWork]) -> None:
        for vault in pending:
            await self._list_vault(vault)

    async def _list_vault(self, vault: VaultWork) -> None:
        target = vault.target
        context = {"vault": target.vault.name, "subscription_id": target.vault.subscription_id}
        with structlog.contextvars.bound_contextvars(**context):
            try:
                await self._read_mappings(vault)
            except ArmError as exc:
                vault.fail(ErrorInfo(code=exc.code, message=exc.message))
            except Exception as exc:  # the per-vault boundary: any error is this vault's outcome
                _log.exception("vault_crashed")
                vault.fail(ErrorInfo(code="internal_error", message=f"{type(exc).__name__}: {exc}"))
            vault.end_listing()
            if vault.status is VaultStatus.ERROR:
                _log.error("vault_failed", code=vault.error.code if vault.error else None)
            self._progress.vault_listed(vault)

    async def _read_mappings(self, vault: VaultWork) -> None:
        target = vault.target
        url = self._client.url(f"{target.vault.arm_id}/replicationProtectionContainerMappings")
        changes = 0
        async for page in self._client.pages(url, subscription_id=target.vault.subscription_id):
            for raw in page:
                work = self._decide(vault, raw)
                if work is not None and work.stage is Stage.QUEUED:
                    changes += 1
                    self._patches.put_nowait(work)  # PATCHed while the rest is still listed
        _log.info("vault_listed", mappings=len(vault.mappings), to_change=changes)

    def _decide(self, vault: VaultWork, raw: object) -> MappingWork | None:
        snapshot = parse_mapping(raw)
        if not _belongs_to(snapshot.id, vault.target.vault.arm_id):
            raise ArmResponseError(f"listed mapping {snapshot.id!r} is not under the vault")
        if vault.has_mapping(snapshot.id):
            return None  # a page repeated a mapping: it is one mapping, reported once
        work = MappingWork.listed(snapshot, vault)
        vault.add(work)
        resumed = self._resumed.get(snapshot.id.lower())
        if resumed is not None:
            self._adopt(resumed, work)
            return work
        decision = decide(snapshot, vault.target.desired)
        if isinstance(decision, Skip):
            work.finish(MappingResult.SKIPPED, skip_reason=decision.reason)
        elif isinstance(decision, Refuse):
            work.finish(
                MappingResult.FAILED, error=ErrorInfo(code=decision.code, message=decision.message)
            )
        elif self._options.apply:
            assert isinstance(decision, Change)
            work.queue(decision.body)
        else:
            work.finish(MappingResult.WOULD_CHANGE)
        return work

    async def _patch_worker(self) -> None:
        # This task's own context carries the vault of the mapping it works on: bound when the
        # vault changes, never reset (nothing else runs in this context).
        bound: tuple[str, str] | None = None
        while (work := await self._patches.get()) is not None:
            if self._stop_patching.is_set():
                continue  # left QUEUED: reported not_started
            if bound != (work.vault_name, work.subscription_id):
                bound = (work.vault_name, work.subscription_id)
                structlog.contextvars.bind_contextvars(**work.log_context)
            await self._patch(work)

    async def _patch(self, work: MappingWork) -> None:
        """PATCH one mapping; the caller has bound its vault's log context."""
        try:
            await self._send_patch(work)
        except ArmError as exc:
            work.finish(MappingResult.FAILED, error=ErrorInfo(code=exc.code, message=exc.message))
        except Exception as exc:  # the per-mapping boundary
            _log.exception("mapping_crashed")
            work.finish(
                MappingResult.FAILED,
                error=ErrorInfo(code="internal_error", message=f"{type(exc).__name__}: {exc}"),
            )
        if work.stage is Stage.DONE and work.result is MappingResult.FAILED:
            _log.warning("mapping_failed", mapping=work.name, code=work.error_code)
        self._progress.patch_done(work)

    async def _send_patch(self, work: MappingWork) -> None:
        assert work.body is not None
        work.stage = Stage.PATCHING
        work.started_at = _utcnow()
        url = self._client.url(work.id)
        body, work.body = work.body, None  # sent once; a large fleet need not keep every body
        response = await self._client.patch(url, body, subscription_id=work.subscription_id)
        _log.debug("patch_sent", mapping=work.name, status=response.status)
        if response.status == 200:
            work.finish(MappingResult.SUCCEEDED, status="Succeeded")
            return
        if response.status not in (201, 202):
            raise http_error(response)
        strategy = strategy_for(response)
        if strategy is None:
            raise ArmResponseError("the PATCH was accepted but named no operation status URL")
        self._client.check_origin(strategy.url)
        now = asyncio.get_running_loop().time()
        retry_after = parse_retry_after(response.header("Retry-After"))
        op = TrackedOperation(
            strategy=strategy,
            subscription_id=work.subscription_id,
            log_context=work.log_context,
            started=now,
            not_before=now + (retry_after if retry_after is not None else DEFAULT_RETRY_AFTER),
            on_done=lambda op, verdict: self._operation_done(work, verdict),
        )
        work.run(op)
        self._poller.track(op)

    def _track_resumed(self) -> None:
        """Track the operations an earlier run left running, before anything else is sent."""
        now = asyncio.get_running_loop().time()
        for point in self._resume:
            resumed = ResumedOperation(point)
            self._resumed[point.mapping_id.lower()] = resumed
            try:
                self._client.check_origin(point.url)
            except ArmError as exc:
                resumed.verdict = PollVerdict(Verdict.FAILED, error=exc)
                continue
            elapsed = (_utcnow() - point.started_at).total_seconds() if point.started_at else 0.0
            resumed.operation = TrackedOperation(
                strategy=ResumedPolling(point.url),
                subscription_id=point.subscription_id,
                log_context={"vault": point.vault_name, "subscription_id": point.subscription_id},
                started=now - max(elapsed, 0.0),
                not_before=now,
                on_done=functools.partial(self._resumed_done, resumed),
                polls=point.polls,
            )
            self._poller.track(resumed.operation)
        if self._resume:
            _log.info("operations_resumed", count=len(self._resume))

    def _resumed_done(
        self, resumed: ResumedOperation, _: TrackedOperation, verdict: PollVerdict
    ) -> None:
        resumed.verdict = verdict
        if resumed.work is not None:
            self._operation_done(resumed.work, verdict)

    def _adopt(self, resumed: ResumedOperation, work: MappingWork) -> None:
        """A listed mapping whose operation was resumed takes that operation's result: no PATCH."""
        work.started_at = resumed.point.started_at
        work.operation_url = resumed.point.url
        if resumed.operation is not None:
            work.run(resumed.operation)
        if resumed.verdict is not None:
            self._operation_done(work, resumed.verdict)
        else:
            resumed.work = work

    def _operation_done(self, work: MappingWork, verdict: PollVerdict) -> None:
        error = (
            ErrorInfo(code=verdict.error.code, message=verdict.error.message)
            if verdict.error
            else None
        )
        result = (
            MappingResult.SUCCEEDED
            if verdict.verdict is Verdict.SUCCEEDED
            else MappingResult.FAILED
        )
        work.finish(result, status=verdict.status, error=error)
        _log.info("operation_finished", mapping=work.name, status=verdict.status, polls=work.polls)
        self._progress.operation_done(work)


def _belongs_to(mapping_id: str, vault_id: str) -> bool:
    prefix = vault_id.lower().rstrip("/") + "/"
    candidate = mapping_id.lower()
    return (
        candidate.startswith(prefix)
        and "/../" not in candidate
        and "?" not in candidate
        and "#" not in candidate
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)
