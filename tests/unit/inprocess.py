"""The whole run in process, on virtual time, against the emulator without sockets.

`run_inprocess` loads a real config file, builds the run the CLI would build, and executes it
on a `VirtualClockLoop`: the ARM transport calls the emulator's transport-neutral ``serve``
directly and the credential asks the emulator's managed-identity endpoint the same way, so an
operation of two minutes or a deadline of an hour costs no real time. Everything between the
transport and the report is the product's own code. The real process, sockets, azure-identity
and signals are the integration tier's business.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, Unpack
from urllib.parse import quote

import yaml
from azure.core.credentials import AccessToken
from credential_stub import CredentialStub
from multidict import CIMultiDict, CIMultiDictProxy
from structlog.testing import capture_logs
from virtual_clock import run_virtual

from orchestrator.app.commands import RunArgs, Terminal, run
from orchestrator.app.outputs import STDOUT
from orchestrator.arm.transport import RawAnswer
from orchestrator.emulator import EmulatorState, FleetSpec, InboundRequest, serve
from orchestrator.errors import ArmResponseError, ArmTransportError
from orchestrator.output.report import Command
from orchestrator.secrets import Secrets

BASE = "http://127.0.0.1:4"  # what the run believes the endpoint is; no socket is opened
IDENTITY_HEADER = "inprocess-identity-header-value"
CAP = 8 * 1024 * 1024


class EmulatorTransport:
    """The product's `Transport`, answered by the emulator in the same loop, no socket."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.sent: list[tuple[str, str]] = []

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        time_limit: float,
    ) -> RawAnswer:
        self.sent.append((method, url))
        try:
            async with asyncio.timeout(time_limit):
                answer = await serve(
                    self.state, InboundRequest(method, url, dict(headers), body or b"")
                )
        except TimeoutError as exc:
            raise ArmTransportError(f"{method}: no whole answer within {time_limit} s") from exc
        if answer.dropped:
            raise ArmTransportError(f"{method}: the server closed the connection")
        if len(answer.body) > CAP:
            raise ArmResponseError(f"{method}: answer larger than {CAP} bytes")
        return RawAnswer(answer.status, CIMultiDictProxy(CIMultiDict(answer.headers)), answer.body)

    async def close(self) -> None:
        return None


class EmulatorCredential(CredentialStub):
    """An AsyncTokenCredential asking the emulator's managed-identity endpoint, in process."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.requests = 0

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        from azure.core.exceptions import ClientAuthenticationError

        self.requests += 1
        resource = scopes[0].removesuffix("/.default")
        url = f"{BASE}/msi/token?api-version=2019-08-01&resource={quote(resource, safe='')}"
        answer = await serve(
            self.state, InboundRequest("GET", url, {"X-IDENTITY-HEADER": IDENTITY_HEADER})
        )
        if answer.status != 200:
            raise ClientAuthenticationError(f"token request answered {answer.status}")
        body = answer.json()
        return AccessToken(body["access_token"], int(body["expires_on"]))


@dataclass
class InProcessRun:
    """What one in-process run left: its exit code, report, stdout, and the emulator."""

    exit_code: int
    report: dict[str, Any] | None
    stdout: str
    state: EmulatorState
    transport: EmulatorTransport
    directory: Path
    virtual_seconds: float = 0.0
    events: list[MutableMapping[str, Any]] = field(default_factory=list)  # the run's log events

    def results(self) -> dict[str, str]:
        assert self.report is not None
        return {m["id"].lower(): m["result"] for v in self.report["vaults"] for m in v["mappings"]}

    def mappings(self) -> list[dict[str, Any]]:
        assert self.report is not None
        return [m for v in self.report["vaults"] for m in v["mappings"]]


class RunOptions(TypedDict, total=False):
    """The `RunArgs` fields a run may set beside its command and config."""

    report: str | None
    metrics_file: str | None
    vaults: tuple[str, ...]
    subscriptions: tuple[str, ...]
    max_changes: int | None
    resume: str | None
    retry: str | None
    restore: str | None


@dataclass
class Rig:
    """An emulator state and a directory for runs against it (several runs may share both)."""

    directory: Path
    spec: Mapping[str, Any]
    state: EmulatorState = field(init=False)

    def __post_init__(self) -> None:
        self.state = EmulatorState(
            FleetSpec.model_validate(self.spec), identity_header=IDENTITY_HEADER
        )

    @property
    def account(self) -> str:
        return self.state.fleet.automation_account

    def write_config(self, name: str = "config.yaml", **keys: Any) -> Path:
        config: dict[str, Any] = {
            "action": "enable",
            "arm_endpoint": BASE,
            "automation_account": self.account,
            "credential": "managed_identity",
            "timeout_minutes": 30,
            "state_file": str(self.directory / "journal.jsonl"),
        }
        config.update(keys)
        path = self.directory / name
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def run(
        self,
        command: str = "apply",
        config: Path | None = None,
        *,
        before: Callable[[EmulatorState], None] | None = None,
        transport: Callable[[EmulatorState], EmulatorTransport] | None = None,
        **args: Unpack[RunOptions],
    ) -> InProcessRun:
        """Run ``command`` on virtual time; ``args`` are `RunArgs` fields (vaults=, retry=…)."""
        path = config or self.write_config()
        report_path = self.directory / "report.json"
        report_path.unlink(missing_ok=True)
        out = io.StringIO()
        transport_ = (transport or EmulatorTransport)(self.state)
        options: RunOptions = {"report": str(report_path), **args}
        run_args = RunArgs(command=Command(command), config=str(path), **options)
        terminal = Terminal(stdout=out, stdout_is_tty=False, show=None)

        async def main() -> tuple[int, float]:
            loop = asyncio.get_running_loop()
            started = loop.time()
            if before is not None:
                before(self.state)
            code = await _run(run_args, terminal, transport_, self.state)
            return code, loop.time() - started

        with capture_logs() as events:
            code, seconds = run_virtual(main())
        report = _read(report_path, run_args.report, out.getvalue())
        return InProcessRun(
            code, report, out.getvalue(), self.state, transport_, self.directory, seconds, events
        )


async def _run(
    args: RunArgs, terminal: Terminal, transport: EmulatorTransport, state: EmulatorState
) -> int:
    from orchestrator.app import commands

    return await commands.run_async(
        args,
        Secrets(),
        terminal,
        transport=lambda _: transport,
        credential=lambda _: EmulatorCredential(state),
        environ={},
    )


def _read(path: Path, destination: str | None, stdout: str) -> dict[str, Any] | None:
    if destination == STDOUT:
        return json.loads(stdout) if stdout.strip().startswith("{") else None
    return json.loads(path.read_text()) if path.exists() else None


__all__ = ["BASE", "EmulatorCredential", "EmulatorTransport", "InProcessRun", "Rig", "run"]
