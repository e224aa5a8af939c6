"""One `plan`, `apply` or `audit` run, from a validated config to a written report.

Order of business: the journal (apply; a journal that cannot be written is a config error,
before anything is sent) and the lock (apply only: plan and audit change nothing); then, under
the run's deadline, the embedded emulator if configured, the credential (a token first, so a
run that cannot authenticate changes nothing; authentication counts against the deadline),
discovery, the engine; then the report — written whatever ended the run, before the lock is
let go — the metrics file, and the journal compacted. SIGINT and SIGTERM stop new PATCHes at
once, give in-flight requests a short grace, then stop the rest.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import (
    AbstractAsyncContextManager,
    AsyncExitStack,
    ExitStack,
    contextmanager,
    nullcontext,
)
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

import structlog

from orchestrator.app.lock import RunLock
from orchestrator.app.outputs import Outputs, write_outputs
from orchestrator.app.selection import Narrowing, Selection, select
from orchestrator.app.verdict import RunEnd, Stop
from orchestrator.arm.client import ArmClient
from orchestrator.arm.credentials import CredentialKind, TokenProvider, build_credential
from orchestrator.arm.proxy import proxy_for
from orchestrator.arm.registry import LimiterRegistry
from orchestrator.arm.retry import RetryPolicy
from orchestrator.arm.transport import AiohttpTransport, Transport
from orchestrator.asr.targets import merge_targets
from orchestrator.config import Config, LoadedConfig
from orchestrator.errors import AuthenticationError, ConfigError
from orchestrator.output.assemble import RunReport
from orchestrator.output.report import Calls, Command, ConfigIdentity
from orchestrator.secrets import Secrets
from orchestrator.work.discovery import discover
from orchestrator.work.engine import Engine, EngineOptions
from orchestrator.work.journal import Journal, default_path
from orchestrator.work.outcomes import Notice
from orchestrator.work.poller import Poller
from orchestrator.work.progress import Phase, Progress
from orchestrator.work.records import Ending, VaultWork
from orchestrator.work.resume import ResumePoint, merge_points

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

INTERRUPT_GRACE_SECONDS: Final = 3.0

_log = structlog.get_logger("orchestrator.runner")

# Shows a run's progress while the block it wraps runs (the CLI's live display on a terminal).
Watch = Callable[[Progress], AbstractAsyncContextManager[object]]


@dataclass(frozen=True)
class RunRequest:
    """What the command line asks of one run."""

    loaded: LoadedConfig
    command: Command
    narrowing: Narrowing = field(default_factory=Narrowing)
    max_changes: int | None = None
    resume: tuple[ResumePoint, ...] = ()
    outputs: Outputs = field(default_factory=Outputs)


@dataclass
class RunEnvironment:
    """What the world gives a run; tests inject their own parts (no monkeypatching).

    ``transport``/``credential``: build the ARM transport and the credential for a config
    (default: aiohttp and azure-identity). ``environ``: where the embedded emulator's
    managed-identity settings go while the credential is built (restored afterwards).
    """

    secrets: Secrets
    stdout: TextIO
    environ: MutableMapping[str, str]
    watch: Watch | None = None
    transport: Callable[[Config], Transport] | None = None
    credential: Callable[[Config], AsyncTokenCredential] | None = None
    retry_policy: RetryPolicy | None = None


@dataclass(slots=True)
class RunState:
    """A run in progress: what it met, its vaults' records, its progress."""

    request: RunRequest
    end: RunEnd
    selection: Selection
    vaults: list[VaultWork] = field(default_factory=list)
    progress: Progress = field(default_factory=Progress)
    engine: Engine | None = None
    journal: Journal | None = None


async def execute(request: RunRequest, env: RunEnvironment) -> RunReport:
    """Run and write the report; returns it (its head, and the records for a summary).

    Raises ConfigError (exit 2) for what can only be found now (the journal, the lock's
    directory) — before anything is sent — and LockHeldError (exit 5).
    """
    config, loaded = request.loaded.config, request.loaded
    identity = ConfigIdentity(path=str(loaded.path), sha256=loaded.sha256)
    end = RunEnd(request.command, config.action, identity, uuid.uuid4().hex)
    for code, message in loaded.warnings:
        _log.warning("config_warning", code=code, detail=message)
        end.notice(Notice(code=code, message=message))
    state = RunState(request, end, select(config, request.narrowing, str(loaded.path)))
    structlog.contextvars.bind_contextvars(run_id=end.run_id)
    _log.info(
        "run_started",
        command=str(request.command),
        config=str(loaded.path),
        action=str(config.action),
    )
    apply = request.command is Command.APPLY
    with ExitStack() as held:
        if apply:
            state.journal = held.enter_context(_journal(loaded, env.environ))
        if apply and config.lock_file:
            held.enter_context(RunLock(config.lock_file))
        async with env.watch(state.progress) if env.watch is not None else nullcontext():
            await _run_interruptibly(state, env)
            state.progress.begin(Phase.FINISHED if end.ending is None else Phase.STOPPED)
        report = write_outputs(state.request.outputs, end, state.vaults, env.secrets, env.stdout)
        if state.journal is not None:
            _compact(state)
    return report


