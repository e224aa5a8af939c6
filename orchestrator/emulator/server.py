"""Run the emulator on a loopback port: `EmulatorServer`, an async context manager."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Self

from aiohttp import web

from orchestrator.emulator.app import build_app
from orchestrator.emulator.clock import Clock
from orchestrator.emulator.fleet import Fleet
from orchestrator.emulator.fleet_spec import FleetSpec
from orchestrator.emulator.journal import DEFAULT_JOURNAL_SIZE
from orchestrator.emulator.state import DEFAULT_IDENTITY_HEADER, EmulatorState

DEFAULT_HOST = "127.0.0.1"
TOKEN_PATH = "/msi/token"


class EmulatorServer:
    """The emulator serving one fleet spec on ``host:port`` (port 0: a free one).

    ``identity_header`` is the ``X-IDENTITY-HEADER`` value the token endpoint expects (default:
    env ``IDENTITY_HEADER``, else ``emulator``). ``clock`` is handed to `EmulatorState`.
    `base_url` and `token_endpoint` are known once `start` returned.
    """

    def __init__(
        self,
        spec: FleetSpec,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        identity_header: str | None = None,
        clock: Clock | None = None,
        fleet: Fleet | None = None,
        journal_size: int = DEFAULT_JOURNAL_SIZE,
    ) -> None:
        self.host = host
        self.port = port
        self.identity_header = (
            identity_header
            if identity_header is not None
            else os.environ.get("IDENTITY_HEADER") or DEFAULT_IDENTITY_HEADER
        )
        self.state = EmulatorState(
            spec,
            fleet=fleet,
            clock=clock,
            identity_header=self.identity_header,
            journal_size=journal_size,
        )
        self._runner: web.AppRunner | None = None  # set while serving

    def __repr__(self) -> str:
        where = self.base_url if self._runner is not None else "not started"
        return f"EmulatorServer({where}, {self.state!r})"

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._runner is None:
            raise RuntimeError("the emulator is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def token_endpoint(self) -> str:
        """The URL to set as ``IDENTITY_ENDPOINT``."""
        return self.base_url + TOKEN_PATH

    async def start(self) -> None:
        """Bind and serve; afterwards `port` is the bound port."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        runner = web.AppRunner(build_app(self.state), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def stop(self) -> None:
        """Stop serving and close every connection. Safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
