"""The engine: fan out over every vault, decide each mapping, send changes, track operations.

Kinds of work run side by side so neither limiter idles while work is waiting: list workers read
vaults' mappings; patch workers send a vault's changes as soon as that vault is listed (each
change's Automation account read once before its first use, :mod:`.preflight`); the poller
tracks every accepted operation; background tasks settle ambiguous changes by reading back
(:mod:`.changes`), read each vault's mappings back once its changes ended (:mod:`.verification`)
and, for an audit, list its replicated items. Operations an earlier run left running are tracked
first (:mod:`.resume`). The per-vault and per-mapping functions are the only places a broad
``except`` turns any error into that target's outcome: one vault's failure never stops others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import structlog

from orchestrator.arm.api import ArmApi
from orchestrator.asr.mapping import MappingSnapshot, parse_mapping
from orchestrator.asr.rules import Change, Refuse, Skip, Verdict, decide
from orchestrator.errors import ArmError, ArmResponseError
from orchestrator.work.audit import list_agents
from orchestrator.work.changes import ChangeHooks, ChangeSender, Unsettled
from orchestrator.work.journal import Journal
from orchestrator.work.listing import VaultLister
from orchestrator.work.lro import PollVerdict
from orchestrator.work.outcomes import ErrorInfo, MappingResult, Notice, VaultStatus
from orchestrator.work.poller import Poller, TrackedOperation
from orchestrator.work.preflight import AccountChecks, first_account
from orchestrator.work.progress import Progress
from orchestrator.work.records import MappingWork, Stage, VaultWork
from orchestrator.work.resume import ResumePoint
from orchestrator.work.takeover import Takeover, TakeoverHooks
from orchestrator.work.verification import verify_vault

LIST_WORKERS: Final = 64  # vaults listed at once; the get limiter is the real gate
PATCH_WORKERS: Final = 64  # PATCHes in flight at once; the set limiter is the real gate

_log = structlog.get_logger("orchestrator.engine")


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """What kind of run this is, and its bounds."""

    apply: bool  # False: plan or audit (GET only)
    verify: bool = True
    preflight: bool = True
    audit: bool = False  # also list each vault's replicated items
    max_changes: int | None = None  # PATCHes to send at most (--max-changes)
    max_pages: int = 1_000
    listing_reserve: int = 0  # get slots a listing leaves to polls
    expiry_warning_days: float = 30.0
    list_workers: int = LIST_WORKERS
    patch_workers: int = PATCH_WORKERS


class Engine:
    """Runs one plan, apply or audit over vault targets, recording every outcome in place."""

    def __init__(
        self,
        client: ArmApi,
        poller: Poller,
        options: EngineOptions,
        progress: Progress,
        *,
        notice: Callable[[Notice], None],
        resume: Sequence[ResumePoint] = (),
        journal: Journal | None = None,
    ) -> None:
        self._client = client
        self._poller = poller
        self._options = options
        self._progress = progress
        self._notice = notice
        self._journal = journal
        self._changed = asyncio.Event()  # an operation or a background task ended
        self._patches: asyncio.Queue[MappingWork | None] = asyncio.Queue()
        self._stopping = asyncio.Event()  # set on interrupt: send no further PATCH
        self._takeover = Takeover(
            client,
            poller,
            progress,
            resume,
            TakeoverHooks(
                conclude=self._conclude, redecide=self._redecide, changed=self._changed.set
            ),
            journal=journal,
        )
        self._checks = AccountChecks(client, notice)
        self._sender = ChangeSender(
            client,
            poller,
            ChangeHooks(self._operation_done, self._operation_read, self._change_ended),
            journal=journal,
            stopping=self._stopping,
        )
        self._listers: dict[int, VaultLister] = {}  # id(vault) -> how it was listed
        self._background: set[asyncio.Task[None]] = set()
        self._sent = 0  # changes sent (for --max-changes)
        self._capped = False

    def __repr__(self) -> str:
        return f"<Engine {self._options} sent={self._sent} background={len(self._background)}>"

    def stop_patching(self) -> None:
        """Send no further PATCH (an interrupt); what is running keeps being tracked."""
        self._stopping.set()

    async def run(self, vaults: Sequence[VaultWork]) -> None:
        """List, decide, change and track every vault; returns when all work has ended."""
        pending = iter(vaults)
        try:
            async with asyncio.TaskGroup() as group:
                poller = group.create_task(self._poller.run())
                self._takeover.track_all()
                if self._options.preflight:
                    self._checks.read_ahead(first_account(vault.target for vault in vaults))
                patchers = [
                    group.create_task(self._patch_worker()) for _ in range(self._patch_count())
                ]
                listers = [
                    group.create_task(self._list_worker(pending))
                    for _ in range(self._options.list_workers)
                ]
                await asyncio.gather(*listers)
                for _ in patchers:
                    self._patches.put_nowait(None)
                await asyncio.gather(*patchers)
                self._poller.sending_done()  # what runs now ends the run: read it sooner
                await self._drain()
                self._poller.close()
                await poller
        finally:
            for task in self._background:
                task.cancel()

    def _patch_count(self) -> int:
        return self._options.patch_workers if self._options.apply else 0

    async def _drain(self) -> None:
        """Wait until no background task runs and no operation is tracked."""
        while self._background or self._poller.running > 0:
            self._changed.clear()
            await self._changed.wait()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        self._changed.set()
        if not task.cancelled() and task.exception() is not None:
            _log.error("background_task_crashed", error=repr(task.exception()))

    # --- listing and deciding -----------------------------------------------------------

    async def _list_worker(self, pending: Iterator[VaultWork]) -> None:
        for vault in pending:
            await self._list_vault(vault)

    async def _list_vault(self, vault: VaultWork) -> None:
        target = vault.target
        context = {"vault": target.vault.name, "subscription_id": target.vault.subscription_id}
        with structlog.contextvars.bound_contextvars(**context):
            try:
                if target.problem is not None:
                    raise ArmError("invalid_automation_account", target.problem)
                await self._read_mappings(vault)
                if self._options.audit:
                    vault.agents = await list_agents(
                        self._lister(vault), self._options.expiry_warning_days
                    )
            except ArmError as exc:
                vault.fail(ErrorInfo(code=exc.code, message=exc.message))
            except Exception as exc:  # the per-vault boundary: any error is this vault's outcome
                _log.exception("vault_crashed")
                vault.fail(ErrorInfo(code="internal_error", message=f"{type(exc).__name__}: {exc}"))
            vault.end_listing()
            if vault.status is VaultStatus.ERROR and vault.error is not None:
                _log.warning("vault_failed", code=vault.error.code, message=vault.error.message)
            self._progress.vault_listed(vault)
            if not self._options.apply and self._options.preflight:
                await self._preflight_plan(vault)
            self._maybe_verify(vault)

    def _lister(self, vault: VaultWork) -> VaultLister:
        lister = self._listers.get(id(vault))
        if lister is None:
            lister = VaultLister(
                self._client,
                vault.vault_id,
                vault.target.vault.subscription_id,
                max_pages=self._options.max_pages,
                reserve=self._options.listing_reserve,
            )
            self._listers[id(vault)] = lister
        return lister

    async def _read_mappings(self, vault: VaultWork) -> None:
        lister = self._lister(vault)
        changes = 0
        async for page in lister.mappings():
            vault.listed_via = lister.via
            for raw in page:
                work = self._decide(vault, raw)
                if work is not None and work.stage is Stage.QUEUED:
                    changes += 1
                    self._progress.queued()
                    self._patches.put_nowait(work)  # PATCHed while the rest is still listed
        vault.listed_via = lister.via
        would = sum(m.result is MappingResult.WOULD_CHANGE for m in vault.mappings)
        _log.info(
            "vault_listed", mappings=len(vault.mappings), to_change=changes or would, via=lister.via
        )

    def _decide(self, vault: VaultWork, raw: object) -> MappingWork | None:
        snapshot = parse_mapping(raw)
        if not _belongs_to(snapshot.id, vault.vault_id):
            raise ArmResponseError(f"listed mapping {snapshot.id!r} is not under the vault")
        if vault.has_mapping(snapshot.id) or not vault.target.selects(snapshot.id):
            return None  # repeated by a page, or not among this run's (--retry, --restore)
        work = MappingWork.listed(snapshot, vault)
        vault.add(work)
        if not self._takeover.adopt(work, snapshot):
            self._apply_decision(work, snapshot)
        return work

    def _apply_decision(self, work: MappingWork, snapshot: MappingSnapshot) -> None:
        assert work.vault is not None
        decision = decide(snapshot, work.vault.target.desired_for(snapshot.id))
        if isinstance(decision, Skip):
            work.finish(MappingResult.SKIPPED, skip_reason=decision.reason)
        elif isinstance(decision, Refuse):
            error = ErrorInfo(code=decision.code, message=decision.message)
            work.finish(MappingResult.FAILED, error=error)
        elif self._options.apply:
            assert isinstance(decision, Change)
            work.queue(decision.body, decision.desired)
        else:
            assert isinstance(decision, Change)
            work.desired = decision.desired
            work.finish(MappingResult.WOULD_CHANGE)

    async def _preflight_plan(self, vault: VaultWork) -> None:
        """plan: a would-change mapping whose account would be refused is shown failed."""
        for work in vault.mappings:
            refusal = await self._refusal(work)
            if refusal is not None and work.result is MappingResult.WOULD_CHANGE:
                work.finish(MappingResult.FAILED, error=refusal)

    async def _refusal(self, work: MappingWork) -> ErrorInfo | None:
        if not self._options.preflight:
            return None
        return await self._checks.refusal_of(work.desired)

    # --- sending changes ----------------------------------------------------------------

    async def _patch_worker(self) -> None:
        # This task's own context carries the vault of the mapping it works on: bound when the
        # vault changes, never reset (nothing else runs in this context).
        bound: tuple[str, str] | None = None
        while (work := await self._patches.get()) is not None:
            if self._stopping.is_set():
                self._progress.unqueued()
                continue  # left QUEUED: reported not_started
            if bound != (work.vault_name, work.subscription_id):
                bound = (work.vault_name, work.subscription_id)
                structlog.contextvars.bind_contextvars(**work.log_context)
            await self._change(work)

    async def _change(self, work: MappingWork) -> None:
        """Send one change; the caller has bound its vault's log context."""
        try:
            refusal = await self._refusal(work)
            if refusal is not None:
                work.finish(MappingResult.FAILED, error=refusal)
                self._change_ended(work)
                return
            # The cap is checked and counted with no await between: the other patch workers
            # must see this change counted before they check it (the preflight read awaits).
            if self._over_cap(work):
                return
            self._sent += 1
            unsettled = await self._sender.send(work)
            if unsettled is not None:
                self._spawn(self._settle(work, unsettled))
        except Exception as exc:  # the per-mapping boundary
            _log.exception("mapping_crashed")
            error = ErrorInfo(code="internal_error", message=f"{type(exc).__name__}: {exc}")
            work.finish(MappingResult.FAILED, error=error)
            self._change_ended(work)
        if work.stage is not Stage.QUEUED:
            self._progress.patch_done(work)
        if work.stage is Stage.RUNNING:
            self._progress.tracking(work.id)

    def _over_cap(self, work: MappingWork) -> bool:
        cap = self._options.max_changes
        if cap is None or self._sent < cap:
            return False
        work.finish(
            MappingResult.NOT_STARTED,
            error=ErrorInfo(
                code="max_changes_reached",
                message=f"not sent: --max-changes {cap} PATCHes were sent already",
            ),
        )
        if not self._capped:
            self._capped = True
            self._notice(
                Notice(
                    code="max_changes_reached",
                    message=f"--max-changes {cap}: further changes were left not_started",
                )
            )
        self._progress.unqueued()
        self._change_ended(work)
        return True

    async def _settle(self, work: MappingWork, unsettled: Unsettled) -> None:
        with structlog.contextvars.bound_contextvars(**work.log_context):
            await self._sender.settle(work, unsettled)
            if work.stage is Stage.RUNNING:
                self._progress.tracking(work.id)

    def _operation_read(self, work: MappingWork, _: TrackedOperation, verdict: PollVerdict) -> None:
        work.read(verdict.status)

    def _operation_done(self, work: MappingWork, _: TrackedOperation, verdict: PollVerdict) -> None:
        self._conclude(work, verdict)

    def _change_ended(self, work: MappingWork) -> None:
        self._changed.set()
        if work.vault is not None:
            self._maybe_verify(work.vault)

    def _maybe_verify(self, vault: VaultWork) -> None:
        if (
            self._options.apply
            and self._options.verify
            and vault.listed
            and not vault.verified
            and vault.status is VaultStatus.OK
            and any(m.desired is not None for m in vault.mappings)
            and not vault.changes_open()
        ):
            vault.verified = True  # once: a second trigger must not list it twice
            self._spawn(self._verify(vault))

    async def _verify(self, vault: VaultWork) -> None:
        context = {
            "vault": vault.target.vault.name,
            "subscription_id": vault.target.vault.subscription_id,
        }
        with structlog.contextvars.bound_contextvars(**context):
            await verify_vault(vault, self._lister(vault))

    # --- operations taken over from an earlier run (see takeover.py) -------------------

    def _conclude(self, work: MappingWork, verdict: PollVerdict) -> None:
        """An operation of ``work`` ended (this run's or an adopted one): its result."""
        error = ErrorInfo.from_error(verdict.error) if verdict.error else None
        ok = verdict.verdict is Verdict.SUCCEEDED
        result = MappingResult.SUCCEEDED if ok else MappingResult.FAILED
        work.finish(result, status=verdict.status, error=error)
        if self._journal is not None:
            self._journal.ended(work.id, verdict.status)
        log = _log.info if ok else _log.warning
        log(
            "operation_finished",
            mapping=work.name,
            status=verdict.status,
            polls=work.polls,
            code=error.code if error else None,
            message=error.message if error else None,
        )
        self._progress.operation_done(work.id, work.result)
        self._change_ended(work)

    def _redecide(self, work: MappingWork, snapshot: MappingSnapshot) -> None:
        """A resumed operation whose URL is gone: decide its mapping from its listing."""
        work.stage = Stage.LISTED
        work.operation_url = work.status = None
        work.started_at = None
        self._apply_decision(work, snapshot)
        if work.stage is Stage.QUEUED:
            self._progress.queued()
            self._spawn(self._change_now(work))
        else:
            self._change_ended(work)

    async def _change_now(self, work: MappingWork) -> None:
        with structlog.contextvars.bound_contextvars(**work.log_context):
            if not self._stopping.is_set():
                await self._change(work)


def _belongs_to(mapping_id: str, vault_id: str) -> bool:
    prefix = vault_id.lower().rstrip("/") + "/"
    candidate = mapping_id.lower()
    return (
        candidate.startswith(prefix)
        and "/../" not in candidate
        and "?" not in candidate
        and "#" not in candidate
    )
