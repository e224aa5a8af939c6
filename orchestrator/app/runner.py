"""One `plan` or `apply` run, from a validated config to a written report and an exit code.

Order of business: the lock, the embedded emulator if configured, the credential (a token is
fetched before anything else, so a run that cannot authenticate changes nothing), discovery, the
engine under the run's deadline, then the report — written whatever ended the run. SIGINT and
SIGTERM stop new PATCHes at once, give in-flight requests a short grace, then stop the rest.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, ExitStack, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import aiohttp
import structlog

from orchestrator.app.lock import RunLock
from orchestrator.arm.client import ArmClient
from orchestrator.arm.credentials import TokenProvider, build_credential
from orchestrator.arm.limits import LimiterRegistry, LimitSpec
from orchestrator.asr.targets import merge_targets
from orchestrator.config.model import Config, LoadedConfig
from orchestrator.errors import AuthenticationError
from orchestrator.output.report import (
    Calls,
    Command,
    Report,
    RunFlags,
    SubscriptionReport,
    VaultStatus,
    count_totals,
    exit_code_for,
    flags_from_totals,
    outcome_for,
)
from orchestrator.work.discovery import discover
from orchestrator.work.engine import Engine, EngineOptions
from orchestrator.work.poller import Poller
from orchestrator.work.progress import Phase, Progress
from orchestrator.work.records import Ending, RunReport, VaultWork, count_results
from orchestrator.work.resume import ResumePoint, resume_points

INTERRUPT_GRACE_SECONDS: Final = 3.0
CONNECT_TIMEOUT: Final = 30.0
READ_TIMEOUT: Final = 120.0
MAX_CONNECTIONS: Final = 256

_log = structlog.get_logger("orchestrator.app.runner")

# Shows a run's progress while the block it wraps runs (the CLI's live display on a terminal).
Watch = Callable[[Progress], AbstractAsyncContextManager[object]]


@dataclass(slots=True)
class RunState:
    """What one run has gathered so far; the report is made from it however the run ends."""

    command: Command
    config: Config
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_clock: float = field(default_factory=time.monotonic)
    vaults: list[VaultWork] = field(default_factory=list)
    subscriptions: list[SubscriptionReport] | None = None
    calls: Calls = field(default_factory=lambda: Calls(get=0, set=0, throttled=0, retried=0))
    ending: Ending | None = None
    unauthenticated: bool = False
    resume: list[ResumePoint] = field(default_factory=list)
    progress: Progress = field(default_factory=Progress)


async def execute(
    loaded: LoadedConfig,
    command: Command,
    *,
    resume: Report | None = None,
    watch: Watch | None = None,
) -> RunReport:
    """Run ``command`` (plan or apply) for ``loaded``; never raises for what a report can say.

    ``resume``: an earlier report whose running operations are tracked again first.
    ``watch``: shows the run's progress while it works (entered after the lock is taken).
    """
    state = RunState(command=command, config=loaded.config)
    state.resume = resume_points(resume) if resume is not None else []
    structlog.contextvars.bind_contextvars(run_id=state.run_id)
    _log.info(
        "run_started",
        command=str(command),
        config=str(loaded.path),
        action=str(loaded.config.action),
    )
    for warning in loaded.warnings:
        _log.warning("config_warning", detail=warning)
    with ExitStack() as locks:
        if loaded.config.lock_file:
            locks.enter_context(RunLock(loaded.config.lock_file))
        async with watch(state.progress) if watch is not None else nullcontext():
            await _run_interruptibly(state)
            state.progress.begin(Phase.FINISHED if state.ending is None else Phase.STOPPED)
    report = build_report(state)
    head = report.head
    _log.info(
        "run_finished",
        outcome=str(head.outcome),
        exit_code=head.exit_code,
        duration_s=round(head.duration_s, 3),
        **head.totals.model_dump(),
    )
    return report


async def _run_interruptibly(state: RunState) -> None:
    loop = asyncio.get_running_loop()
    engine_ref: list[Engine] = []
    work = asyncio.create_task(_run(state, engine_ref))

    def on_signal(signum: signal.Signals) -> None:
        if state.ending is Ending.INTERRUPT:
            work.cancel()  # a second signal: stop now
            return
        _log.warning("interrupted", signal=signum.name, grace_s=INTERRUPT_GRACE_SECONDS)
        state.ending = Ending.INTERRUPT
        state.progress.begin(Phase.STOPPING)
        for engine in engine_ref:
            engine.stop_patching()
        loop.call_later(INTERRUPT_GRACE_SECONDS, work.cancel)

    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await work
    except asyncio.CancelledError:
        if state.ending is not Ending.INTERRUPT:
            raise
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


async def _run(state: RunState, engine_ref: list[Engine]) -> None:
    config = state.config
    async with AsyncExitStack() as stack:
        endpoint, credential_kind = config.endpoint, str(config.credential)
        if config.emulator is not None:
            endpoint = await _start_emulator(stack, config)
            credential_kind = "managed_identity"
        state.progress.begin(Phase.AUTHENTICATING)
        try:
            credential = build_credential(
                credential_kind,
                authority_host=config.authority_host,
                managed_identity_client_id=config.managed_identity_client_id,
            )
            tokens = TokenProvider(credential, config.token_scope, credential_name=credential_kind)
            stack.push_async_callback(tokens.close)
            await tokens.token()
        except AuthenticationError as exc:
            state.unauthenticated = True
            _log.error("authentication_failed", credential=exc.credential, detail=exc.detail)
            return
        session = await stack.enter_async_context(_session())
        limiters = _limiters(config)
        state.progress.watch_limits(limiters)
        client = ArmClient(
            session, tokens, limiters, endpoint=endpoint, api_version=config.api_version
        )
        try:
            await _run_engine(state, client, engine_ref)
        finally:
            counters = client.counters
            state.calls = Calls(
                get=counters.get,
                set=counters.set,
                throttled=counters.throttled,
                retried=counters.retried,
            )


async def _run_engine(state: RunState, client: ArmClient, engine_ref: list[Engine]) -> None:
    config = state.config
    deadline = state.started_clock + config.timeout_minutes * 60.0
    try:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
            targets = config.vault_targets()
            found = config.subscription_targets()
            if found is not None:
                state.progress.begin(Phase.DISCOVERING)
                discovered, state.subscriptions = await discover(client, found)
                targets = merge_targets(targets, discovered, config.default_desired())
            state.vaults = [VaultWork(target) for target in targets]
            state.progress.vaults_total = len(state.vaults)
            state.progress.begin(Phase.RUNNING)
            engine = Engine(
                client,
                Poller(client),
                EngineOptions(apply=state.command is Command.APPLY),
                state.progress,
                resume=state.resume,
            )
            engine_ref.append(engine)
            if state.ending is Ending.INTERRUPT:
                engine.stop_patching()
            await engine.run(state.vaults)
    except TimeoutError:
        _log.warning("deadline_passed", timeout_minutes=config.timeout_minutes)
        if state.ending is None:
            state.ending = Ending.DEADLINE


def _session() -> aiohttp.ClientSession:
    # No `total` timeout: it would count time queued for a connection, and the limiters queue on purpose.
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT
    )
    session = aiohttp.ClientSession(
        timeout=timeout,
        connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
        raise_for_status=False,
    )
    # aiohttp re-sends a GET once on its own when the server drops the connection: a call that
    # passes no limiter and no counter. The ARM client's retry policy does that job instead.
    session._retry_connection = False
    return session


def _limiters(config: Config) -> LimiterRegistry:
    limits = config.limits
    return LimiterRegistry(
        set_limit=LimitSpec(limits.set.calls, limits.set.per_seconds),
        get_limit=LimitSpec(limits.get.calls, limits.get.per_seconds),
        scope="subscription" if limits.scope == "subscription" else "run",
    )


async def _start_emulator(stack: AsyncExitStack, config: Config) -> str:
    """Start the built-in emulator in-process; the run's managed identity then points at it."""
    from orchestrator.emulator import EmulatorServer  # only runs with an `emulator:` block load it

    assert config.emulator is not None
    server = await stack.enter_async_context(EmulatorServer(config.emulator))
    os.environ["IDENTITY_ENDPOINT"] = server.token_endpoint
    os.environ["IDENTITY_HEADER"] = server.identity_header
    _log.info("emulator_started", base_url=server.base_url)
    return server.base_url


