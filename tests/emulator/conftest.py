"""Fixtures that run the ASR emulator on a loopback port, built only on its public API.

- ``emulator_clock``: the `ManualClock` every emulator started here runs on.
- ``start_emulator(spec, **kwargs)``: start an `EmulatorServer` (stopped at teardown).
- ``emulator``: a running server for ``emulator_spec`` (a small fleet; override the fixture).
- ``arm``: an `ArmSession` on ``emulator``: real HTTP with a token from its MSI endpoint;
  ``arm_for(server)`` makes one for another server.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from orchestrator.emulator import EmulatorServer, FleetSpec, ManualClock

EMULATOR_IDENTITY_HEADER = "identity-header-for-tests"
ARM_AUDIENCE = "https://management.core.windows.net/"
ASR_API_VERSION = "2021-12-01"

StartEmulator = Callable[..., Awaitable[EmulatorServer]]


@dataclass(frozen=True)
class ArmAnswer:
    """One HTTP answer: status, headers and the JSON body (None when empty)."""

    status: int
    headers: Mapping[str, str]
    body: Any


class ArmSession:
    """Minimal ARM client for tests: absolute or base-relative URLs, bearer token, JSON."""

    def __init__(self, session: aiohttp.ClientSession, server: EmulatorServer) -> None:
        self.session = session
        self.server = server
        self._token: str | None = None

    async def token(self, resource: str = ARM_AUDIENCE, **params: str) -> ArmAnswer:
        """Ask the emulator's managed-identity endpoint for a token."""
        query = {"api-version": "2019-08-01", "resource": resource, **params}
        headers = {"X-IDENTITY-HEADER": self.server.identity_header}
        return await self.request(
            "GET", self.server.token_endpoint, params=query, headers=headers, auth=False
        )

    async def bearer(self) -> str:
        """A valid token (fetched once)."""
        if self._token is None:
            answer = await self.token()
            assert answer.status == 200, answer.body
            self._token = answer.body["access_token"]
        return self._token

    def url(self, path_or_url: str) -> str:
        return path_or_url if path_or_url.startswith("http") else self.server.base_url + path_or_url

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        auth: bool = True,
    ) -> ArmAnswer:
        sent = dict(headers or {})
        if auth and "Authorization" not in sent:
            sent["Authorization"] = f"Bearer {await self.bearer()}"
        payload = io.BytesIO(data) if data is not None else None  # big raw bytes would warn
        async with self.session.request(
            method, self.url(path_or_url), params=params, headers=sent, data=payload
        ) as response:
            raw = await response.read()
            body = await response.json(content_type=None) if raw else None
            return ArmAnswer(response.status, dict(response.headers), body)

    async def get(
        self, path_or_url: str, api_version: str | None = ASR_API_VERSION, **kwargs: Any
    ) -> ArmAnswer:
        """GET; adds ``api-version`` unless the URL has one or ``api_version`` is None."""
        params = dict(kwargs.pop("params", None) or {})
        if api_version is not None and "api-version=" not in path_or_url:
            params["api-version"] = api_version
        return await self.request("GET", path_or_url, params=params, **kwargs)

    async def patch(self, mapping_id: str, body: object, **kwargs: Any) -> ArmAnswer:
        """PATCH a mapping with a JSON body (or raw bytes) and ``Content-Type: application/json``."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        params = {"api-version": ASR_API_VERSION, **kwargs.pop("params", {})}
        return await self.request(
            "PATCH", mapping_id, params=params, headers=headers, data=data, **kwargs
        )

    async def list_all(self, path: str, api_version: str = ASR_API_VERSION) -> list[dict[str, Any]]:
        """Every item of a paged list, following nextLink."""
        items: list[dict[str, Any]] = []
        answer = await self.get(path, api_version)
        while True:
            assert answer.status == 200, answer.body
            items.extend(answer.body["value"])
            link = answer.body.get("nextLink")
            if not link:
                return items
            answer = await self.get(link)


@pytest.fixture
def emulator_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator_spec() -> FleetSpec:
    return FleetSpec(
        seed=7,
        subscriptions=2,
        vaults_per_subscription=3,
        mappings_per_vault=(2, 5),
        page_size=2,
        operation_seconds=(10.0, 20.0),
        operation_failure_rate=0.0,
        retry_after_seconds=5,
    )


@pytest.fixture
async def start_emulator(emulator_clock: ManualClock) -> AsyncIterator[StartEmulator]:
    servers: list[EmulatorServer] = []

    async def start(spec: FleetSpec, **kwargs: Any) -> EmulatorServer:
        kwargs.setdefault("clock", emulator_clock)
        kwargs.setdefault("identity_header", EMULATOR_IDENTITY_HEADER)
        server = EmulatorServer(spec, **kwargs)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def emulator(start_emulator: StartEmulator, emulator_spec: FleetSpec) -> EmulatorServer:
    return await start_emulator(emulator_spec)


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def arm(http_session: aiohttp.ClientSession, emulator: EmulatorServer) -> ArmSession:
    return ArmSession(http_session, emulator)


@pytest.fixture
def arm_for(http_session: aiohttp.ClientSession) -> Callable[[EmulatorServer], ArmSession]:
    return lambda server: ArmSession(http_session, server)