@contextmanager
def _journal(loaded: LoadedConfig, environ: MutableMapping[str, str]) -> Iterator[Journal | None]:
    setting = loaded.config.state_file
    if setting is None:
        yield None
        return
    path = default_path(loaded.path, environ) if setting == "default" else _as_path(setting)
    try:
        journal = Journal.open(path)
    except OSError as exc:
        raise ConfigError(
            str(loaded.path),
            "state_file",
            f"cannot write the journal {path}: {exc.strerror or exc}",
        ) from exc
    try:
        yield journal
    finally:
        journal.close()


def _as_path(text: str) -> Path:
    return Path(text).expanduser()


def _compact(state: RunState) -> None:
    """Keep every journalled operation that has no ``ended`` line: timed out, interrupted,
    taken over from a run before and not ended, or accepted by ASR while its mapping failed
    here (its record's sync failed): any of them may still run, so the next run reads it
    rather than PATCH its mapping."""
    assert state.journal is not None
    try:
        state.journal.compact(state.journal.unended())
    except OSError as exc:
        _log.error("journal_not_compacted", path=str(state.journal.path), error=str(exc))


async def _run_interruptibly(state: RunState, env: RunEnvironment) -> None:
    loop = asyncio.get_running_loop()
    work = asyncio.create_task(_run(state, env))

    def on_signal(signum: signal.Signals) -> None:
        if state.end.ending is Ending.INTERRUPT:
            work.cancel()  # a second signal: stop now
            return
        _log.warning("interrupted", signal=signum.name, grace_s=INTERRUPT_GRACE_SECONDS)
        state.end.ending = Ending.INTERRUPT
        state.end.signal = signum.name
        state.progress.begin(Phase.STOPPING)
        if state.engine is not None:
            state.engine.stop_patching()
        loop.call_later(INTERRUPT_GRACE_SECONDS, work.cancel)

    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await work
    except asyncio.CancelledError:
        if state.end.ending is not Ending.INTERRUPT:
            raise
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
    for vault in state.vaults:
        vault.settle(state.end.ending or Ending.DEADLINE)


async def _run(state: RunState, env: RunEnvironment) -> None:
    config = state.request.loaded.config
    loop = asyncio.get_running_loop()
    deadline = loop.time() + config.timeout_minutes * 60.0
    try:
        async with asyncio.timeout_at(deadline), AsyncExitStack() as stack:
            client = await _connect(state, env, stack)
            if client is None:
                return
            try:
                await _work(state, client, deadline)
            finally:
                counters = client.counters
                state.end.calls = Calls(
                    get=counters.get,
                    set=counters.set,
                    throttled=counters.throttled,
                    retried=counters.retried,
                )
    except TimeoutError:
        _log.warning("deadline_passed", timeout_minutes=config.timeout_minutes)
        if state.end.ending is None:
            state.end.ending = Ending.DEADLINE
        if (
            state.progress.phase in (Phase.STARTING, Phase.AUTHENTICATING)
            and state.end.stop is None
        ):
            state.end.stop = Stop.UNAUTHENTICATED
            state.end.stop_detail = "authentication did not finish before the run's deadline"


async def _connect(state: RunState, env: RunEnvironment, stack: AsyncExitStack) -> ArmClient | None:
    """The run's ARM client, authenticated; None when no token could be had (exit 4)."""
    config = state.request.loaded.config
    endpoint = config.endpoint
    overrides: dict[str, str] = {}
    if config.emulator is not None:
        endpoint, overrides = await _start_emulator(stack, config)
    state.progress.begin(Phase.AUTHENTICATING)
    try:
        with _environment(env.environ, overrides):
            credential = _credential(config, env, emulated=config.emulator is not None)
        tokens = TokenProvider(
            credential,
            config.token_scope,
            credential_name=str(config.credential),
            secrets=env.secrets,
        )
        stack.push_async_callback(tokens.close)
        await tokens.token()
    except AuthenticationError as exc:
        state.end.stop = Stop.UNAUTHENTICATED
        state.end.stop_detail = f"credential {exc.credential}: {exc.detail}"
        _log.error("authentication_failed", credential=exc.credential, detail=exc.detail)
        return None
    transport = env.transport(config) if env.transport is not None else _transport(endpoint, env)
    stack.push_async_callback(transport.close)
    limiters = LimiterRegistry(
        set_limit=config.limits.set, get_limit=config.limits.get, scope=config.limits.scope
    )
    state.progress.watch_limits(limiters)
    return ArmClient(
        transport,
        tokens,
        limiters,
        endpoint=endpoint,
        api_version=config.api_version,
        policy=env.retry_policy,
        request_timeout=config.request_timeout_seconds,
    )