def build_report(state: RunState) -> RunReport:
    """The report for a run however it ended: every mapping settled, totals counted, exit code set.

    The vaults' models are not built here: :class:`RunReport` builds them as it writes them.
    """
    ending = state.ending or Ending.DEADLINE
    for vault in state.vaults:
        vault.settle(ending)
    totals = count_totals(
        count_results(state.vaults),
        vaults=len(state.vaults),
        vaults_failed=sum(vault.status is VaultStatus.ERROR for vault in state.vaults),
    )
    subscription_failed = any(s.status is VaultStatus.ERROR for s in state.subscriptions or [])
    flags = flags_from_totals(totals) | RunFlags(
        unauthenticated=state.unauthenticated,
        interrupted=state.ending is Ending.INTERRUPT,
        timed_out=state.ending is Ending.DEADLINE,
        failed=subscription_failed,
    )
    exit_code = exit_code_for(flags)
    finished = datetime.now(UTC)
    head = Report(
        run_id=state.run_id,
        command=state.command,
        action=state.config.action,
        started_at=state.started_at,
        finished_at=finished,
        duration_s=time.monotonic() - state.started_clock,
        outcome=outcome_for(exit_code),
        exit_code=int(exit_code),
        totals=totals,
        calls=state.calls,
        vaults=[],
        subscriptions=state.subscriptions,
    )
    return RunReport(head, state.vaults)