def _transport(endpoint: str, env: RunEnvironment) -> Transport:
    """aiohttp, through the proxy the environment names for the endpoint (read once per run)."""
    choice = proxy_for(endpoint, env.environ)
    if choice.ignored is not None:
        _log.warning("proxy_ignored", proxy=choice.ignored, reason="https:// proxies unsupported")
    if choice.route is not None:
        env.secrets.add_url_credentials(choice.route.url)  # ~/.netrc's too, not only $*_PROXY's
        _log.debug("arm_proxy", proxy=choice.route.display)
    return AiohttpTransport(proxy=choice.route)


def _credential(config: Config, env: RunEnvironment, *, emulated: bool) -> AsyncTokenCredential:
    if env.credential is not None:
        return env.credential(config)
    kind = CredentialKind.MANAGED_IDENTITY if emulated else config.credential
    return build_credential(
        kind,
        authority_host=config.authority_host,
        managed_identity_client_id=config.managed_identity_client_id,
    )


@contextmanager
def _environment(environ: MutableMapping[str, str], overrides: dict[str, str]) -> Iterator[None]:
    """``overrides`` in ``environ`` while the block runs; the old values back afterwards."""
    saved = {name: environ.get(name) for name in overrides}
    environ.update(overrides)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value


async def _start_emulator(stack: AsyncExitStack, config: Config) -> tuple[str, dict[str, str]]:
    """Start the built-in emulator in-process; the run's managed identity then points at it."""
    from orchestrator.emulator import EmulatorServer  # only runs with an `emulator:` block load it

    assert config.emulator is not None
    server = await stack.enter_async_context(EmulatorServer(config.emulator))
    _log.info("emulator_started", base_url=server.base_url)
    env = {"IDENTITY_ENDPOINT": server.token_endpoint, "IDENTITY_HEADER": server.identity_header}
    return server.base_url, env


async def _work(state: RunState, client: ArmClient, deadline: float) -> None:
    request, end = state.request, state.end
    config = request.loaded.config
    selection = state.selection
    targets = list(selection.explicit)
    if selection.discover is not None:
        state.progress.begin(Phase.DISCOVERING)
        found = await discover(client, selection.discover, end.notice)
        end.subscriptions = found.subscriptions
        discovered = [vault for vault in found.vaults if selection.admits(vault)]
        targets = merge_targets(
            targets, discovered, lambda vault: selection.target_of(config, vault)
        )
    state.vaults = [VaultWork(target) for target in targets]
    state.progress.vaults_total = len(state.vaults)
    if not state.vaults:
        end.stop = Stop.NO_TARGETS
        end.stop_detail = "the config's targets resolved to no vault at all"
        _log.warning("no_targets")
        return
    state.progress.begin(Phase.RUNNING)
    state.engine = _engine(state, client, deadline)
    if end.ending is Ending.INTERRUPT:
        state.engine.stop_patching()
    await state.engine.run(state.vaults)


def _engine(state: RunState, client: ArmClient, deadline: float) -> Engine:
    request = state.request
    config = request.loaded.config
    apply = request.command is Command.APPLY
    resume = list(request.resume)
    if state.journal is not None:
        resume = merge_points(resume, state.journal.pending())
    registry = client.limiters
    poller = Poller(client, deadline=deadline, spare=registry.spare)
    options = EngineOptions(
        apply=apply,
        verify=config.verify,
        preflight=config.preflight and request.command in (Command.APPLY, Command.PLAN),
        audit=request.command is Command.AUDIT,
        max_changes=request.max_changes,
        max_pages=config.max_pages_per_vault,
        listing_reserve=registry.listing_reserve,
        expiry_warning_days=config.audit.expiry_warning_days,
    )
    return Engine(
        client,
        poller,
        options,
        state.progress,
        notice=state.end.notice,
        resume=resume if apply else (),
        journal=state.journal,
    )
